package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/delivery"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/store"
)

// hostileRecord is a member's record with a chosen Region, at a fixed time.
func hostileRecord(account, region, id string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","accountId":%q,"userName":"mallory"},`+
		`"eventTime":"2026-11-20T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":%q,`+
		`"eventID":%q,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":%q,"eventCategory":"Management"}`,
		account, region, id, account))
}

// TestHostileRecordDoesNotStopOrganizationTrail is the attack as it was
// reproduced: an organization trail, a member account that ingests a
// record with awsRegion "../../x". Ingest now refuses it, through
// PutEvents and `cairn ingest` alike, and the trail keeps delivering. A
// ledger that took such a record before (written here straight into the
// stopped server's database) no longer stops the trail either: the record
// is quarantined, shown in GetTrailStatus, /metrics and `cairn quarantine
// list`, and the trail delivers around it across restarts.
func TestHostileRecordDoesNotStopOrganizationTrail(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, "--delivery-interval", "1s")
	const mgmt, member = "210000000015", "210000000016"
	km, kmember := n.tenantKey(mgmt, ""), n.tenantKey(member, "")
	cm := newCTCLI(t, n, km)
	n.mustRun("buckets", "create", "org-logs", "--account-id", mgmt)
	var org orgOut
	json.Unmarshal([]byte(n.mustRun("org", "create", mgmt, "--output", "json")), &org)
	n.mustRun("org", "add", org.Organization.Id, member)
	arn := cm.ok("create-trail", "--name", "org", "--s3-bucket-name", "org-logs", "--is-organization-trail", "--is-multi-region-trail")["TrailARN"].(string)
	cm.ok("start-logging", "--name", "org")

	// PutEvents: the bad records are refused one by one, the good one taken.
	good1 := "66660000-0000-4000-8000-000000000001"
	var resp ingest.PutEventsResponse
	err := keyClient(t, n.endpoint, kmember, "us-east-1", "").Call(ctxT(t), ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: []json.RawMessage{
		hostileRecord(member, "../../x", "66660000-0000-4000-8000-0000000000f1"),
		hostileRecord(member, "eu-west-1", good1),
		hostileRecord("../"+member[3:], "eu-west-1", "66660000-0000-4000-8000-0000000000f2"),
		json.RawMessage(strings.Replace(string(hostileRecord(member, "eu-west-1", "66660000-0000-4000-8000-0000000000f3")), "ec2.amazonaws.com", "ec2.amazonaws.com/../..", 1)),
	}}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 1 || len(resp.Failed) != 3 {
		t.Fatalf("PutEvents answered %+v", resp)
	}
	for i, f := range resp.Failed {
		want := []int{0, 2, 3}[i]
		if f.Index != want || f.ErrorCode != awsapi.CodeInvalidRecord || f.ErrorMessage == "" {
			t.Errorf("failure %d: %+v, want index %d InvalidRecord", i, f, want)
		}
	}
	if !strings.Contains(resp.Failed[0].ErrorMessage, `awsRegion "../../x"`) {
		t.Errorf("the message does not name the Region: %q", resp.Failed[0].ErrorMessage)
	}

	// `cairn ingest` reports the refused record and exits non-zero.
	file := filepath.Join(t.TempDir(), "member.json")
	good2 := "66660000-0000-4000-8000-000000000002"
	doc, _ := json.Marshal(map[string]any{"Records": []json.RawMessage{hostileRecord(member, "us-east-2", good2), hostileRecord(member, "../../x", "66660000-0000-4000-8000-0000000000f4")}})
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = n.run("ingest", "--account-id", member, file)
	if err == nil || !regexp.MustCompile(`member\.json: record 2: InvalidRecord: awsRegion "\.\./\.\./x" is not a Region name`).MatchString(err.Error()) {
		t.Fatalf("cairn ingest of a bad record: %v", err)
	}

	logs := objstore.NewFS(filepath.Join(dir, "buckets"))
	memberLogs := "AWSLogs/" + org.Organization.Id + "/" + member + "/CloudTrail/"
	delivered := func(id string) func() bool {
		return func() bool { return contains(eventIDs(readLogs(t, logs, "org-logs", memberLogs)), id) == 1 }
	}
	waitFor(t, 30*time.Second, "the member's good records", func() bool { return delivered(good1)() && delivered(good2)() })
	status := func() map[string]any {
		t.Helper()
		var out map[string]any
		if err := keyClient(t, n.endpoint, km, "us-east-1", "").Call(ctxT(t), "CloudTrail_20131101", "GetTrailStatus", map[string]string{"Name": arn}, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if s := status(); s["QuarantinedRecordCount"] != 0.0 || s["LatestDeliveryError"] != nil {
		t.Fatalf("status after refused records: %v", s)
	}

	// An old ledger: the record got in before ingest checked it.
	n.stop()
	bad := "66660000-0000-4000-8000-0000000000ff"
	appendUnchecked(t, dir, member, "../../x", bad)
	n = startNode(t, dir, "--delivery-interval", "1s")
	good3 := "66660000-0000-4000-8000-000000000003"
	putRecords(t, keyClient(t, n.endpoint, kmember, "us-east-1", ""), hostileRecord(member, "ap-south-1", good3))
	waitFor(t, 30*time.Second, "a record after the hostile one", delivered(good3))
	s := status()
	if s["QuarantinedRecordCount"] != 1.0 || s["LatestDeliveryError"] != nil {
		t.Fatalf("status with a quarantined record: %v", s)
	}
	// The AWS CLI (botocore) reads the answer, ignoring the extra member.
	if out := newCTCLI(t, n, km).ok("get-trail-status", "--name", arn); out["IsLogging"] != true || out["LatestDeliveryError"] != nil {
		t.Fatalf("aws cloudtrail get-trail-status: %v", out)
	}
	var list delivery.ListQuarantinedRecordsResult
	if err := json.Unmarshal([]byte(n.mustRun("quarantine", "list", "--output", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.QuarantinedRecords) != 1 || list.QuarantinedRecords[0].EventID != bad || list.QuarantinedRecords[0].TrailARN != arn ||
		!strings.Contains(list.QuarantinedRecords[0].Record, `"awsRegion":"../../x"`) {
		t.Fatalf("cairn quarantine list: %+v", list)
	}
	if v := n.metricValue("cairn_delivery_quarantined_records_total"); v != "1" {
		t.Errorf("/metrics counts %q quarantined records, want 1", v)
	}
	if contains(eventIDs(readLogs(t, logs, "org-logs", "")), bad) != 0 {
		t.Fatal("the hostile record was delivered")
	}
	for _, f := range readLogs(t, logs, "org-logs", "") {
		if strings.Contains(f.key, "..") {
			t.Fatalf("a file key with ..: %s", f.key)
		}
	}

	// Across another restart nothing is counted twice and delivery goes on.
	n.stop()
	n = startNode(t, dir, "--delivery-interval", "1s")
	good4 := "66660000-0000-4000-8000-000000000004"
	putRecords(t, keyClient(t, n.endpoint, kmember, "us-east-1", ""), hostileRecord(member, "us-east-1", good4))
	waitFor(t, 30*time.Second, "a record after the second restart", delivered(good4))
	if s := status(); s["QuarantinedRecordCount"] != 1.0 {
		t.Fatalf("status after a second restart: %v", s)
	}
}

// appendUnchecked writes a record into a stopped server's ledger the way
// a version without ingest checks would have.
func appendUnchecked(t *testing.T, dir, account, region, id string) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "ledger"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := store.Open(filepath.Join(dir, "ids"), store.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ids.Close()
	l, err := ledger.New(db, ids, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e := &event.Envelope{EventID: id, EventTime: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), EventName: "RunInstances",
		EventSource: "ec2.amazonaws.com", AccountID: account, Region: region, Category: event.Management, Raw: hostileRecord(account, region, id)}
	v, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, []ledger.Entry{{Account: account, ID: id, Value: v}}); err != nil {
		t.Fatal(err)
	}
}

// metricValue reads one sample of the node's /metrics, "" if absent.
func (n *node) metricValue(name string) string {
	n.t.Helper()
	resp, err := http.Get(n.endpoint + "/metrics")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}
