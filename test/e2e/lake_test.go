package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/ingest"
)

// TestLakeWithAWSCLI runs an event data store's life with the AWS CLI:
// create, get, list, events flowing in, queries with their results
// paged, bad SQL refused, stop and start ingestion, update, delete with
// termination protection, restore.
func TestLakeWithAWSCLI(t *testing.T) {
	n := startNodeEnv(t, t.TempDir(), nil)
	const acct = "230000000001"
	k := n.tenantKey(acct, "")
	cli := newCTCLI(t, n, k)

	created := cli.ok("create-event-data-store", "--name", "audit-lake", "--retention-period", "30")
	arn := created["EventDataStoreArn"].(string)
	id := arn[strings.LastIndex(arn, "/")+1:]
	if created["Status"] != "CREATED" || created["RetentionPeriod"] != 30.0 || created["TerminationProtectionEnabled"] != true {
		t.Fatalf("create-event-data-store: %v", created)
	}
	if got := cli.ok("get-event-data-store", "--event-data-store", id); got["Status"] != "ENABLED" || got["Name"] != "audit-lake" {
		t.Fatalf("get-event-data-store: %v", got)
	}
	if l := cli.ok("list-event-data-stores"); len(l["EventDataStores"].([]any)) != 1 {
		t.Fatalf("list-event-data-stores: %v", l)
	}
	if r := cli.run("create-event-data-store", "--name", "audit-lake"); r.code == 0 || !strings.Contains(r.stderr, "EventDataStoreAlreadyExistsException") {
		t.Fatalf("a second store of the same name: %d %s", r.code, r.stderr)
	}

	// Events: a few records of the account, sent through PutEvents.
	c := keyClient(t, n.endpoint, k, "us-east-1", "")
	var recs []json.RawMessage
	for i := range 25 {
		name := []string{"RunInstances", "DescribeInstances", "CreateBucket"}[i%3]
		recs = append(recs, probeRecord(acct, "us-east-1", "ec2.amazonaws.com", name, fmt.Sprintf("66666666-2222-4333-8444-%012d", i), name == "DescribeInstances"))
	}
	var resp ingest.PutEventsResponse
	if err := c.Call(ctxT(t), ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: recs}, &resp); err != nil || len(resp.Failed) > 0 {
		t.Fatalf("PutEvents: %v %+v", err, resp)
	}
	query := func(sql string) (string, []any) {
		t.Helper()
		qid := cli.ok("start-query", "--query-statement", sql)["QueryId"].(string)
		var status string
		waitFor(t, 30*time.Second, "the query", func() bool {
			d := cli.ok("describe-query", "--query-id", qid)
			status = d["QueryStatus"].(string)
			return status != "QUEUED" && status != "RUNNING"
		})
		var rows []any
		token := ""
		for {
			args := []string{"get-query-results", "--query-id", qid, "--max-query-results", "2", "--no-paginate"}
			if token != "" {
				args = append(args, "--next-token", token)
			}
			out := cli.ok(args...)
			rows = append(rows, out["QueryResultRows"].([]any)...)
			next, _ := out["NextToken"].(string)
			if next == "" {
				return status, rows
			}
			token = next
		}
	}
	probeCount := "SELECT eventname, count(*) AS n FROM " + id + " WHERE eventid LIKE '66666666-%' GROUP BY eventname ORDER BY eventname"
	var rows []any
	waitFor(t, 30*time.Second, "the events in the store", func() bool {
		_, rows = query(probeCount)
		return len(rows) == 3
	})
	got, _ := json.Marshal(rows)
	if string(got) != `[[{"eventname":"CreateBucket"},{"n":"8"}],[{"eventname":"DescribeInstances"},{"n":"8"}],[{"eventname":"RunInstances"},{"n":"9"}]]` {
		t.Fatalf("GROUP BY rows: %s", got)
	}
	// cairn's own calls are management events of the account too.
	if _, rows := query("SELECT count(*) FROM " + arn + " WHERE eventsource = 'cloudtrail.amazonaws.com' AND eventname = 'CreateEventDataStore'"); len(rows) != 1 {
		t.Fatalf("own calls: %v", rows)
	}
	for _, bad := range []string{"DROP TABLE x", "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM 00000000-0000-4000-8000-000000000000", "SELEC 1"} {
		if r := cli.run("start-query", "--query-statement", bad); r.code == 0 || !strings.Contains(r.stderr, "InvalidQueryStatementException") {
			t.Errorf("start-query %q: exit %d %s", bad, r.code, r.stderr)
		}
	}
	if qs := cli.ok("list-queries", "--event-data-store", id); len(qs["Queries"].([]any)) < 2 {
		t.Errorf("list-queries: %v", qs)
	}

	cli.ok("stop-event-data-store-ingestion", "--event-data-store", id)
	if got := cli.ok("get-event-data-store", "--event-data-store", id); got["Status"] != "STOPPED_INGESTION" {
		t.Fatalf("after stop: %v", got)
	}
	cli.ok("start-event-data-store-ingestion", "--event-data-store", id)
	if r := cli.run("delete-event-data-store", "--event-data-store", id); r.code == 0 || !strings.Contains(r.stderr, "EventDataStoreTerminationProtectedException") {
		t.Fatalf("delete with termination protection: %d %s", r.code, r.stderr)
	}
	cli.ok("update-event-data-store", "--event-data-store", id, "--no-termination-protection-enabled")
	cli.ok("delete-event-data-store", "--event-data-store", id)
	if got := cli.ok("get-event-data-store", "--event-data-store", id); got["Status"] != "PENDING_DELETION" {
		t.Fatalf("after delete: %v", got)
	}
	if r := cli.run("start-query", "--query-statement", "SELECT count(*) FROM "+id); r.code == 0 || !strings.Contains(r.stderr, "InvalidQueryStatementException") {
		t.Errorf("a query of a store pending deletion: %d %s", r.code, r.stderr)
	}
	if got := cli.ok("restore-event-data-store", "--event-data-store", id); got["Status"] != "ENABLED" {
		t.Fatalf("restore: %v", got)
	}
	if _, rows := query(probeCount); len(rows) != 3 {
		t.Fatalf("after restore: %v", rows)
	}
}

