package lakesql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzLakeQuery runs queries through Rewrite and Check, as StartQuery
// does, on a database that also holds a store the queries may not read
// (eds_other). Rewrite and Check may refuse a query but not panic or
// fail otherwise; a query they accept runs (for a moment at most) and
// shows nothing of eds_other and no name of the catalog's.
func FuzzLakeQuery(f *testing.F) {
	for _, q := range []string{
		"SELECT eventname, count(*) AS n FROM " + storeA + " GROUP BY eventname ORDER BY n DESC",
		"SELECT element_at(requestparameters, 'bucketName'), requestparameters['x'] FROM " + storeA,
		"WITH w AS (SELECT eventname FROM " + storeA + ") SELECT count(*) FROM w",
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT count(*) FROM r",
		"SELECT a.eventname FROM " + storeA + " a JOIN `" + storeB + "` b ON a.eventid = b.eventid",
		`SELECT eventname FROM "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/` + storeA + `" -- x`,
		"SELECT date_format(eventtime, '%Y-%m-%d'), from_iso8601_timestamp(eventtime) FROM " + storeA,
		"SELECT * FROM eds_other",
		"WITH \"eds_othe\u212A\" AS (SELECT 1) SELECT * FROM eds_other",
		"WITH \"duc\u212Adb_tables\" AS (SELECT 1) SELECT * FROM duckdb_tables",
		"SELECT * FROM 'lake/export/x.parquet'",
		"SELECT 1 /* /* */ , * FROM eds_other -- */",
		"SELECT * FROM " + storeA + " -- \r, eds_other",
		"SELECT E'\\'' , * FROM eds_other --'",
		"SELECT $$'$$, * FROM eds_other --'",
		"SELECT * FROM (SHOW TABLES)",
		"SELECT \"getenv\"('HOME')",
		"SELECT * FROM U&\"eds_othe\\0072\"",
		"(TABLE eds_other)",
		"SELECT * FROM read_csv('/etc/passwd')",
	} {
		f.Add(q)
	}
	db := testDB(f)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	f.Fuzz(func(t *testing.T, q string) {
		rw, err := Rewrite(q, testStores)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("Rewrite: %v", err)
			}
			return
		}
		if _, err := Check(ctx, conn, rw, []string{"eds_a", "eds_b"}); err != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		rows, err := conn.QueryContext(rctx, rw)
		if err != nil {
			return
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var b strings.Builder
		for n := 0; n < 1000 && rows.Next(); n++ {
			if rows.Scan(ptrs...) != nil {
				return
			}
			for _, v := range vals {
				b.WriteString(FoldName(fmt.Sprint(v)) + "|")
			}
		}
		out := b.String()
		for _, s := range []string{FoldName(otherSecret), "eds_other", "lake_", "duckdb_", "information_schema", "pg_catalog"} {
			if strings.Contains(out, s) && !strings.Contains(FoldName(q), s) {
				t.Fatalf("%q (run as %q) shows %q: %.300s", q, rw, s, out)
			}
		}
	})
}
