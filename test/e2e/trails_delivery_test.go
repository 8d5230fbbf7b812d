package e2e

// Trails delivering to a real MinIO: the scenario of CloudTrail's own
// articles (one trail for everything, one for writes), multi-Region and
// shadow trails, cross-account delivery through a bucket policy,
// organization trails and notifications, each checked in the files that
// land in the bucket and with the tools people read them with (aws s3
// sync, zgrep, jq, DuckDB).

import (
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
)

// deliveryNode starts cairn with trail buckets on MinIO and a delivery
// interval of one second.
func deliveryNode(t *testing.T, dir string, m *miniotest.Server, args ...string) *node {
	t.Helper()
	env := []string{"CAIRN_S3_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY=" + m.SecretKey}
	return startNodeEnv(t, dir, env, append([]string{"--s3-endpoint", m.Endpoint, "--delivery-interval", "1s"}, args...)...)
}

// ctCLI runs `aws cloudtrail ...` (AWS CLI v1) against the node as key k.
type ctCLI struct {
	t        *testing.T
	bin      string
	env      []string
	endpoint string
}

func newCTCLI(t *testing.T, n *node, k keyPair) *ctCLI {
	t.Helper()
	return &ctCLI{t: t, bin: awsCLI(t, 1), endpoint: n.endpoint, env: cleanClientEnv(t.TempDir(),
		"AWS_ACCESS_KEY_ID="+k.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+k.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)}
}

// run runs a cloudtrail command and returns its result.
func (c *ctCLI) run(args ...string) cliResult {
	c.t.Helper()
	return runClient(c.t, c.env, nil, c.bin, append([]string{"--endpoint-url", c.endpoint, "--output", "json", "cloudtrail"}, args...)...)
}

// ok runs a command that must succeed and decodes its JSON output.
func (c *ctCLI) ok(args ...string) map[string]any {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("aws cloudtrail %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	out := map[string]any{}
	if strings.TrimSpace(r.stdout) != "" {
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			c.t.Fatalf("aws cloudtrail %s: %v: %s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return out
}

// fails runs a command that must fail with code, and returns stderr.
func (c *ctCLI) fails(code string, args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code == 0 || !strings.Contains(r.stderr, "("+code+")") {
		c.t.Fatalf("aws cloudtrail %s: want %s, got exit %d: %s%s", strings.Join(args, " "), code, r.code, r.stdout, r.stderr)
	}
	return r.stderr
}

// probeRecord is a small CloudTrail record with a chosen ID and name.
func probeRecord(account, region, source, name, id string, readOnly bool) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::%[1]s:user/alice","accountId":"%[1]s","accessKeyId":"AKIAEXAMPLE","userName":"alice"},"eventTime":"%[6]s","eventSource":"%[3]s","eventName":"%[4]s","awsRegion":"%[2]s","sourceIPAddress":"203.0.113.7","userAgent":"e2e","requestParameters":null,"responseElements":null,"requestID":"%[5]s","eventID":"%[5]s","readOnly":%[7]v,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
		account, region, source, name, id, time.Now().UTC().Format(time.RFC3339), readOnly))
}

func putRecords(t *testing.T, c *client.Client, recs ...json.RawMessage) {
	t.Helper()
	var resp ingest.PutEventsResponse
	if err := c.Call(ctxT(t), ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: recs}, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Failed) > 0 || resp.Accepted != len(recs) {
		t.Fatalf("PutEvents answered %+v", resp)
	}
}

var logKey = regexp.MustCompile(`^(?:(.+)/)?AWSLogs/(?:(o-[a-z0-9]{10})/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{4})(\d{2})(\d{2})T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$`)

// logFile is a delivered log file, read back.
type logFile struct {
	key     string
	body    []byte // uncompressed
	records []map[string]any
}