// TestLakeWithBoto3 runs the store, import and query lifecycles through
// boto3 (testdata/boto3_lake.py): every operation, paging, AWS's
// exception names for bad input, deletion and restore.
func TestLakeWithBoto3(t *testing.T) {
	py := boto3Python(t)
	src := filepath.Join(sharedData(t), "s3-layout")
	dir := t.TempDir()
	// Twenty gzipped log files of the real archive, in their folders.
	var paths []string
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json.gz") {
			paths = append(paths, p)
		}
		return err
	})
	sort.Strings(paths)
	events := 0
	for _, p := range paths[:20] {
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.NewDecoder(zr).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		events += len(doc.Records)
		dst := filepath.Join(dir, "buckets", "boto-archive", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := startNodeEnv(t, dir, nil)
	const acct = "230000000002"
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "boto-archive", "--account-id", acct, "--backend", "fs")
	env := cleanClientEnv(t.TempDir(), "CT_ENDPOINT="+n.endpoint, "CT_ACCOUNT="+acct,
		"CT_ACCESS_KEY_ID="+k.AccessKeyID, "CT_SECRET_ACCESS_KEY="+k.SecretAccessKey,
		"CT_IMPORT_BUCKET=boto-archive", fmt.Sprintf("CT_IMPORT_EVENTS=%d", events))
	r := runClient(t, env, nil, py, filepath.Join("testdata", "boto3_lake.py"))
	var sum struct {
		Checks   int
		Failures []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("boto3_lake.py: exit %d, output not a summary (%v)\nstdout: %s\nstderr: %s", r.code, err, r.stdout, r.stderr)
	}
	for _, f := range sum.Failures {
		t.Error(f)
	}
	if r.code != 0 && len(sum.Failures) == 0 {
		t.Errorf("boto3_lake.py: exit %d: %s", r.code, r.stderr)
	}
	if sum.Checks < 40 {
		t.Errorf("boto3_lake.py made %d checks", sum.Checks)
	}
	t.Logf("boto3: %d checks on %d imported events", sum.Checks, events)
}

