package lakesql

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestTrinoFunctions runs the Trino functions and forms Lake users write
// that TestAcceptedQueries does not, on the stores of testDB.
func TestTrinoFunctions(t *testing.T) {
	db := testDB(t)
	e1 := " FROM " + storeA + " WHERE eventid = 'e1'"
	for _, c := range []struct{ q, want string }{
		{"SELECT date_diff('day', timestamp '2023-01-01 00:00:00', eventtime), to_iso8601(eventtime)" + e1, "9|2023-01-10T10:00:00.000Z"},
		{"SELECT json_extract_scalar(eventjson, '$.userIdentity.userName'), json_extract_scalar(eventjson, '$.requestParameters.x.y'), json_extract_scalar(eventjson, '$.requestParameters')" + e1, "root|1|NULL"},
		{"SELECT json_format(json_extract(eventjson, '$.requestParameters.x')), json_format(json_parse('[1,2]'))" + e1, `{"y":1}|[1,2]`},
		{"SELECT json_array_length('[1,2]'), json_array_contains('[1,2]', 2), json_array_contains('[\"a\"]', 'a'), json_array_get('[5,6]', 0), is_json_scalar('1'), is_json_scalar('[1]')", "2|true|true|5|true|false"},
		{"SELECT regexp_extract(useragent, 'aws-(cli)', 1), day_of_year(eventtime), doy(eventtime), day_of_month(eventtime), dow(eventtime), week_of_year(eventtime), year_of_week(eventtime), yow(eventtime)" + e1, "cli|10|10|10|2|2|2023|2023"},
		{"SELECT approx_percentile(date_diff('hour', timestamp '2023-01-10 00:00:00', eventtime), 0.5) FROM " + storeA, "36"},
		{"SELECT date_trunc('hour', eventtime), count(*) FROM " + storeA + " GROUP BY 1 ORDER BY 1", "2023-01-10 10:00:00|1;2023-01-11 12:00:00|1;2023-01-15 08:00:00|1"},
		{"SELECT to_unixtime(timestamp '1970-01-02 00:00:00'), from_unixtime(86400), current_timestamp > timestamp '2020-01-01 00:00:00'", "86400|1970-01-02 00:00:00|true"},
		{"SELECT contains(map_keys(requestparameters), 'x'), map_values(requestparameters)[1]" + e1, "true|logs"},
		{"SELECT array_sort(array_distinct(ARRAY[1, 1, 2])), array_max(ARRAY[1, 3]), array_min(ARRAY[1, 3]), slice(ARRAY[1, 2, 3, 4], 2, 2), split('a,b', ','), strpos('abc', 'c')", "[1 2]|3|1|[2 3]|[a b]|3"},
		{"SELECT length('ab'), lower('A'), upper('a'), substr('abc', 2), coalesce(NULL, 1), try_cast('x' AS integer), CAST(1 AS varchar), greatest(1, 2), least(1, 2)", "2|a|A|bc|1|NULL|1|2|1"},
		{"SELECT arbitrary(useridentity.accountid), max_by(eventname, eventtime), min_by(eventname, eventtime) FROM " + storeA, "111122223333|DescribeInstances|CreateBucket"},
		{"SELECT eventname, eventtime + interval '1' day FROM " + storeA + " WHERE eventtime > now() - interval '7' day OR eventid = 'e1'", "CreateBucket|2023-01-11 10:00:00"},
		{"SELECT date_format(eventtime, '%Y-%m-%d'), from_iso8601_timestamp('2023-01-10T10:00:00.000Z') = eventtime" + e1, "2023-01-10|true"},
		{"SELECT useridentity.sessioncontext.sessionissuer.arn, resources, requestparameters['nope'], element_at(requestparameters, 'nope')" + e1, "NULL|NULL|NULL|NULL"},
		{"SELECT count(*) FROM " + storeA + " WHERE sessioncredentialfromconsole = true", "0"},
		{"select count(*) from " + strings.ToUpper(storeA) + " where eventname = 'x'; -- done", "0"},
		{`SELECT eventname FROM "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/` + storeA + `" WHERE eventid = 'e1'`, "CreateBucket"},
		{"(SELECT eventname FROM " + storeA + " WHERE eventid = 'e1')", "CreateBucket"},
	} {
		rows, err := run(t, db, c.q)
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if got := strings.Join(rows, ";"); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.q, got, c.want)
		}
	}
}

// TestColumnNames checks the result's column names Check gives: aliases
// as written, a column's own name, _colN for other expressions.
func TestColumnNames(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct {
		q    string
		want []string
	}{
		{`SELECT eventname AS "EventName", count(*) AS Total, useridentity.arn, count(*) FROM ` + storeA + ` GROUP BY 1, 3`, []string{"EventName", "Total", "arn", "_col3"}},
		{"SELECT eventid FROM " + storeA + " UNION SELECT eventid AS other FROM " + storeB, []string{"eventid"}},
		{"SELECT * FROM " + storeA, nil},
	} {
		rw, err := Rewrite(c.q, testStores)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		got, err := Check(ctx, conn, rw, []string{"eds_a", "eds_b"})
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: columns %q, want %q", c.q, got, c.want)
		}
	}
}