// readLogs reads every log file under prefix in bucket, checking that each
// key follows CloudTrail's layout and each body is one gzip member of
// {"Records":[...]} whose records belong to the key's account and Region.
func readLogs(t *testing.T, st objstore.Store, bucket, prefix string) []logFile {
	t.Helper()
	ctx := ctxT(t)
	var out []logFile
	after := ""
	for {
		infos, err := st.List(ctx, bucket, prefix, after, 1000)
		if err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, info := range infos {
			m := logKey.FindStringSubmatch(info.Key)
			if m == nil {
				t.Fatalf("key %q does not follow CloudTrail's layout", info.Key)
			}
			if m[3] != m[8] || m[4] != m[9] || m[5] != m[10] || m[6] != m[11] || m[7] != m[12] {
				t.Fatalf("key %q: folders and file name disagree", info.Key)
			}
			obj, err := st.Get(ctx, bucket, info.Key)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(obj.Body))
			if err != nil {
				t.Fatalf("%s: %v", info.Key, err)
			}
			zr.Multistream(false)
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", info.Key, err)
			}
			if rest := trailingAfterMember(t, obj.Body); rest != 0 {
				t.Fatalf("%s: %d bytes after the first gzip member", info.Key, rest)
			}
			var doc struct {
				Records []map[string]any `json:"Records"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || doc.Records == nil {
				t.Fatalf("%s: not {\"Records\":[...]}: %v", info.Key, err)
			}
			for _, r := range doc.Records {
				if r["recipientAccountId"] != m[3] || r["awsRegion"] != m[4] {
					t.Fatalf("%s holds a record of %v/%v", info.Key, r["recipientAccountId"], r["awsRegion"])
				}
			}
			out = append(out, logFile{key: info.Key, body: body, records: doc.Records})
			after = info.Key
		}
		if len(infos) < 1000 {
			return out
		}
	}
}

// trailingAfterMember returns how many bytes follow the first gzip member.
func trailingAfterMember(t *testing.T, gz []byte) int {
	br := bytes.NewReader(gz)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatal(err)
	}
	return br.Len()
}

// eventIDs lists the eventIDs of files, with repeats.
func eventIDs(files []logFile) []string {
	var out []string
	for _, f := range files {
		for _, r := range f.records {
			id, _ := r["eventID"].(string)
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func contains(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func TestTrailsDeliverToMinIO(t *testing.T) {
	m := miniotest.Start(t)
	st := m.Store(t)
	n := deliveryNode(t, t.TempDir(), m, "--webhook-allow", "127.0.0.0/8") // its webhook is a local test server
	const acct = "210000000001"
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "trail-logs", "--account-id", acct)
	cli := newCTCLI(t, n, k)

	// Notifications go to a webhook.
	var (
		hookMu sync.Mutex
		hooks  []map[string]any
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		json.NewDecoder(r.Body).Decode(&v)
		hookMu.Lock()
		hooks = append(hooks, v)
		hookMu.Unlock()
	}))
	defer hook.Close()
	n.mustRun("topics", "create", "trail-news", "--webhook", hook.URL, "--account-id", acct)

	created := cli.ok("create-trail", "--name", "all-events", "--s3-bucket-name", "trail-logs", "--s3-key-prefix", "a", "--sns-topic-name", "trail-news")
	if created["SnsTopicARN"] != "arn:aws:sns:us-east-1:"+acct+":trail-news" || created["IncludeGlobalServiceEvents"] != true || created["IsMultiRegionTrail"] != false {
		t.Fatalf("create-trail answered %v", created)
	}
	cli.ok("create-trail", "--name", "writes-only", "--s3-bucket-name", "trail-logs", "--s3-key-prefix", "b")
	sel := cli.ok("put-event-selectors", "--trail-name", "writes-only", "--event-selectors", `[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true}]`)
	if sel["TrailARN"] != "arn:aws:cloudtrail:us-east-1:"+acct+":trail/writes-only" {
		t.Fatalf("put-event-selectors answered %v", sel)
	}
	cli.fails("TrailAlreadyExistsException", "create-trail", "--name", "all-events", "--s3-bucket-name", "trail-logs")
	cli.fails("S3BucketDoesNotExistException", "create-trail", "--name", "nowhere", "--s3-bucket-name", "no-such-bucket")
	status := cli.ok("get-trail-status", "--name", "all-events")
	if status["IsLogging"] != false {
		t.Fatalf("a new trail logs: %v", status)
	}
	cli.ok("start-logging", "--name", "all-events")
	cli.ok("start-logging", "--name", "arn:aws:cloudtrail:us-east-1:"+acct+":trail/writes-only")

	c := keyClient(t, n.endpoint, k, "us-east-1", "")
	readID, writeID := "11111111-2222-4333-8444-000000000001", "11111111-2222-4333-8444-000000000002"
	putRecords(t, c,
		probeRecord(acct, "us-east-1", "ec2.amazonaws.com", "DescribeCairnProbeWidgets", readID, true),
		probeRecord(acct, "us-east-1", "ec2.amazonaws.com", "RunCairnProbeWidgets", writeID, false))

	waitFor(t, 30*time.Second, "both trails to deliver the probes", func() bool {
		a, b := eventIDs(readLogs(t, st, "trail-logs", "a/")), eventIDs(readLogs(t, st, "trail-logs", "b/"))
		return contains(a, readID) == 1 && contains(a, writeID) == 1 && contains(b, writeID) == 1
	})
	if ids := eventIDs(readLogs(t, st, "trail-logs", "b/")); contains(ids, readID) != 0 {
		t.Fatal("the write-only trail delivered a read event")
	}

	// The articles' way to read them: sync the bucket, then zgrep.
	dir := t.TempDir()
	s3env := cleanClientEnv(t.TempDir(), "AWS_ACCESS_KEY_ID="+m.AccessKey, "AWS_SECRET_ACCESS_KEY="+m.SecretKey, "AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	if r := runClient(t, s3env, nil, cli.bin, "--endpoint-url", m.Endpoint, "s3", "sync", "s3://trail-logs", dir); r.code != 0 {
		t.Fatalf("aws s3 sync: %s", r.stderr)
	}
	zgrep := func(what string) []string {
		// Debian's zgrep has no -r: give it every file, as find would.
		var gz []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json.gz") {
				gz = append(gz, p)
			}
			return nil
		})
		out, err := exec.Command("zgrep", append([]string{"-l", what}, gz...)...).Output()
		if err != nil && len(out) == 0 {
			t.Fatalf("zgrep %s: %v", what, err)
		}
		var prefixes []string
		for _, l := range strings.Fields(string(out)) {
			rel, _ := filepath.Rel(dir, l)
			prefixes = append(prefixes, strings.SplitN(rel, "/", 2)[0])
		}
		sort.Strings(prefixes)
		return prefixes
	}
	if got := zgrep("DescribeCairnProbeWidgets"); strings.Join(got, ",") != "a" {
		t.Fatalf("zgrep finds the read call under %v, want only a/", got)
	}
	if got := zgrep("RunCairnProbeWidgets"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("zgrep finds the write call under %v, want a/ and b/", got)
	}

	// jq and DuckDB read every file as it is.
	files, _ := filepath.Glob(filepath.Join(dir, "*", "AWSLogs", "*", "CloudTrail", "*", "*", "*", "*", "*.json.gz"))
	if len(files) == 0 {
		t.Fatal("aws s3 sync fetched no log files")
	}
	total := 0
	for _, f := range files {
		out, err := exec.Command("sh", "-c", `gzip -dc "$1" | jq -e '.Records | length'`, "sh", f).Output()
		if err != nil {
			t.Fatalf("jq cannot read %s: %v", f, err)
		}
		var n int
		fmt.Sscan(string(out), &n)
		total += n
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var viaDuck int
	list := "'" + strings.Join(files, "','") + "'"
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT unnest(Records) FROM read_json([` + list + `], format='auto'))`).Scan(&viaDuck); err != nil {
		t.Fatalf("DuckDB cannot read the log files: %v", err)
	}
	if viaDuck != total {
		t.Fatalf("DuckDB counts %d records, jq %d", viaDuck, total)
	}

	status = cli.ok("get-trail-status", "--name", "all-events")
	if status["IsLogging"] != true || status["LatestDeliveryTime"] == nil || status["StartLoggingTime"] == nil || status["LatestDeliveryError"] != nil || status["TimeLoggingStarted"] == "" {
		t.Fatalf("get-trail-status after delivery: %v", status)
	}
	waitFor(t, 30*time.Second, "a notification", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hooks) > 0
	})
	hookMu.Lock()
	note := hooks[0]
	hookMu.Unlock()
	keys, _ := note["s3ObjectKey"].([]any)
	if note["s3Bucket"] != "trail-logs" || len(keys) == 0 {
		t.Fatalf("notification %v", note)
	}
	for _, k := range keys {
		if _, err := st.Get(ctxT(t), "trail-logs", k.(string)); err != nil || !strings.HasPrefix(k.(string), "a/AWSLogs/") {
			t.Fatalf("notified key %v is not a delivered file of the trail: %v", k, err)
		}
	}

	// Stopping ends delivery; the status says so.
	cli.ok("stop-logging", "--name", "writes-only")
	status = cli.ok("get-trail-status", "--name", "writes-only")
	if status["IsLogging"] != false || status["StopLoggingTime"] == nil || status["TimeLoggingStopped"] == "" {
		t.Fatalf("status after stop-logging: %v", status)
	}
	late := "11111111-2222-4333-8444-000000000003"
	putRecords(t, c, probeRecord(acct, "us-east-1", "ec2.amazonaws.com", "RunCairnProbeWidgets", late, false))
	waitFor(t, 30*time.Second, "the logging trail to deliver the late write", func() bool {
		return contains(eventIDs(readLogs(t, st, "trail-logs", "a/")), late) == 1
	})
	time.Sleep(2 * time.Second)
	if contains(eventIDs(readLogs(t, st, "trail-logs", "b/")), late) != 0 {
		t.Fatal("a stopped trail delivered an event")
	}
}

