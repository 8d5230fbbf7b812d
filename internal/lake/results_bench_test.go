package lake

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkMillionRowResult runs a query of 1,000,000 rows (a store of
// 1,000 events joined with itself), pages through all of its results
// with GetQueryResults, 1,000 rows a call, and logs the process's VmRSS,
// VmHWM and Go heap before the query, while it is paged and after; then
// it loads the saved queries as a restart does, with `results` such
// results kept, and logs how long that took.
//
//	go test -run '^$' -bench MillionRowResult -benchtime 1x -v ./internal/lake
func BenchmarkMillionRowResult(b *testing.B) {
	const results = 3
	f := newLake(b)
	f.clock = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.queries.Now = func() time.Time { return f.clock }
	f.queries.Dir, f.queries.ResultsDir = b.TempDir(), b.TempDir()
	arn := f.ok("CreateEventDataStore", map[string]any{"Name": "million"})["EventDataStoreArn"].(string)
	id, _, _, _ := ParseRef(arn)
	var recs []string
	for i := range 1000 {
		recs = append(recs, f.record("123456789012", "us-east-1", "s3.amazonaws.com", fmt.Sprintf("Event%04d", i), false, "", f.clock.Add(-time.Duration(i)*time.Second)))
	}
	f.add(recs...)
	f.drain()
	sql := "SELECT a.eventname, a.eventid, b.eventname AS other, b.sourceipaddress FROM " + id + " a CROSS JOIN " + id + " b"
	memLine(b, "before")
	for b.Loop() {
		for n := range results {
			start := time.Now()
			qid := f.ok("StartQuery", map[string]any{"QueryStatement": sql})["QueryId"].(string)
			for {
				st := f.ok("DescribeQuery", map[string]any{"QueryId": qid})["QueryStatus"].(string)
				if st == QueryFinished {
					break
				}
				if st != QueryQueued && st != QueryRunning {
					b.Fatalf("query %s", st)
				}
				time.Sleep(10 * time.Millisecond)
			}
			b.Logf("query %d: finished in %s", n, time.Since(start).Round(time.Millisecond))
			memLine(b, "after the query")
			if n > 0 {
				continue
			}
			rows, token := 0, ""
			start = time.Now()
			for calls := 0; ; calls++ {
				in := map[string]any{"QueryId": qid, "MaxQueryResults": 1000}
				if token != "" {
					in["NextToken"] = token
				}
				page := f.ok("GetQueryResults", in)
				rows += len(page["QueryResultRows"].([]any))
				if calls%250 == 0 {
					memLine(b, fmt.Sprintf("paging, %d rows read", rows))
				}
				if token, _ = page["NextToken"].(string); token == "" {
					break
				}
			}
			b.Logf("paged %d rows in %s", rows, time.Since(start).Round(time.Millisecond))
			memLine(b, "after paging")
		}
	}
	start := time.Now()
	again := &Queries{Dir: f.queries.Dir, ResultsDir: f.queries.ResultsDir, Now: f.queries.Now}
	if err := again.Load(); err != nil {
		b.Fatal(err)
	}
	b.Logf("restart: %d queries (%d results of 1,000,000 rows, %d MB on disk) loaded in %s",
		len(again.byID), results, dirBytes(f.queries.ResultsDir)>>20, time.Since(start).Round(time.Microsecond))
}

// memLine logs the process's VmRSS and VmHWM and the Go heap in use.
func memLine(b *testing.B, when string) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	vals := map[string]string{}
	if fh, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			vals[k] = strings.TrimSpace(v)
		}
		fh.Close()
	}
	b.Logf("%-28s VmRSS %s, VmHWM %s, Go heap in use %d MB", when+":", vals["VmRSS"], vals["VmHWM"], ms.HeapInuse>>20)
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
