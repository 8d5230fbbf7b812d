package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLakeImportRealArchive imports the real CloudTrail archive (AWS's S3
// layout, in an fs bucket) into an event data store with StartImport,
// then checks a set of queries — filters, GROUP BY, struct and map
// access, time functions, a join, unions — against the same answers computed
// directly from the raw files.
func TestLakeImportRealArchive(t *testing.T) {
	src := filepath.Join(sharedData(t), "s3-layout")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "buckets", "real-archive"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	// The records, read directly.
	var records []map[string]any
	files := 0
	filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") && !strings.HasSuffix(path, ".json") {
			return err
		}
		files++
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, _ := io.ReadAll(r)
		var doc struct{ Records []map[string]any }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		records = append(records, doc.Records...)
		return nil
	})

	n := startNodeEnv(t, dir, nil)
	const acct = "240000000001"
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "real-archive", "--account-id", acct, "--backend", "fs")
	cli := newCTCLI(t, n, k)
	arn := cli.ok("create-event-data-store", "--name", "archive", "--no-start-ingestion")["EventDataStoreArn"].(string)
	id := arn[strings.LastIndex(arn, "/")+1:]
	other := cli.ok("create-event-data-store", "--name", "archive-2017", "--no-start-ingestion")["EventDataStoreArn"].(string)
	otherID := other[strings.LastIndex(other, "/")+1:]
	source := `{"S3":{"S3LocationUri":"s3://real-archive/","S3BucketRegion":"us-east-1","S3BucketAccessRoleArn":"arn:aws:iam::` + acct + `:role/import"}}`
	started := time.Now()
	imp := cli.ok("start-import", "--destinations", arn, "--import-source", source)
	impID := imp["ImportId"].(string)
	var got map[string]any
	waitFor(t, 5*time.Minute, "the import", func() bool {
		got = cli.ok("get-import", "--import-id", impID)
		return got["ImportStatus"] != "INITIALIZING" && got["ImportStatus"] != "IN_PROGRESS"
	})
	stats := got["ImportStatistics"].(map[string]any)
	t.Logf("imported %v events from %v files in %s", stats["EventsCompleted"], stats["FilesCompleted"], time.Since(started).Round(time.Millisecond))
	if got["ImportStatus"] != "COMPLETED" || stats["EventsCompleted"] != float64(len(records)) || stats["FilesCompleted"] != float64(files) || stats["FailedEntries"] != 0.0 {
		t.Fatalf("get-import: %v (want %d events from %d files)", got, len(records), files)
	}
	if l := cli.ok("list-imports"); len(l["Imports"].([]any)) != 1 {
		t.Fatalf("list-imports: %v", l)
	}
	if f := cli.ok("list-import-failures", "--import-id", impID); len(f["Failures"].([]any)) != 0 {
		t.Fatalf("list-import-failures: %v", f)
	}
	// A second import, of 2017 only, into another store, with cairn's
	// own command.
	out := n.mustRun("import", "--store", other, "--source", "s3://real-archive/", "--account-id", acct,
		"--start-time", "2017-01-01T00:00:00Z", "--end-time", "2017-12-31T23:59:59Z")
	if !strings.Contains(out, "COMPLETED") {
		t.Fatalf("cairn import: %s", out)
	}
	query := func(sql string) []string {
		t.Helper()
		qid := cli.ok("start-query", "--query-statement", sql)["QueryId"].(string)
		waitFor(t, time.Minute, "the query", func() bool {
			s := cli.ok("describe-query", "--query-id", qid)["QueryStatus"]
			if s == "FAILED" {
				t.Fatalf("%s: %v", sql, cli.ok("describe-query", "--query-id", qid))
			}
			return s == "FINISHED"
		})
		var rows []string
		token := ""
		for {
			args := []string{"get-query-results", "--query-id", qid, "--no-paginate"}
			if token != "" {
				args = append(args, "--next-token", token)
			}
			out := cli.ok(args...)
			for _, r := range out["QueryResultRows"].([]any) {
				var cells []string
				for _, c := range r.([]any) {
					for _, v := range c.(map[string]any) {
						cells = append(cells, fmt.Sprint(v))
					}
				}
				rows = append(rows, strings.Join(cells, "|"))
			}
			next, _ := out["NextToken"].(string)
			if next == "" {
				return rows
			}
			token = next
		}
	}

	str := func(r map[string]any, path ...string) (string, bool) {
		var v any = r
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return "", false
			}
			v = m[p]
		}
		s, ok := v.(string)
		return s, ok
	}
	when := func(r map[string]any) time.Time {
		s, _ := str(r, "eventTime")
		tm, _ := time.Parse(time.RFC3339, s)
		return tm
	}
	type kv struct {
		k string
		n int
	}
	top := func(counts map[string]int, limit int) []string {
		var list []kv
		for k, n := range counts {
			list = append(list, kv{k, n})
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].n != list[j].n {
				return list[i].n > list[j].n
			}
			return list[i].k < list[j].k
		})
		var out []string
		for i, e := range list {
			if limit > 0 && i == limit {
				break
			}
			out = append(out, e.k+"|"+strconv.Itoa(e.n))
		}
		return out
	}

	// Direct answers.
	byName, byType, byError, byBucket, byDay := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	arns := map[string]bool{}
	users := map[string]bool{}
	in2017 := 0
	for _, r := range records {
		name, _ := str(r, "eventName")
		byName[name]++
		if typ, ok := str(r, "userIdentity", "type"); ok {
			byType[typ]++
		}
		if code, ok := str(r, "errorCode"); ok {
			byError[code]++
		}
		if src, _ := str(r, "eventSource"); src == "s3.amazonaws.com" {
			if b, ok := str(r, "requestParameters", "bucketName"); ok {
				byBucket[b]++
			}
		}
		tm := when(r)
		wd := int(tm.Weekday())
		if wd == 0 {
			wd = 7
		}
		byDay[strconv.Itoa(wd)]++
		if !tm.Before(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)) {
			if a, ok := str(r, "userIdentity", "arn"); ok {
				arns[a] = true
			}
		}
		if typ, _ := str(r, "userIdentity", "type"); typ == "IAMUser" {
			if u, ok := str(r, "userIdentity", "userName"); ok {
				users[u] = true
			}
		}
		if tm.Year() == 2017 {
			in2017++
		}
	}
	var userList []string
	for u := range users {
		userList = append(userList, u)
	}
	sort.Strings(userList)
	days := top(byDay, 0)
	sort.Strings(days)

	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"SELECT count(*) FROM " + id, []string{strconv.Itoa(len(records))}},
		{"SELECT eventname, count(*) AS n FROM " + id + " GROUP BY eventname ORDER BY n DESC, eventname LIMIT 10", top(byName, 10)},
		{"SELECT useridentity.type, count(*) FROM " + id + " WHERE useridentity.type IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1", top(byType, 0)},
		{"SELECT errorcode, count(*) FROM " + id + " WHERE errorcode IS NOT NULL GROUP BY errorcode ORDER BY 2 DESC, 1 LIMIT 5", top(byError, 5)},
		{"SELECT element_at(requestparameters, 'bucketName') AS b, count(*) FROM " + id + " WHERE eventsource = 's3.amazonaws.com' AND element_at(requestparameters, 'bucketName') IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5", top(byBucket, 5)},
		{"SELECT day_of_week(eventtime) AS d, count(*) FROM " + id + " GROUP BY 1 ORDER BY 1", days},
		{"SELECT count(DISTINCT useridentity.arn) FROM " + id + " WHERE eventtime >= '2017-01-01 00:00:00'", []string{strconv.Itoa(len(arns))}},
		{"SELECT DISTINCT useridentity.username FROM " + id + " WHERE useridentity.type = 'IAMUser' AND useridentity.username IS NOT NULL ORDER BY 1", userList},
		{"SELECT count(*) FROM " + otherID, []string{strconv.Itoa(in2017)}},
		{"SELECT count(*) FROM " + id + " a JOIN " + otherID + " b ON a.eventid = b.eventid AND a.eventtime = b.eventtime AND a.eventname = b.eventname WHERE year(a.eventtime) = 2017", []string{strconv.Itoa(in2017)}},
		{"SELECT count(*) FROM (SELECT eventid FROM " + id + " WHERE year(eventtime) = 2017 UNION ALL SELECT eventid FROM " + otherID + ")", []string{strconv.Itoa(2 * in2017)}},
		{"SELECT count(*) FROM (SELECT eventid FROM " + id + " WHERE year(eventtime) = 2017 UNION SELECT eventid FROM " + otherID + ")", []string{strconv.Itoa(in2017)}},
		{"SELECT count(*) FROM (SELECT eventid FROM " + id + " EXCEPT SELECT eventid FROM " + otherID + ")", []string{strconv.Itoa(len(records) - in2017)}},
	} {
		rows := query(c.sql)
		if strings.Join(rows, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", c.sql, rows, c.want)
		}
	}
}
