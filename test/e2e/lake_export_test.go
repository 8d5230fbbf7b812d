package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestLakeExportParquet exports a store with `cairn export parquet` and
// reads the files back with DuckDB, as Athena or Trino would: one folder
// per account, Region and date, every event once, the columns as the
// Lake shows them.
func TestLakeExportParquet(t *testing.T) {
	dir := t.TempDir()
	n := startNodeEnv(t, dir, nil)
	const acct = "230000000006"
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "lake-export", "--account-id", acct, "--backend", "fs")
	cli := newCTCLI(t, n, k)
	arn := cli.ok("create-event-data-store", "--name", "to-export")["EventDataStoreArn"].(string)
	id := arn[strings.LastIndex(arn, "/")+1:]

	// 30 events over two Regions and three days.
	var recs []json.RawMessage
	want := map[string]int{}
	for i := 0; i < 30; i++ {
		region := []string{"us-east-1", "eu-west-1"}[i%2]
		// The last three days: the store keeps events by their eventTime,
		// so fixed dates would fall out of its retention one day.
		day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3+i%3).Add(9*time.Hour + time.Duration(i)*time.Minute)
		recs = append(recs, json.RawMessage(fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::%[1]s:user/u%[4]d","accountId":"%[1]s","userName":"u%[4]d"},`+
			`"eventTime":"%[3]s","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"%[2]s","eventID":"e0000000-0000-4000-8000-0000000000%02[4]d","requestParameters":{"bucketName":"b%[4]d","n":%[4]d},`+
			`"readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%[1]s","eventCategory":"Management"}`,
			acct, region, day.Format(time.RFC3339), i)))
		want[fmt.Sprintf("recipientaccountid=%s/awsregion=%s/date=%s", acct, region, day.Format("2006-01-02"))]++
	}
	putRecords(t, keyClient(t, n.endpoint, k, "us-east-1", ""), recs...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := lakeQuery(t, cli, "SELECT count(*) FROM "+id+" WHERE eventid LIKE 'e0000000-%'")
		if len(rows) == 1 && rows[0][0] == "30" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store has %v of the 30 events", rows)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// The account's events are in a database file of its own.
	if fi, err := os.Stat(filepath.Join(dir, "lake", "accounts", acct+".duckdb")); err != nil || fi.Size() == 0 {
		t.Fatalf("no database of account %s: %v", acct, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lake", "lake.duckdb")); err == nil {
		t.Fatal("a database shared by every account exists")
	}

	out := n.mustRun("export", "parquet", "--store", id, "--to", "s3://lake-export/athena/cloudtrail", "--account-id", acct, "--output", "json")
	var res struct {
		Location    string
		Files       int
		Rows, Bytes int64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Location != "s3://lake-export/athena/cloudtrail" || res.Files < len(want) || res.Rows < 30 {
		t.Fatalf("export: %v %s", err, out)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root := filepath.Join(dir, "buckets", "lake-export", "athena", "cloudtrail")
	q := `SELECT 'recipientaccountid=' || recipientaccountid || '/awsregion=' || awsregion || '/date=' || "date", count(*),
		min(requestparameters['bucketName']), max(useridentity.username), bool_and(readonly), min(eventjson LIKE '{"eventVersion":"1.11"%')
		FROM read_parquet('` + root + `/**/*.parquet', hive_partitioning = true) WHERE eventid LIKE 'e0000000-%' GROUP BY 1 ORDER BY 1`
	rs, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := map[string]int{}
	for rs.Next() {
		var part, bucket, user string
		var count int
		var ro, raw bool
		if err := rs.Scan(&part, &count, &bucket, &user, &ro, &raw); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(bucket, "b") || !strings.HasPrefix(user, "u") || !ro || !raw {
			t.Errorf("%s: columns read back wrong: %s %s %v %v", part, bucket, user, ro, raw)
		}
		got[part] = count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("partitions\n%v\nwant\n%v", got, want)
	}
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		// The fs backend keeps each object's metadata in a dot file.
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return err
	})
	sort.Strings(files)
	// The store also holds the test's own API calls, of today.
	if len(files) != res.Files || !strings.HasSuffix(files[0], ".parquet") {
		t.Errorf("files: %v", files)
	}
	if _, err := n.run("export", "parquet", "--store", id, "--to", "s3://no-such-export-bucket/x", "--account-id", acct); err == nil || !strings.Contains(err.Error(), "S3BucketDoesNotExistException") {
		t.Errorf("export to an unknown bucket: %v", err)
	}
}
