package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestLakeChannels runs a channel's life with the AWS CLI and puts events
// through it with the AWS CLI's and boto3's cloudtrail-data clients
// (rest-json, signed for cloudtrail-data): per-event failures, request
// errors, then a query that finds exactly the events put, in Lake's
// integration schema, and Event history that does not.
func TestLakeChannels(t *testing.T) {
	py := boto3Python(t)
	n := startNodeEnv(t, t.TempDir(), nil)
	const acct = "230000000003"
	k := n.tenantKey(acct, "")
	cli := newCTCLI(t, n, k)

	apps := cli.ok("create-event-data-store", "--name", "apps", "--advanced-event-selectors",
		`[{"Name":"apps","FieldSelectors":[{"Field":"eventCategory","Equals":["ActivityAuditLog"]}]}]`)["EventDataStoreArn"].(string)
	appsID := apps[strings.LastIndex(apps, "/")+1:]
	mgmt := cli.ok("create-event-data-store", "--name", "management")["EventDataStoreArn"].(string)

	dest := func(arn string) string { return `[{"Type":"EVENT_DATA_STORE","Location":"` + arn + `"}]` }
	created := cli.ok("create-channel", "--name", "app-events", "--source", "Custom", "--destinations", dest(apps),
		"--tags", "Key=team,Value=blue")
	ch := created["ChannelArn"].(string)
	if !strings.HasPrefix(ch, "arn:aws:cloudtrail:us-east-1:"+acct+":channel/") || created["Source"] != "Custom" {
		t.Fatalf("create-channel: %v", created)
	}
	for _, c := range []struct {
		args []string
		code string
	}{
		{[]string{"create-channel", "--name", "app-events", "--source", "Custom", "--destinations", dest(apps)}, "ChannelAlreadyExistsException"},
		{[]string{"create-channel", "--name", "to-management", "--source", "Custom", "--destinations", dest(mgmt)}, "InvalidEventDataStoreCategoryException"},
		{[]string{"create-channel", "--name", "nowhere", "--source", "Custom", "--destinations", dest("arn:aws:cloudtrail:us-east-1:" + acct + ":eventdatastore/00000000-0000-4000-8000-000000000000")}, "EventDataStoreNotFoundException"},
		{[]string{"create-channel", "--name", "aws-svc", "--source", "Custom", "--destinations", `[{"Type":"AWS_SERVICE","Location":"events.amazonaws.com"}]`}, "InvalidParameterException"},
		{[]string{"get-channel", "--channel", "arn:aws:cloudtrail:us-east-1:" + acct + ":channel/00000000-0000-4000-8000-000000000000"}, "ChannelNotFoundException"},
		{[]string{"get-channel", "--channel", "not-a-channel"}, "ChannelARNInvalidException"},
		{[]string{"delete-event-data-store", "--event-data-store", apps}, "EventDataStoreTerminationProtectedException"},
	} {
		if r := cli.run(c.args...); r.code == 0 || !strings.Contains(r.stderr, c.code) {
			t.Errorf("%s: exit %d, want %s: %s", strings.Join(c.args[:3], " "), r.code, c.code, r.stderr)
		}
	}
	if l := cli.ok("list-channels"); len(l["Channels"].([]any)) != 1 {
		t.Fatalf("list-channels: %v", l)
	}

	// The AWS CLI's cloudtrail-data put-audit-events.
	// An hour ago: stores keep events by their eventTime, so a fixed date
	// would fall out of their retention one day.
	eventTime := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	eventData := func(uid, name string) string {
		return fmt.Sprintf(`{"version":"1.0","userIdentity":{"type":"CustomUserIdentity","principalId":"alice","details":{"team":"blue"}},`+
			`"eventSource":"myapp.example.com","eventName":%q,"eventTime":%q,"UID":%q,"recipientAccountId":%q,`+
			`"requestParameters":{"door":7,"floor":"3"}}`, name, eventTime, uid, acct)
	}
	good := eventData("cli-1", "OpenDoor")
	sum := sha256.Sum256([]byte(good))
	batch, _ := json.Marshal([]map[string]string{
		{"id": "c1", "eventData": good, "eventDataChecksum": base64.StdEncoding.EncodeToString(sum[:])},
		{"id": "c2", "eventData": eventData("cli-2", "CloseDoor")},
		{"id": "c3", "eventData": good, "eventDataChecksum": base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{"id": "c4", "eventData": strings.Replace(good, `"UID":"cli-1",`, "", 1)},
	})
	r := runClient(t, cli.env, nil, cli.bin, "--endpoint-url", n.endpoint, "--output", "json", "cloudtrail-data", "put-audit-events",
		"--channel-arn", ch, "--external-id", "cli-test", "--audit-events", string(batch))
	if r.code != 0 {
		t.Fatalf("put-audit-events: exit %d: %s", r.code, r.stderr)
	}
	var put struct {
		Successful []struct{ ID, EventID string }
		Failed     []struct{ ID, ErrorCode, ErrorMessage string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &put); err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, f := range put.Failed {
		failed[f.ID] = f.ErrorCode
	}
	if len(put.Successful) != 2 || fmt.Sprint(failed) != "map[c3:InvalidChecksum c4:FieldNotFound]" {
		t.Fatalf("put-audit-events: %s", r.stdout)
	}
	eventIDs := map[string]bool{}
	for _, s := range put.Successful {
		eventIDs[s.EventID] = true
	}
	for _, c := range []struct{ channel, code string }{
		{strings.Replace(ch, ch[strings.LastIndex(ch, "/")+1:], "00000000-0000-4000-8000-000000000000", 1), "ChannelNotFound"},
		{"arn:aws:cloudtrail:us-east-1:" + acct + ":channel/x", "InvalidChannelARN"},
	} {
		r := runClient(t, cli.env, nil, cli.bin, "--endpoint-url", n.endpoint, "cloudtrail-data", "put-audit-events",
			"--channel-arn", c.channel, "--audit-events", `[{"id":"z","eventData":"{}"}]`)
		if r.code == 0 || !strings.Contains(r.stderr, c.code) {
			t.Errorf("put-audit-events to %s: exit %d, want %s: %s", c.channel, r.code, c.code, r.stderr)
		}
	}

	// boto3's cloudtrail-data client.
	env := cleanClientEnv(t.TempDir(), "CT_ENDPOINT="+n.endpoint, "CT_ACCOUNT="+acct, "CT_CHANNEL="+ch,
		"CT_ACCESS_KEY_ID="+k.AccessKeyID, "CT_SECRET_ACCESS_KEY="+k.SecretAccessKey)
	br := runClient(t, env, nil, py, filepath.Join("testdata", "boto3_audit_events.py"))
	var boto struct {
		Successful                    []struct{ ID, EventID string }
		Failed                        map[string]string
		Duplicate, Unknown, Malformed string
	}
	if br.code != 0 || json.Unmarshal([]byte(br.stdout), &boto) != nil {
		t.Fatalf("boto3_audit_events.py: exit %d\n%s\n%s", br.code, br.stdout, br.stderr)
	}
	if len(boto.Successful) != 3 || fmt.Sprint(boto.Failed) != "map[b1:InvalidChecksum b2:InvalidData b3:InvalidRecipient b4:FieldNotFound]" ||
		boto.Duplicate != "DuplicatedAuditEventId" || boto.Unknown != "ChannelNotFound" || boto.Malformed != "InvalidChannelARN" {
		t.Fatalf("boto3: %s", br.stdout)
	}
	for _, s := range boto.Successful {
		eventIDs[s.EventID] = true
	}

	// The store holds exactly the five events put, in the integration
	// schema.
	rows := lakeQuery(t, cli, "SELECT eventid, eventcategory, eventtype, eventData.eventName, eventdata.useridentity.principalid, "+
		"element_at(eventdata.requestparameters, 'floor') AS floor, eventdata.uid, metadata.channelarn FROM "+appsID+" ORDER BY eventdata.uid")
	var got []string
	for _, row := range rows {
		if !eventIDs[row[0]] {
			t.Errorf("event %s was not acknowledged", row[0])
		}
		if row[1] != "ActivityAuditLog" || row[2] != "ActivityLog" || row[7] != ch {
			t.Errorf("envelope: %v", row)
		}
		got = append(got, strings.Join(row[3:7], "|"))
	}
	want := []string{"Charge|bob||boto-1", "Refund|bob||boto-22", "Charge|bob||boto-333", "OpenDoor|alice|3|cli-1", "CloseDoor|alice|3|cli-2"}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("store holds\n%q\nwant\n%q", got, want)
	}
	status := cli.ok("get-channel", "--channel", ch)["IngestionStatus"].(map[string]any)
	if !eventIDs[status["LatestIngestionSuccessEventID"].(string)] || status["LatestIngestionSuccessTime"] == nil {
		t.Errorf("ingestion status: %v", status)
	}

	// Events from outside AWS are not API activity: Event history does
	// not show them.
	time.Sleep(time.Second)
	for _, name := range []string{"OpenDoor", "Charge"} {
		l := cli.ok("lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue="+name)
		if evs := l["Events"].([]any); len(evs) != 0 {
			t.Errorf("LookupEvents finds %s: %v", name, evs)
		}
	}

	// A store a channel sends to cannot be deleted; once the channel is
	// gone, it can.
	cli.ok("update-event-data-store", "--event-data-store", apps, "--no-termination-protection-enabled")
	if r := cli.run("delete-event-data-store", "--event-data-store", apps); r.code == 0 || !strings.Contains(r.stderr, "ChannelExistsForEDSException") {
		t.Errorf("delete a channel's store: exit %d: %s", r.code, r.stderr)
	}
	cli.ok("update-channel", "--channel", ch, "--name", "app-events-2")
	if got := cli.ok("get-channel", "--channel", ch)["Name"]; got != "app-events-2" {
		t.Errorf("renamed channel: %v", got)
	}
	cli.ok("delete-channel", "--channel", ch)
	if l := cli.ok("list-channels"); len(l["Channels"].([]any)) != 0 {
		t.Errorf("list-channels after delete: %v", l)
	}
	cli.ok("delete-event-data-store", "--event-data-store", apps)
}

// lakeQuery runs a query with the AWS CLI and returns its rows, each
// value in column order.
func lakeQuery(t *testing.T, cli *ctCLI, sql string) [][]string {
	t.Helper()
	id := cli.ok("start-query", "--query-statement", sql)["QueryId"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := cli.ok("describe-query", "--query-id", id)
		if d["QueryStatus"] == "FINISHED" {
			break
		}
		if d["QueryStatus"] != "QUEUED" && d["QueryStatus"] != "RUNNING" || time.Now().After(deadline) {
			t.Fatalf("query %s: %v", sql, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := cli.ok("get-query-results", "--query-id", id)
	var out [][]string
	for _, row := range res["QueryResultRows"].([]any) {
		var vals []string
		for _, cell := range row.([]any) {
			for _, v := range cell.(map[string]any) {
				s, _ := v.(string) // NULL comes as null
				vals = append(vals, s)
			}
		}
		out = append(out, vals)
	}
	return out
}
