package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// bigResult fills a store with 60 events and returns a query of 3,600
// rows (four pages) over it.
func bigResult(f *lakeFixture) string {
	f.t.Helper()
	arn := f.ok("CreateEventDataStore", map[string]any{"Name": "big"})["EventDataStoreArn"].(string)
	id, _, _, _ := ParseRef(arn)
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var recs []string
	for i := range 60 {
		recs = append(recs, f.record("123456789012", "us-east-1", "s3.amazonaws.com", fmt.Sprintf("E%02d", i), false, "", base.Add(time.Duration(i)*time.Second)))
	}
	f.add(recs...)
	f.drain()
	return "SELECT a.eventname AS x, b.eventname AS y FROM " + id + " a CROSS JOIN " + id + " b ORDER BY x, y"
}

// TestQueryResultsPagedFromDisk: a result is written in pages of 1,000
// rows (0600) while it is fetched, and GetQueryResults reads only the
// page it needs: with the first page gone, a later one still reads.
func TestQueryResultsPagedFromDisk(t *testing.T) {
	f := newLake(t)
	f.queries.ResultsDir = t.TempDir()
	rows, msg := f.query(bigResult(f))
	if msg != "" || len(rows) != 3600 || rows[0] != "x=E00|y=E00" || rows[3599] != "x=E59|y=E59" {
		t.Fatalf("%d rows, %q .. : %s", len(rows), rows[:min(1, len(rows))], msg)
	}
	var r *query
	for _, q := range f.queries.byID {
		r = q
	}
	pages, _ := filepath.Glob(filepath.Join(f.queries.ResultsDir, "123456789012", r.ID, "*.json.gz"))
	if len(pages) != 4 || r.total != 3600 {
		t.Fatalf("pages %v, total %d", pages, r.total)
	}
	for _, p := range pages {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, st.Mode())
		}
	}
	os.Remove(pagePath(r.resDir, 0))
	res := f.ok("GetQueryResults", map[string]any{"QueryId": r.ID, "NextToken": "page-1500", "MaxQueryResults": 1000})
	got := res["QueryResultRows"].([]any)
	st := res["QueryStatistics"].(map[string]any)
	if len(got) != 1000 || res["NextToken"] != "page-2500" || st["ResultsCount"].(float64) != 1000 || st["TotalResultsCount"].(float64) != 3600 {
		t.Fatalf("page at 1500: %d rows, %v, %v", len(got), res["NextToken"], st)
	}
	if c := got[0].([]any)[0].(map[string]any)["x"]; c != "E25" {
		t.Errorf("row 1500: x=%v", c)
	}
	body, _ := json.Marshal(map[string]any{"QueryId": r.ID, "NextToken": "page-1"})
	if _, err := f.queries.Ops()["GetQueryResults"].Handle(context.Background(), &awsapi.Call{AccountID: "123456789012", Region: "us-east-1", Body: body}); err == nil {
		t.Error("a page that is gone from disk was served")
	}
	for _, tok := range []string{"page-3601", "page--1", "page-01", "page-", "1500"} {
		f.fails("GetQueryResults", map[string]any{"QueryId": r.ID, "NextToken": tok}, awsapi.CodeInvalidNextToken)
	}
	d := f.ok("DescribeQuery", map[string]any{"QueryId": r.ID})
	if d["QueryStatistics"].(map[string]any)["EventsMatched"].(float64) != 3600 {
		t.Errorf("EventsMatched: %v", d["QueryStatistics"])
	}
}

// TestQueryResultCaps: a result over the row or byte limit ends the
// query FAILED, says why, and leaves no pages.
func TestQueryResultCaps(t *testing.T) {
	f := newLake(t)
	f.queries.ResultsDir = t.TempDir()
	sql := bigResult(f)
	f.queries.MaxResultRows = 1500
	if _, msg := f.query(sql); !strings.HasPrefix(msg, QueryFailed+": The query result is larger than the 1500 rows") {
		t.Errorf("row cap: %q", msg)
	}
	f.queries.MaxResultRows, f.queries.MaxResultBytes = 0, 5000
	if _, msg := f.query(sql); !strings.Contains(msg, "5000 bytes") {
		t.Errorf("byte cap: %q", msg)
	}
	left, _ := filepath.Glob(filepath.Join(f.queries.ResultsDir, "*", "*"))
	if len(left) != 0 {
		t.Errorf("pages of failed queries left: %v", left)
	}
}

// queriesCall calls one of q's operations as account 123456789012.
func queriesCall(t *testing.T, q *Queries, op string, in any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(in)
	out, err := q.Ops()[op].Handle(context.Background(), &awsapi.Call{Operation: op, AccountID: "123456789012", Region: "us-east-1", Body: body})
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	b, _ := json.Marshal(out)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m
}