// TestLakeQueryDelivery sends a query's results to a bucket with
// DeliveryS3Uri, as CloudTrail Lake does: gzipped CSV under
// AWSLogs/<account>/CloudTrail-Lake/Query/<date>/<query ID>/, the same
// rows GetQueryResults gives; bad URIs and others' buckets are refused.
func TestLakeQueryDelivery(t *testing.T) {
	dir := t.TempDir()
	n := startNodeEnv(t, dir, nil)
	const acct, other = "230000000004", "230000000005"
	k := n.tenantKey(acct, "")
	n.tenantKey(other, "")
	n.mustRun("buckets", "create", "lake-results", "--account-id", acct, "--backend", "fs")
	n.mustRun("buckets", "create", "not-mine", "--account-id", other, "--backend", "fs")
	cli := newCTCLI(t, n, k)
	arn := cli.ok("create-event-data-store", "--name", "delivered")["EventDataStoreArn"].(string)
	id := arn[strings.LastIndex(arn, "/")+1:]
	c := keyClient(t, n.endpoint, k, "us-east-1", "")
	// Times an hour ago: the store keeps events by their eventTime, so a
	// fixed date would fall out of its retention one day.
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)
	var recs []json.RawMessage
	for i := 0; i < 5; i++ {
		recs = append(recs, json.RawMessage(fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"%sT%s:0%d:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject%d","awsRegion":"us-east-1","eventID":"d0000000-0000-4000-8000-%012d","recipientAccountId":"%s","eventType":"AwsApiCall","managementEvent":true,"readOnly":false,"eventCategory":"Management","requestParameters":{"bucketName":"b,\"q\""}}`, at.Format("2006-01-02"), at.Format("15"), i, i, i, acct)))
	}
	var resp ingest.PutEventsResponse
	if err := c.Call(ctxT(t), ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: recs}, &resp); err != nil || len(resp.Failed) > 0 {
		t.Fatalf("PutEvents: %v %+v", err, resp)
	}
	sql := "SELECT eventid, eventname, element_at(requestparameters, 'bucketName') AS bucket, errorcode FROM " + id + " WHERE eventid LIKE 'd0000000-%' ORDER BY eventid"
	var rows [][]string
	deadline := time.Now().Add(30 * time.Second)
	for len(rows) < 5 && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		rows = lakeQuery(t, cli, sql)
	}
	if len(rows) != 5 {
		t.Fatalf("rows: %v", rows)
	}
	qid := cli.ok("start-query", "--query-statement", sql, "--delivery-s3-uri", "s3://lake-results/team/a")["QueryId"].(string)
	var d map[string]any
	for time.Now().Before(deadline) {
		if d = cli.ok("describe-query", "--query-id", qid); d["DeliveryStatus"] != "PENDING" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d["QueryStatus"] != "FINISHED" || d["DeliveryStatus"] != "SUCCESS" || d["DeliveryS3Uri"] != "s3://lake-results/team/a" {
		t.Fatalf("describe-query: %v", d)
	}
	folder := filepath.Join(dir, "buckets", "lake-results", "team", "a", "AWSLogs", acct, "CloudTrail-Lake", "Query", time.Now().UTC().Format("2006/01/02"), qid)
	b, err := os.ReadFile(filepath.Join(folder, "result_1.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := append([][]string{{"eventid", "eventname", "bucket", "errorcode"}}, rows...)
	if fmt.Sprint(got) != fmt.Sprint(want) || got[1][2] != `b,"q"` {
		t.Fatalf("delivered CSV\n%q\nwant\n%q", got, want)
	}
	// After a restart the query, its results and its delivery are still
	// there.
	n.stop()
	n = startNodeEnv(t, dir, nil)
	cli = newCTCLI(t, n, k)
	if d := cli.ok("describe-query", "--query-id", qid); d["QueryStatus"] != "FINISHED" || d["DeliveryStatus"] != "SUCCESS" {
		t.Fatalf("describe-query after a restart: %v", d)
	}
	res := cli.ok("get-query-results", "--query-id", qid)
	if rs := res["QueryResultRows"].([]any); len(rs) != 5 {
		t.Fatalf("results after a restart: %v", res)
	}
	for uri, code := range map[string]string{
		"s3://no-such-results": "S3BucketDoesNotExistException",
		"s3://not-mine/x":      "InsufficientS3BucketPolicyException",
		"lake-results/x":       "InvalidParameterException",
		"s3://Not_A_Bucket!/x": "InvalidS3BucketNameException",
	} {
		if r := cli.run("start-query", "--query-statement", sql, "--delivery-s3-uri", uri); r.code == 0 || !strings.Contains(r.stderr, code) {
			t.Errorf("delivery to %s: exit %d, want %s: %s", uri, r.code, code, r.stderr)
		}
	}
}