func TestMultiRegionShadowTrails(t *testing.T) {
	m := miniotest.Start(t)
	n := deliveryNode(t, t.TempDir(), m)
	const acct = "210000000002"
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "multi-logs", "--account-id", acct)
	cli := newCTCLI(t, n, k)
	arn := "arn:aws:cloudtrail:us-east-2:" + acct + ":trail/everywhere"
	cli.fails("InvalidParameterCombinationException", "create-trail", "--region", "us-east-2", "--name", "everywhere", "--s3-bucket-name", "multi-logs", "--is-multi-region-trail", "--no-include-global-service-events")
	cli.ok("create-trail", "--region", "us-east-2", "--name", "everywhere", "--s3-bucket-name", "multi-logs", "--is-multi-region-trail")

	d := cli.ok("describe-trails", "--region", "us-east-1")
	list, _ := d["trailList"].([]any)
	if len(list) != 1 {
		t.Fatalf("us-east-1 describe-trails: %v", d)
	}
	tr := list[0].(map[string]any)
	if tr["HomeRegion"] != "us-east-2" || tr["TrailARN"] != arn || tr["IsMultiRegionTrail"] != true {
		t.Fatalf("shadow trail: %v", tr)
	}
	if d := cli.ok("describe-trails", "--region", "us-east-1", "--no-include-shadow-trails"); len(d["trailList"].([]any)) != 0 {
		t.Fatalf("describe-trails without shadows: %v", d)
	}
	if d := cli.ok("describe-trails", "--region", "us-east-1", "--trail-name-list", "everywhere"); len(d["trailList"].([]any)) != 0 {
		t.Fatalf("a shadow is found by name outside its home: %v", d)
	}
	if d := cli.ok("describe-trails", "--region", "us-east-1", "--trail-name-list", arn); len(d["trailList"].([]any)) != 1 {
		t.Fatalf("a shadow is not found by ARN: %v", d)
	}
	msg := cli.fails("TrailNotFoundException", "get-trail-status", "--region", "us-east-1", "--name", "everywhere")
	if !strings.Contains(msg, "Unknown trail: arn:aws:cloudtrail:us-east-1:"+acct+":trail/everywhere for the user: "+acct) {
		t.Fatalf("message: %s", msg)
	}
	if s := cli.ok("get-trail-status", "--region", "us-east-1", "--name", arn); s["IsLogging"] != false {
		t.Fatalf("status by ARN from a shadow region: %v", s)
	}
	cli.fails("InvalidHomeRegionException", "update-trail", "--region", "us-east-1", "--name", arn, "--s3-key-prefix", "x")
	cli.fails("InvalidHomeRegionException", "start-logging", "--region", "us-east-1", "--name", arn)
	cli.fails("InvalidHomeRegionException", "delete-trail", "--region", "us-east-1", "--name", arn)
	// A Region may hold its own trail with the shadow's name.
	cli.ok("create-trail", "--region", "us-east-1", "--name", "everywhere", "--s3-bucket-name", "multi-logs")
	if d := cli.ok("describe-trails", "--region", "us-east-1"); len(d["trailList"].([]any)) != 2 {
		t.Fatalf("us-east-1 holds its own trail and the shadow: %v", d)
	}
	lt := cli.ok("list-trails", "--region", "eu-west-1")
	if ts := lt["Trails"].([]any); len(ts) != 1 || ts[0].(map[string]any)["HomeRegion"] != "us-east-2" {
		t.Fatalf("list-trails in eu-west-1: %v", lt)
	}

	// The multi-Region trail delivers every Region's events, each Region
	// in its own files.
	cli.ok("start-logging", "--region", "us-east-2", "--name", "everywhere")
	c := keyClient(t, n.endpoint, k, "us-east-1", "")
	want := map[string]string{}
	var recs []json.RawMessage
	for i, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		id := fmt.Sprintf("22222222-2222-4333-8444-%012d", i)
		want[id] = region
		recs = append(recs, probeRecord(acct, region, "ec2.amazonaws.com", "RunInstances", id, false))
	}
	recs = append(recs, probeRecord(acct, "us-east-1", "iam.amazonaws.com", "CreateUser", "22222222-2222-4333-8444-999999999999", false))
	want["22222222-2222-4333-8444-999999999999"] = "us-east-1"
	putRecords(t, c, recs...)
	st := m.Store(t)
	waitFor(t, 30*time.Second, "the multi-Region trail's files", func() bool {
		ids := eventIDs(readLogs(t, st, "multi-logs", "AWSLogs/"))
		for id := range want {
			if contains(ids, id) != 1 {
				return false
			}
		}
		return true
	})
	for _, f := range readLogs(t, st, "multi-logs", "AWSLogs/") {
		for _, r := range f.records {
			if region, ok := want[r["eventID"].(string)]; ok && !strings.Contains(f.key, "/CloudTrail/"+region+"/") {
				t.Fatalf("event of %s in %s", region, f.key)
			}
		}
	}
}

