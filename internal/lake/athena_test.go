package lake

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tutorialRecord is what the tutorial queries read of a record.
type tutorialRecord struct {
	EventTime, EventName, EventSource, SourceIPAddress, ErrorCode string
	UserIdentity                                                  struct {
		Type, UserName, Arn string
		SessionContext      struct {
			SessionIssuer struct{ Arn string }
		}
	}
	RequestParameters map[string]any
}

// TestAthenaTutorialQueries runs queries as CloudTrail's and Athena's
// tutorials write them for a table of CloudTrail logs, with only the
// table's name changed to the store's ID, on the real archive, and checks
// each answer against the records themselves.
func TestAthenaTutorialQueries(t *testing.T) {
	db, raw := realStore(t)
	var recs []tutorialRecord
	for _, r := range raw {
		var tr tutorialRecord
		if err := json.Unmarshal(r, &tr); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, tr)
	}
	at := func(r tutorialRecord) time.Time {
		ts, _ := time.Parse(time.RFC3339, r.EventTime)
		return ts
	}
	count := func(keep func(tutorialRecord) bool) int {
		n := 0
		for _, r := range recs {
			if keep(r) {
				n++
			}
		}
		return n
	}
	distinct := func(keep func(tutorialRecord) bool, key func(tutorialRecord) string) []string {
		set := map[string]bool{}
		for _, r := range recs {
			if keep(r) {
				set[key(r)] = true
			}
		}
		var out []string
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	topCounts := func(keep func(tutorialRecord) bool, key func(tutorialRecord) string, n int) []string {
		counts := map[string]int{}
		for _, r := range recs {
			if keep(r) {
				counts[key(r)]++
			}
		}
		var keys []string
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if counts[keys[i]] != counts[keys[j]] {
				return counts[keys[i]] > counts[keys[j]]
			}
			return keys[i] < keys[j]
		})
		var out []string
		for _, k := range keys[:min(n, len(keys))] {
			out = append(out, k+"="+strconv.Itoa(counts[k]))
		}
		return out
	}
	since := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
	s3 := func(r tutorialRecord) bool { return r.EventSource == "s3.amazonaws.com" }
	bucket := func(r tutorialRecord) string { s, _ := r.RequestParameters["bucketName"].(string); return s }

	id := realStoreID
	for _, c := range []struct {
		name, sql string
		// what the rows must be, one line per row, columns joined by "|"
		want []string
		// or, for long answers, how many rows
		rows int
	}{
		{
			name: "who called in the last week",
			sql:  "SELECT DISTINCT useridentity.username FROM " + id + " WHERE from_iso8601_timestamp(eventtime) > date_add('day', -7, now())",
			// The archive is years old.
			rows: count(func(r tutorialRecord) bool { return at(r).After(time.Now().AddDate(0, 0, -7)) }),
		},
		{
			name: "who called since a date",
			sql:  "SELECT DISTINCT useridentity.username FROM " + id + " WHERE from_iso8601_timestamp(eventtime) > from_iso8601_timestamp('2018-01-01T00:00:00Z') AND useridentity.username IS NOT NULL ORDER BY 1",
			want: distinct(func(r tutorialRecord) bool { return at(r).After(since) && r.UserIdentity.UserName != "" }, func(r tutorialRecord) string { return r.UserIdentity.UserName }),
		},
		{
			name: "root activity",
			sql:  "SELECT * FROM " + id + " WHERE useridentity.type = 'Root'",
			rows: count(func(r tutorialRecord) bool { return r.UserIdentity.Type == "Root" }),
		},
		{
			name: "a first look",
			sql:  "SELECT useridentity.arn, eventname, sourceipaddress, eventtime FROM " + id + " LIMIT 100",
			rows: 100,
		},
		{
			name: "assumed roles",
			sql: "SELECT eventsource, eventname, useridentity.sessioncontext.attributes.creationdate, useridentity.sessioncontext.sessionissuer.arn FROM " + id +
				" WHERE useridentity.sessioncontext.sessionissuer.arn IS NOT NULL ORDER BY eventsource, eventname LIMIT 10",
			rows: min(10, count(func(r tutorialRecord) bool { return r.UserIdentity.SessionContext.SessionIssuer.Arn != "" })),
		},
		{
			name: "console logins in a window, ISO 8601 strings",
			sql: "SELECT useridentity.username, sourceipaddress, eventtime, additionaleventdata FROM " + id +
				" WHERE eventname = 'ConsoleLogin' AND eventtime >= '2017-01-01T00:00:00Z' AND eventtime < '2019-01-01T00:00:00Z'",
			rows: count(func(r tutorialRecord) bool {
				return r.EventName == "ConsoleLogin" && !at(r).Before(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)) && at(r).Before(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC))
			}),
		},
		{
			name: "errors by call",
			sql:  "SELECT eventname, count(*) AS total FROM " + id + " WHERE errorcode IS NOT NULL GROUP BY eventname ORDER BY total DESC, eventname LIMIT 10",
			want: topCounts(func(r tutorialRecord) bool { return r.ErrorCode != "" }, func(r tutorialRecord) string { return r.EventName }, 10),
		},
		{
			name: "buckets, JSON functions on requestparameters",
			sql: "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, count(*) AS n FROM " + id +
				" WHERE eventsource = 's3.amazonaws.com' AND json_extract_scalar(requestparameters, '$.bucketName') IS NOT NULL GROUP BY 1 ORDER BY n DESC, bucket LIMIT 5",
			want: topCounts(func(r tutorialRecord) bool { return s3(r) && bucket(r) != "" }, bucket, 5),
		},
		{
			name: "deletions by user",
			sql:  "SELECT useridentity.arn, count(*) AS n FROM " + id + " WHERE eventname LIKE 'Delete%' AND useridentity.arn IS NOT NULL GROUP BY useridentity.arn ORDER BY n DESC, 1 LIMIT 5",
			want: topCounts(func(r tutorialRecord) bool {
				return strings.HasPrefix(r.EventName, "Delete") && r.UserIdentity.Arn != ""
			}, func(r tutorialRecord) string { return r.UserIdentity.Arn }, 5),
		},
	} {
		cols, rows, err := runLake(t, db, c.sql)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.want == nil {
			if c.rows == 0 && !strings.Contains(c.name, "last week") {
				t.Fatalf("%s: nothing to compare with", c.name)
			}
			if len(rows) != c.rows {
				t.Errorf("%s: %d rows, want %d", c.name, len(rows), c.rows)
			}
			continue
		}
		if len(c.want) < 3 {
			t.Fatalf("%s: the archive gives too little to compare with: %q", c.name, c.want)
		}
		var got []string
		for _, row := range rows {
			var f []string
			for _, v := range row {
				if v == nil {
					f = append(f, "")
				} else {
					f = append(f, *v)
				}
			}
			got = append(got, strings.Join(f, "="))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s (%v):\n got %q\nwant %q", c.name, cols, got, c.want)
		}
	}
}