// TestQueriesKeptAcrossRestarts: Load reads a query's metadata and none
// of its rows; its pages are read when asked for. A query saved whole
// by an older server is moved to pages; expired ones, and results of no
// kept query, are removed from disk.
func TestQueriesKeptAcrossRestarts(t *testing.T) {
	dir, results := t.TempDir(), t.TempDir()
	clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	v := func(s string) *string { return &s }
	newID, oldID, expiredID := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"

	// A query of this server: metadata and 2,500 rows in pages.
	first := &Queries{Dir: dir, ResultsDir: results, Now: now}
	resDir, _ := first.resultsDir("123456789012", newID)
	w := &resultWriter{dir: resDir, maxRows: MaxResultRows, maxText: MaxResultBytes}
	for i := range 2500 {
		if err := w.add([]*string{v(fmt.Sprint(i)), nil}); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	first.save(&query{ID: newID, Account: "123456789012", Region: "us-east-1", Statement: "SELECT 1", Created: clock.Add(-time.Hour),
		status: QueryFinished, columns: []string{"n", "z"}, total: w.rows, resDir: resDir})
	// One saved whole, as servers before paged results did.
	old := savedQuery{ID: oldID, Account: "123456789012", Region: "us-east-1", Created: clock.Add(-2 * time.Hour), Status: QueryFinished,
		Columns: []string{"a"}, Rows: [][]*string{{v("x")}, {nil}, {v("z")}}}
	if err := writeJSONGz(filepath.Join(dir, oldID+".json.gz"), old); err != nil {
		t.Fatal(err)
	}
	// One 8 days old, and the results of a query that never ended.
	expDir, _ := first.resultsDir("123456789012", expiredID)
	ew := &resultWriter{dir: expDir, maxRows: 10, maxText: 100}
	ew.add([]*string{v("old")})
	ew.flush()
	first.save(&query{ID: expiredID, Account: "123456789012", Region: "us-east-1", Created: clock.Add(-8 * 24 * time.Hour),
		status: QueryFinished, columns: []string{"a"}, total: 1, resDir: expDir})
	orphan, _ := first.resultsDir("123456789012", "44444444-4444-4444-8444-444444444444")
	os.MkdirAll(orphan, 0o700)

	again := &Queries{Dir: dir, ResultsDir: results, Now: now}
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	if len(again.byID) != 2 || again.byID[newID].total != 2500 || again.byID[oldID].total != 3 {
		t.Fatalf("loaded %v", again.byID)
	}
	res := queriesCall(t, again, "GetQueryResults", map[string]any{"QueryId": newID, "NextToken": "page-2499"})
	if rows := res["QueryResultRows"].([]any); len(rows) != 1 || fmt.Sprint(rows[0]) != "[map[n:2499] map[z:<nil>]]" || res["NextToken"] != nil {
		t.Errorf("after restart: %v", res)
	}
	res = queriesCall(t, again, "GetQueryResults", map[string]any{"QueryId": oldID})
	if fmt.Sprint(res["QueryResultRows"]) != "[[map[a:x]] [map[a:<nil>]] [map[a:z]]]" {
		t.Errorf("converted result: %v", res)
	}
	var resaved savedQuery
	if err := readJSONGz(filepath.Join(dir, oldID+".json.gz"), &resaved); err != nil || resaved.Rows != nil || resaved.Total != 3 {
		t.Errorf("converted query saved again: %+v %v", resaved, err)
	}
	for _, gone := range []string{expDir, orphan, filepath.Join(dir, expiredID+".json.gz")} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s kept: %v", gone, err)
		}
	}

	// Seven days on, the rest expire, files and all.
	clock = clock.Add(8 * 24 * time.Hour)
	again.mu.Lock()
	again.prune()
	again.mu.Unlock()
	left, _ := filepath.Glob(filepath.Join(results, "*", "*"))
	saved, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(again.byID) != 0 || len(left) != 0 || len(saved) != 0 {
		t.Errorf("after expiry: %v, results %v, saved %v", again.byID, left, saved)
	}
}

// FuzzRowToken: a GetQueryResults NextToken is accepted only as the
// "page-N" that GetQueryResults itself makes, with N within the result.
func FuzzRowToken(f *testing.F) {
	for _, s := range []string{"", "page-0", "page-1000", "page-3600", "page-3601", "page--1", "page-01", "page-+5", "page-", "1500", "page-9223372036854775808"} {
		f.Add(s, int64(3600))
	}
	f.Fuzz(func(t *testing.T, token string, total int64) {
		if total < 0 {
			total = -(total + 1)
		}
		n, err := rowToken(token, total)
		if err != nil {
			return
		}
		if n < 0 || n > total || token != "" && token != "page-"+fmt.Sprint(n) {
			t.Fatalf("%q (of %d) accepted as row %d", token, total, n)
		}
	})
}
