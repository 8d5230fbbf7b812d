package lakesql

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// realRecords reads the real CloudTrail records of the shared data set,
// as delivered to S3.
func realRecords(t *testing.T) []json.RawMessage {
	t.Helper()
	root := filepath.Join("..", "..", "testdata", "cloudtrail-real", "s3-layout")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("CAIRN_REQUIRE_ALL") != "" {
			t.Fatalf("the real data set is missing: %v", err)
		}
		t.Skip("the real data set is not beside the project")
	}
	var out []json.RawMessage
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		out = append(out, doc.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stagingDB is a database with a store's table "eds" and a staging
// table.
func stagingDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", Options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{CreateTable("eds"), `CREATE TABLE staging (` + StagingColumns + `)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// stage adds records to the staging table as the lake package does.
func stage[R ~[]byte](t *testing.T, db *sql.DB, records ...R) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO staging VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range records {
		rest, cut := Splice(r)
		if _, err := st.Exec(string(r), string(rest), cut[0], cut[1], cut[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestInsertFromJSONRealRecords loads every real record into a store's
// table and checks, record by record, what the columns hold against the
// records themselves.
func TestInsertFromJSONRealRecords(t *testing.T) {
	records := realRecords(t)
	ctx := context.Background()
	db := stagingDB(t)
	stage(t, db, records...)
	if _, err := db.ExecContext(ctx, InsertFromJSON("eds", "staging")); err != nil {
		t.Fatal(err)
	}

	type want struct {
		name, source, region, arn, user, typ, errCode string
		when                                          time.Time
		readOnly                                      *bool
		params, resources                             int
		paramValue                                    string // of one string-valued request parameter
		paramKey                                      string
	}
	byID := map[string]want{}
	rawByID := map[string]string{}
	for _, raw := range records {
		var r struct {
			EventID, EventName, EventSource, AwsRegion, EventTime, ErrorCode string
			ReadOnly                                                         any
			UserIdentity                                                     struct{ Type, Arn, UserName string }
			RequestParameters                                                map[string]any
			Resources                                                        []any
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		w := want{name: r.EventName, source: r.EventSource, region: r.AwsRegion, arn: r.UserIdentity.Arn, user: r.UserIdentity.UserName,
			typ: r.UserIdentity.Type, errCode: r.ErrorCode, params: len(r.RequestParameters), resources: len(r.Resources)}
		w.when, _ = time.Parse(time.RFC3339, r.EventTime)
		switch v := r.ReadOnly.(type) {
		case bool:
			w.readOnly = &v
		case string:
			b := v == "true"
			w.readOnly = &b
		}
		keys := make([]string, 0, len(r.RequestParameters))
		for k := range r.RequestParameters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := r.RequestParameters[k].(string); ok {
				w.paramKey, w.paramValue = k, s
				break
			}
		}
		byID[r.EventID] = w
		rawByID[r.EventID] = string(raw)
	}

	rows, err := db.QueryContext(ctx, `SELECT eventid, eventname, eventsource, awsregion, coalesce(useridentity.arn, ''), coalesce(useridentity.username, ''),
		coalesce(useridentity."type", ''), coalesce(errorcode, ''), eventtime, readonly, coalesce(cardinality(requestparameters), 0), coalesce(len(resources), 0),
		requestparameters, eventjson, eventjsonchecksum FROM eds`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, name, source, region, arn, user, typ, errCode, eventJSON, checksum string
		var when time.Time
		var readOnly sql.NullBool
		var params, resources int
		var rp any
		if err := rows.Scan(&id, &name, &source, &region, &arn, &user, &typ, &errCode, &when, &readOnly, &params, &resources, &rp, &eventJSON, &checksum); err != nil {
			t.Fatal(err)
		}
		w, ok := byID[id]
		if !ok {
			t.Fatalf("row with unknown eventid %q", id)
		}
		n++
		got := want{name: name, source: source, region: region, arn: arn, user: user, typ: typ, errCode: errCode, when: when.UTC(), params: params, resources: resources}
		if readOnly.Valid {
			got.readOnly = &readOnly.Bool
		}
		if got.name != w.name || got.source != w.source || got.region != w.region || got.arn != w.arn || got.user != w.user ||
			got.typ != w.typ || got.errCode != w.errCode || !got.when.Equal(w.when) || got.params != w.params || got.resources != w.resources ||
			(got.readOnly == nil) != (w.readOnly == nil) || got.readOnly != nil && *got.readOnly != *w.readOnly {
			t.Fatalf("event %s:\n got %+v\nwant %+v", id, got, w)
		}
		if w.paramKey != "" {
			var v string
			if err := db.QueryRowContext(ctx, `SELECT requestparameters[?] FROM eds WHERE eventid = ?`, w.paramKey, id).Scan(&v); err != nil || v != w.paramValue {
				t.Fatalf("event %s: requestparameters[%q] = %q (%v), want %q", id, w.paramKey, v, err, w.paramValue)
			}
		}
		if eventJSON != rawByID[id] {
			t.Fatalf("event %s: eventjson is not the record as it came:\n got %s\nwant %s", id, eventJSON, rawByID[id])
		}
		if sum := sha256.Sum256([]byte(eventJSON)); checksum != hex.EncodeToString(sum[:]) {
			t.Fatalf("event %s: eventjsonchecksum %s", id, checksum)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(byID) || n < 15000 {
		t.Fatalf("%d rows for %d distinct records", n, len(byID))
	}
	// Nearly every record is kept without its ID and time, which its
	// columns hold.
	var cut, all int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE contains(eventjson, chr(1) || 'E') AND contains(eventjson, chr(1) || 'T')), count(*) FROM `+RowsTable("eds")).Scan(&cut, &all); err != nil {
		t.Fatal(err)
	}
	if cut < all*9/10 {
		t.Fatalf("only %d of %d stored records have their eventID and eventTime cut out", cut, all)
	}
}

// TestInsertFromJSONOddMembers loads records whose members have types
// other than CloudTrail's: the record is kept, and a member that cannot
// be read as its column's type is NULL there.
func TestInsertFromJSONOddMembers(t *testing.T) {
	ctx := context.Background()
	db := stagingDB(t)
	records := []string{
		`{"eventID":"a","eventTime":"2026-01-02T03:04:05Z","requestParameters":"text","readOnly":"true","resources":{"ARN":"x"}}`,
		`{"eventID":"b","eventTime":"not a time","requestParameters":[1,2],"responseElements":{"n":1,"o":{"p":[true]},"s":"v"},"readOnly":false}`,
		`{"eventID":"c","userIdentity":"odd","additionalEventData":null,"managementEvent":"false"}`,
		// A nested value met first, a time with milliseconds, an escaped
		// ID, the same ID twice: the raw record still comes back whole.
		`{"requestParameters":{"eventID":"zzz"},"eventID":"d","eventTime":"2026-01-02T03:04:05.123Z"}`,
		`{"eventID":"e\u0041","requestID":"r1","eventTime":"2026-01-02T03:04:05Z","requestParameters":{"requestID":"r1"}}`,
	}
	for _, r := range records {
		stage(t, db, []byte(r))
	}
	if _, err := db.ExecContext(ctx, InsertFromJSON("eds", "staging")); err != nil {
		t.Fatalf("odd members refused: %v", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT eventid, CAST(eventtime AS VARCHAR), CAST(requestparameters AS VARCHAR), CAST(responseelements AS VARCHAR),
		CAST(readonly AS VARCHAR), CAST(managementevent AS VARCHAR), eventjson FROM eds ORDER BY eventid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		var tm, req, resp, ro, me sql.NullString
		var raw string
		if err := rows.Scan(&id, &tm, &req, &resp, &ro, &me, &raw); err != nil {
			t.Fatal(err)
		}
		same := slices.Contains(records, raw)
		got = append(got, strings.Join([]string{id, tm.String, req.String, resp.String, ro.String, me.String, map[bool]string{true: "raw kept"}[same]}, "|"))
	}
	want := []string{
		"a|2026-01-02 03:04:05|||true||raw kept",
		`b|||{n=1, o='{"p":[true]}', s=v}|false||raw kept`,
		"c|||||false|raw kept",
		"d|2026-01-02 03:04:05.123|{eventID=zzz}||||raw kept",
		"eA|2026-01-02 03:04:05|{requestID=r1}||||raw kept",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