func TestCrossAccountDelivery(t *testing.T) {
	m := miniotest.Start(t)
	n := deliveryNode(t, t.TempDir(), m)
	const owner, other = "210000000003", "210000000004"
	ka, kb := n.tenantKey(owner, ""), n.tenantKey(other, "")
	n.mustRun("buckets", "create", "central-logs", "--account-id", owner)
	cb := newCTCLI(t, n, kb)
	msg := cb.fails("InsufficientS3BucketPolicyException", "create-trail", "--name", "to-central", "--s3-bucket-name", "central-logs")
	if !strings.Contains(msg, "Incorrect S3 bucket policy is detected for bucket: central-logs") {
		t.Fatalf("message: %s", msg)
	}
	if _, err := n.run("buckets", "ls", "central-logs", "--account-id", other); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("another account lists the bucket: %v", err)
	}
	// The owner allows the other account with a CloudTrail-style policy.
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"AWSCloudTrailWrite","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::central-logs/AWSLogs/%s/*","Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}]}`, other)
	pf := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(pf, []byte(policy), 0o600)
	n.mustRun("buckets", "policy", "central-logs", "--file", pf, "--account-id", owner)
	cb.ok("create-trail", "--name", "to-central", "--s3-bucket-name", "central-logs")
	// A third account is let in by name instead of by policy.
	const third = "210000000008"
	kc := n.tenantKey(third, "")
	cc := newCTCLI(t, n, kc)
	cc.fails("InsufficientS3BucketPolicyException", "create-trail", "--name", "third", "--s3-bucket-name", "central-logs")
	n.mustRun("buckets", "allow", "central-logs", "--account", third, "--account-id", owner)
	cc.ok("create-trail", "--name", "third", "--s3-bucket-name", "central-logs")
	_ = ka
	cb.ok("start-logging", "--name", "to-central")
	id := "33333333-2222-4333-8444-000000000001"
	putRecords(t, keyClient(t, n.endpoint, kb, "us-east-1", ""), probeRecord(other, "us-east-1", "ec2.amazonaws.com", "RunInstances", id, false))
	st := m.Store(t)
	waitFor(t, 30*time.Second, "the other account's file in the central bucket", func() bool {
		return contains(eventIDs(readLogs(t, st, "central-logs", "AWSLogs/"+other+"/")), id) == 1
	})
}

