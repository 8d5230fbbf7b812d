package lakesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

const (
	storeA = "8a2f7e4c-1d2b-4c3e-9f00-123456789abc"
	storeB = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
	other  = "ffffffff-ffff-4fff-8fff-ffffffffffff"
)

var testStores = map[string]string{storeA: "eds_a", storeB: "eds_b"}

// otherSecret is in the store eds_other, which the queries of the tests
// may not read.
const otherSecret = "OtherAccountSecret"

// testDB is an in-memory lake database with two small stores, set up and
// locked as the server's.
func testDB(t testing.TB) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("duckdb", Options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	stmts := []string{CreateTable("eds_a"), CreateTable("eds_b"), CreateTable("eds_other"), `CREATE TABLE staging (` + StagingColumns + `)`}
	for _, r := range []string{
		`{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","userName":"root"},"eventTime":"2023-01-10T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.1","userAgent":"aws-cli/2","requestParameters":{"bucketName":"logs","x":{"y":1}},"responseElements":null,"eventID":"e1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","additionalEventData":"{\"a\":\"b\"}"}`,
		`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2023-01-11T12:30:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-west-2","sourceIPAddress":"203.0.113.2","userAgent":"console","requestParameters":{"instanceType":"t3.micro"},"eventID":"e2","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","errorCode":"AccessDenied"}`,
		`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},"eventTime":"2023-01-15T08:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-west-2","sourceIPAddress":"203.0.113.2","userAgent":"console","eventID":"e3","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`,
	} {
		q := `'` + strings.ReplaceAll(r, "'", "''") + `'`
		stmts = append(stmts, `INSERT INTO staging (j, rest) VALUES (`+q+`, `+q+`)`)
	}
	stmts = append(stmts, InsertFromJSON("eds_a", "staging"), `DELETE FROM staging`,
		`INSERT INTO staging (j, rest) SELECT j, j FROM (SELECT '{"eventTime":"2023-01-11T12:30:00Z","eventName":"RunInstances","eventID":"e2","userIdentity":{"userName":"alice"}}' AS j)`,
		InsertFromJSON("eds_b", "staging"), `DELETE FROM staging`,
		// Another account's store, which no query may read.
		`INSERT INTO staging (j, rest) SELECT j, j FROM (SELECT '{"eventTime":"2023-01-11T12:30:00Z","eventName":"`+otherSecret+`","eventID":"s1"}' AS j)`,
		InsertFromJSON("eds_other", "staging"), `DROP TABLE staging`)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := Setup(ctx, db); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SET TimeZone = 'UTC'`, `SET enable_external_access = false`, `SET lock_configuration = true`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// run rewrites, checks and runs a query, returning its rows as text.
func run(t *testing.T, db *sql.DB, q string) ([]string, error) {
	t.Helper()
	ctx := context.Background()
	rw, err := Rewrite(q, testStores)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := Check(ctx, conn, rw, []string{"eds_a", "eds_b"}); err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(ctx, rw)
	if err != nil {
		t.Fatalf("%s\n(rewritten: %s): %v", q, rw, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var cells []string
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				cells = append(cells, "NULL")
			case time.Time:
				cells = append(cells, x.UTC().Format("2006-01-02 15:04:05"))
			default:
				cells = append(cells, fmt.Sprint(x))
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out, rows.Err()
}

func TestAcceptedQueries(t *testing.T) {
	db := testDB(t)
	for _, c := range []struct{ q, want string }{
		{"SELECT eventname FROM " + storeA + " ORDER BY eventtime", "CreateBucket;RunInstances;DescribeInstances"},
		{"SELECT * FROM " + storeA + " WHERE useridentity.type = 'Root'", ""}, // checked for a row below
		{"SELECT eventname FROM arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/" + storeA + " WHERE readonly", "DescribeInstances"},
		{`SELECT eventname FROM "` + storeA + `" WHERE eventname LIKE 'Run%'`, "RunInstances"},
		{"SELECT eventname FROM `" + storeA + "` -- a comment with DROP TABLE and " + other + "\nWHERE eventtime > '2023-01-11 00:00:00' AND eventtime < timestamp '2023-01-12 00:00:00'", "RunInstances"},
		{"SELECT element_at(requestparameters, 'bucketName'), requestparameters['x'] FROM " + storeA + " WHERE eventname = 'CreateBucket'", `logs|{"y":1}`},
		{"SELECT json_extract_scalar(element_at(additionaleventdata, 'a'), '$') FROM " + storeA + " WHERE eventid = 'e1'", "NULL"},
		{"SELECT json_extract_scalar('{\"a\":{\"b\":\"c\"}}', '$.a.b'), json_extract_scalar('{\"a\":{\"b\":\"c\"}}', '$.a')", "c|NULL"},
		{"SELECT DISTINCT useridentity.username FROM " + storeA + " WHERE from_iso8601_timestamp('2023-01-11T00:00:00Z') < eventtime AND eventtime > date_add('day', -7, timestamp '2023-01-16 00:00:00') ORDER BY 1", "alice"},
		{"SELECT count(*) FROM " + storeA + " WHERE eventtime > date_add('day', -7, now())", "0"},
		{"SELECT count(*) FROM " + storeA + " WHERE eventtime > date_add('year', -10, now()) AND typeof(now()) = 'TIMESTAMP'", "3"},
		{"SELECT count(*) FROM " + storeA + " a WHERE from_iso8601_timestamp(a.eventtime) > from_iso8601_timestamp('2023-01-11T14:00:00+02:00')", "2"},
		{"SELECT CAST(from_iso8601_timestamp(eventtime) AS VARCHAR), CAST(from_iso8601_timestamp('2023-01-11T14:00:00+02:00') AS VARCHAR) FROM " + storeA + " WHERE eventid = 'e2'", "2023-01-11 12:30:00|2023-01-11 12:00:00"},
		{"SELECT regexp_like(useragent, '^aws-cli'), day_of_week(eventtime), date_trunc('day', eventtime) FROM " + storeA + " WHERE eventid = 'e1'", "true|2|2023-01-10 00:00:00"},
		{"SELECT approx_distinct(useridentity.arn), count_if(errorcode IS NOT NULL) FROM " + storeA, "2|1"},
		{"SELECT date_format(eventtime, '%Y-%m-%d %H:%i') FROM " + storeA + " WHERE eventid = 'e2'", "2023-01-11 12:30"},
		{"SELECT a.eventname, b.useridentity.username FROM " + storeA + " a JOIN " + storeB + " b ON a.eventid = b.eventid", "RunInstances|alice"},
		{"SELECT eventid FROM " + storeA + " WHERE eventid = 'e1' UNION ALL SELECT eventid FROM " + storeB + " ORDER BY 1", "e1;e2"},
		{"WITH w AS (SELECT eventname, eventtime FROM " + storeA + " WHERE NOT readonly) SELECT count(*) FROM w", "2"},
		{"SELECT eventname, 'DROP TABLE x; " + other + "' FROM " + storeA + " WHERE eventid = 'e1';", "CreateBucket|DROP TABLE x; " + other},
		{"SELECT if(readonly, 'r', 'w'), cardinality(requestparameters), cardinality(resources) FROM " + storeA + " WHERE eventid = 'e1'", "w|2|NULL"},
		{"SELECT cardinality(ARRAY[1, 2, 3]), cardinality(map_keys(requestparameters)) FROM " + storeA + " WHERE eventid = 'e1'", "3|2"},
		{"SELECT array_distinct(ARRAY[3, 1, 3, 2]), json_format(json_parse('[1, {\"a\" : 2}]'))", `[3 1 2]|[1,{"a":2}]`},
		{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT count(*) FROM r", "3"},
		{"WITH a AS (SELECT eventid FROM " + storeA + "), b AS (SELECT * FROM a) SELECT count(*) FROM b", "3"},
		{"SELECT eventname FROM " + storeA + " WHERE eventtime BETWEEN timestamp '2023-01-11 00:00:00' AND timestamp '2023-01-16 00:00:00' AND errorcode IS DISTINCT FROM 'AccessDenied'", "DescribeInstances"},
	} {
		rows, err := run(t, db, c.q)
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if c.want == "" {
			if len(rows) != 1 {
				t.Errorf("%s: %d rows", c.q, len(rows))
			}
			continue
		}
		if got := strings.Join(rows, ";"); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.q, got, c.want)
		}
	}
}

func TestRefusedQueries(t *testing.T) {
	db := testDB(t)
	count := func() string {
		var n string
		if err := db.QueryRow(`SELECT count(*) FROM eds_a`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, q := range []string{
		"",
		"   -- nothing\n",
		"DROP TABLE eds_a",
		"CREATE TABLE x AS SELECT 1",
		"ALTER TABLE eds_a RENAME TO x",
		"INSERT INTO eds_a (eventname) VALUES ('x')",
		"UPDATE eds_a SET eventname = 'x'",
		"DELETE FROM eds_a",
		"DELETE FROM " + storeA,
		"COPY eds_a TO '/tmp/out.csv'",
		"PRAGMA table_info('eds_a')",
		"ATTACH '/tmp/x.db' AS x",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SELECT 1; SELECT 2",
		"SELECT 1; DROP TABLE eds_a",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_json_auto('/etc/hosts')",
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT * FROM " + storeA + " WHERE eventname IN (SELECT column0 FROM read_csv('/etc/passwd'))",
		"SELECT * FROM glob('*')",
		"SELECT getenv('HOME')",
		"SELECT current_setting('threads')",
		"SELECT * FROM duckdb_tables()",
		"SELECT * FROM information_schema.tables",
		"SELECT * FROM pg_catalog.pg_class",
		"SELECT * FROM eds_other",
		"SELECT * FROM eds_a",
		`SELECT * FROM "eds_b"`,
		"SELECT * FROM eds_0123456789abcdef0123456789abcdef",
		"SELECT * FROM main.eds_a",
		"SELECT * FROM " + other,
		"SELECT * FROM arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/" + other,
		"SELECT * FROM range(10)",
		"SELECT * FROM (VALUES (1)) v(x) WHERE x IN (SELECT 1 FROM query('SELECT 1'))",
		"SELEC eventname FROM " + storeA,
		"SELECT eventname FROM " + storeA + " WHERE",
		"SELECT 'unterminated FROM " + storeA,
		"WITH x AS (DELETE FROM eds_a RETURNING *) SELECT * FROM x",
		// A CTE's name reads the table of that name where the CTE is not
		// in scope; dollar quotes and E'' strings hide words from Rewrite.
		"WITH eds_other AS (SELECT * FROM eds_other) SELECT * FROM eds_other",
		"WITH a AS (SELECT * FROM eds_other), eds_other AS (SELECT 1) SELECT * FROM a",
		"SELECT x.eventname FROM (WITH eds_other AS (SELECT 1) SELECT * FROM eds_other) s, eds_other x",
		"WITH RECURSIVE eds_other AS (SELECT * FROM eds_other UNION ALL SELECT * FROM eds_other WHERE false) SELECT * FROM eds_other",
		"SELECT $$'$$, x.eventname FROM (WITH eds_other AS (SELECT * FROM eds_other) SELECT * FROM eds_other) x --'",
		"SELECT E'\\'' AS a, x.eventname FROM eds_other x --'",
		"SELECT * FROM (SHOW TABLES)",
		"SELECT * FROM (DESCRIBE eds_a)",
		// DuckDB ends a -- comment at a carriage return too, and reads a
		// quoted name followed by ( as a call.
		"SELECT eventname FROM " + storeA + " -- \r, getenv('HOME')",
		`SELECT "getenv"('HOME')`,
	} {
		if rows, err := run(t, db, q); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%q: %v %q, want ErrInvalidQuery", q, err, rows)
		}
	}
	if after := count(); after != before {
		t.Fatalf("the store changed: %s rows, was %s", after, before)
	}
}

// TestCheckAlone gives Check what Rewrite refuses, as if Rewrite had been
// fooled: Check must refuse it on its own.
func TestCheckAlone(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SELECT * FROM (SHOW TABLES)",
		"SELECT * FROM (SHOW ALL TABLES)",
		"SELECT * FROM (DESCRIBE eds_a)",
		"SELECT * FROM (SUMMARIZE eds_other)",
		"SELECT $$'$$, x.eventname FROM (WITH eds_other AS (SELECT * FROM eds_other) SELECT * FROM eds_other) x",
		"SELECT E'\\'', * FROM eds_other",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT getenv('HOME')",
		"DROP TABLE eds_a",
	} {
		if _, err := Check(ctx, conn, q, []string{"eds_a", "eds_b"}); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%q: %v, want ErrInvalidQuery", q, err)
		}
	}
}

// TestEventTimeKeptBare checks that the Athena idiom
// from_iso8601_timestamp(eventtime) reads the column as it is, so that
// DuckDB can skip row groups by it, and that other arguments still go
// through the function.
func TestEventTimeKeptBare(t *testing.T) {
	tables := map[string]string{storeA: "eds_a"}
	for q, want := range map[string]string{
		"SELECT 1 FROM " + storeA + " WHERE from_iso8601_timestamp(eventtime) > now()":           `SELECT 1 FROM "eds_a" WHERE (eventtime) > trino_now()`,
		"SELECT 1 FROM " + storeA + " x WHERE FROM_ISO8601_TIMESTAMP( x.\"eventTime\" ) > now()": `SELECT 1 FROM "eds_a" x WHERE ( x."eventTime" ) > trino_now()`,
		"SELECT from_iso8601_timestamp(useragent) FROM " + storeA:                                `SELECT trino_from_iso8601_timestamp(useragent) FROM "eds_a"`,
	} {
		got, err := Rewrite(q, tables)
		if err != nil || got != want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", q, got, err, want)
		}
	}
}

// TestFoldingAttack reproduces a tenant's escape: a CTE named with
// KELVIN SIGN (or DOTTED CAPITAL I) folded by strings.ToLower to the name
// of a catalog view or a file hid the real one from the checks, which
// DuckDB, folding ASCII only, then read. Each query must be refused by
// Rewrite, and by Check on its own.
func TestFoldingAttack(t *testing.T) {
	if FoldName("duc\u212Adb_tables") == "duckdb_tables" || FoldName("pg_sett\u0130ngs") == "pg_settings" {
		t.Fatal("FoldName folds beyond ASCII")
	}
	if FoldName("EDS_A") != "eds_a" {
		t.Fatal("FoldName does not fold ASCII")
	}
	db := testDB(t)
	ctx := context.Background()
	export := "lake/export/0b1c2d3e/recipientaccountid=444455556666/awsregion=us-east-1/date=2023-01-10/events_0.parquet"
	attacks := []string{
		"WITH \"duc\u212Adb_tables\" AS (SELECT 1) SELECT * FROM duckdb_tables",
		"WITH \"duc\u212Adb_columns\" AS (SELECT 1) SELECT * FROM duckdb_columns",
		"WITH \"duc\u212Adb_databases\" AS (SELECT 1) SELECT * FROM duckdb_databases",
		"WITH \"pg_sett\u0130ngs\" AS (SELECT 1) SELECT * FROM pg_settings",
		"WITH \"la\u212Ae_cursor\" AS (SELECT 1) SELECT * FROM lake_cursor",
		"WITH \"" + strings.Replace(export, "k", "\u212A", 1) + "\" AS (SELECT 1) SELECT * FROM '" + export + "'",
		"SELECT * FROM '" + export + "'",
		"SELECT * FROM '" + export + "' WHERE eventname IN (SELECT eventname FROM " + storeA + ")",
		"SELECT * FROM " + storeA + " a, '" + export + "' b",
		"SELECT * FROM duckdb_databases",
		"SELECT * FROM pg_settings",
		"SELECT * FROM lake_cursor",
		"WITH RECURSIVE \"duc\u212Adb_tables\" AS (SELECT 1 UNION ALL SELECT 1 FROM duckdb_tables) SELECT * FROM duckdb_tables",
		"SELECT * FROM duc\u212Adb_tables",
		"SELECT 1 AS \"a\u212A\"",
		"SELECT 1 /* /* */ , * FROM duckdb_tables -- */",
		"SELECT * FROM U&\"d\\0075ckdb_tables\"",
		"SELECT 1\v, * FROM duckdb_tables",
	}
	for _, q := range attacks {
		if rows, err := run(t, db, q); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%q: %v %q, want ErrInvalidQuery", q, err, rows)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range attacks {
		// Check alone, given the query as Rewrite would have passed it.
		if strings.Contains(q, "U&") || strings.Contains(q, "/* /*") {
			continue
		}
		rw := strings.ReplaceAll(q, storeA, "eds_a")
		if _, err := Check(ctx, conn, rw, []string{"eds_a", "eds_b"}); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("Check %q: %v, want ErrInvalidQuery", q, err)
		}
	}
}