func TestOrganizationTrail(t *testing.T) {
	m := miniotest.Start(t)
	n := deliveryNode(t, t.TempDir(), m)
	const mgmt, member, outsider = "210000000005", "210000000006", "210000000007"
	km, kmember := n.tenantKey(mgmt, ""), n.tenantKey(member, "")
	n.tenantKey(outsider, "")
	cm, cmember := newCTCLI(t, n, km), newCTCLI(t, n, kmember)
	n.mustRun("buckets", "create", "org-logs", "--account-id", mgmt)
	cm.fails("OrganizationsNotInUseException", "create-trail", "--name", "org", "--s3-bucket-name", "org-logs", "--is-organization-trail")
	out := n.mustRun("org", "create", mgmt, "--output", "json")
	var org orgOut
	json.Unmarshal([]byte(out), &org)
	orgID := org.Organization.Id
	if !regexp.MustCompile(`^o-[a-z0-9]{10}$`).MatchString(orgID) {
		t.Fatalf("organization ID %q", orgID)
	}
	n.mustRun("org", "add", orgID, member)
	cmember.fails("NotOrganizationMasterAccountException", "create-trail", "--name", "org", "--s3-bucket-name", "org-logs", "--is-organization-trail")
	created := cm.ok("create-trail", "--name", "org", "--s3-bucket-name", "org-logs", "--is-organization-trail", "--is-multi-region-trail")
	if created["IsOrganizationTrail"] != true {
		t.Fatalf("create-trail: %v", created)
	}
	arn := created["TrailARN"].(string)
	cm.ok("start-logging", "--name", "org")

	d := cmember.ok("describe-trails")
	if l := d["trailList"].([]any); len(l) != 1 || l[0].(map[string]any)["TrailARN"] != arn {
		t.Fatalf("the member sees %v", d)
	}
	cmember.fails("NotOrganizationMasterAccountException", "stop-logging", "--name", arn)
	cmember.fails("NotOrganizationMasterAccountException", "delete-trail", "--name", arn)
	if s := cmember.ok("get-trail-status", "--name", arn); s["IsLogging"] != true {
		t.Fatalf("member's view of the status: %v", s)
	}

	memberID, outsiderID := "44444444-2222-4333-8444-000000000001", "44444444-2222-4333-8444-000000000002"
	putRecords(t, keyClient(t, n.endpoint, kmember, "us-east-1", ""), probeRecord(member, "eu-west-1", "ec2.amazonaws.com", "RunInstances", memberID, false))
	putRecords(t, keyClient(t, n.endpoint, n.rootKey(), "us-east-1", outsider), probeRecord(outsider, "eu-west-1", "ec2.amazonaws.com", "RunInstances", outsiderID, false))
	st := m.Store(t)
	waitFor(t, 30*time.Second, "the member's event under the organization folder", func() bool {
		return contains(eventIDs(readLogs(t, st, "org-logs", "AWSLogs/"+orgID+"/"+member+"/CloudTrail/eu-west-1/")), memberID) == 1
	})
	time.Sleep(2 * time.Second)
	if contains(eventIDs(readLogs(t, st, "org-logs", "")), outsiderID) != 0 {
		t.Fatal("the organization trail delivered an outsider's event")
	}
}

type orgOut struct {
	Organization struct {
		Id string
	}
}
