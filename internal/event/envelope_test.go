package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseFillsWhatOldRecordsLack(t *testing.T) {
	// An eventVersion 1.0 record: no eventID, recipientAccountId or readOnly.
	raw := `{"eventVersion":"1.0","userIdentity":{"type":"IAMUser","accountId":"999999999999","userName":"bob","accessKeyId":"AKIAB"},"eventTime":"2014-09-26T12:05:15Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"1.2.3.4","requestParameters":null,"responseElements":null}`
	e, err := Parse([]byte(raw), Defaults{AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	if e.AccountID != "123456789012" || !e.ReadOnly || e.Username != "bob" || e.AccessKeyID != "AKIAB" || e.Category != Management {
		t.Fatalf("envelope %+v", e)
	}
	if !strings.HasPrefix(string(e.Raw), raw[:len(raw)-1]) {
		t.Fatalf("original bytes changed: %s", e.Raw)
	}
	var back map[string]any
	if err := json.Unmarshal(e.Raw, &back); err != nil {
		t.Fatal(err)
	}
	if back["recipientAccountId"] != "123456789012" || back["readOnly"] != true || back["eventID"] != e.EventID {
		t.Fatalf("derived fields not in the record: %s", e.Raw)
	}
	// The derived ID is stable, so ingesting the file twice adds nothing.
	e2, _ := Parse([]byte(raw), Defaults{AccountID: "123456789012"})
	if e2.EventID != e.EventID || len(e.EventID) != 36 {
		t.Fatalf("derived IDs %q %q", e.EventID, e2.EventID)
	}
	// Without a default, the caller's own account in userIdentity is used.
	e3, err := Parse([]byte(raw), Defaults{})
	if err != nil || e3.AccountID != "999999999999" {
		t.Fatalf("fallback account: %v %+v", err, e3)
	}
}

func TestParseKeepsCompleteRecordsByteForByte(t *testing.T) {
	raw := `{"eventVersion":"1.11","eventTime":"2026-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"3038ebd2-c98a-4c65-9b6e-e22506292313","readOnly":true,"managementEvent":false,"eventCategory":"Data","recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/sess"}}`
	e, err := Parse([]byte(raw), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Raw) != raw {
		t.Fatalf("record rewritten:\n%s", e.Raw)
	}
	if e.Category != Data || e.Username != "sess" || !e.EventTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("envelope %+v", e)
	}
}

func TestParseEveryEventVersion(t *testing.T) {
	for _, v := range []string{"1.0", "1.01", "1.02", "1.03", "1.04", "1.05", "1.06", "1.07", "1.08", "1.09", "1.10", "1.11"} {
		raw := `{"eventVersion":"` + v + `","eventTime":"2020-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"6f3c1a4e-9b1d-4c2e-8f0a-1b2c3d4e5f60"}`
		if _, err := Parse([]byte(raw), Defaults{}); err != nil {
			t.Errorf("eventVersion %s: %v", v, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := map[string]any{"eventVersion": "1.08", "eventTime": "2020-01-01T00:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "us-east-1", "recipientAccountId": "111122223333"}
	with := func(k string, v any) string {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := map[string]struct{ raw, want string }{
		"not JSON":         {`{"eventVersion":`, "not valid JSON"},
		"not an object":    {`[1]`, "not a JSON object"},
		"no version":       {with("eventVersion", nil), "eventVersion is missing"},
		"bad version":      {with("eventVersion", "2.0"), "not a CloudTrail event version"},
		"no source":        {with("eventSource", nil), "eventSource is missing"},
		"no name":          {with("eventName", nil), "eventName is missing"},
		"no region":        {with("awsRegion", nil), "awsRegion is missing"},
		"no time":          {with("eventTime", nil), "eventTime is missing"},
		"bad time":         {with("eventTime", "yesterday"), "not a UTC time"},
		"bad account":      {with("recipientAccountId", "12"), "not a 12-digit"},
		"bad readOnly":     {with("readOnly", "maybe"), "not valid JSON"},
		"too large":        {with("requestParameters", map[string]string{"x": strings.Repeat("a", MaxRecordSize)}), "the limit is 262144 bytes"},
		"trailing garbage": {with("eventName", "X") + "x", "not valid JSON"},
	}
	for name, c := range cases {
		_, err := Parse([]byte(c.raw), Defaults{})
		if err == nil || !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestParseTakesLogstashTimestamp(t *testing.T) {
	raw := `{"eventVersion":"1.05","@timestamp":"2020-09-14T01:19:40.123Z","eventSource":"s3.amazonaws.com","eventName":"ListObjects","awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"6f3c1a4e-9b1d-4c2e-8f0a-1b2c3d4e5f60"}`
	e, err := Parse([]byte(raw), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Raw), `"eventTime":"2020-09-14T01:19:40Z"`) || e.Category != Data {
		t.Fatalf("%s %+v", e.Raw, e)
	}
}

func TestEnvelopeBinaryRoundTrip(t *testing.T) {
	e := &Envelope{EventID: "id", EventTime: time.Unix(1600000000, 5).UTC(), EventName: "n", EventSource: "s", AccountID: "111122223333",
		Region: "r", ReadOnly: true, Category: Insight, Username: "u", AccessKeyID: "k",
		Resources: []Resource{{Type: "T", Name: "N"}, {Name: "only name"}}, Raw: []byte(`{"a":1}`)}
	b, _ := e.MarshalBinary()
	var got Envelope
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(e)
	if string(gb) != string(wb) {
		t.Fatalf("round trip\n%s\n%s", gb, wb)
	}
	for i := range b {
		var x Envelope
		x.UnmarshalBinary(b[:i]) // must not panic on any truncation
	}
}

// TestParseAgreesWithStrictDecoding checks, on every real record, that
// Parse's single-pass decoding derives the same envelope fields as the
// derivations applied to the record decoded by encoding/json.
func TestParseAgreesWithStrictDecoding(t *testing.T) {
	for _, rr := range realRecords(t) {
		e, err := Parse(rr.raw, Defaults{AccountID: "123456789012"})
		if err != nil {
			t.Fatalf("%s: %v", rr.raw[:min(len(rr.raw), 200)], err)
		}
		r := decodeRecord(t, rr.raw)
		user := ""
		if r.UserIdentity != nil {
			user = r.UserIdentity.AccessKeyID
		}
		want := struct {
			cat             Category
			name, src, key  string
			username, resrc string
		}{Classify(r), r.EventName, r.EventSource, user, LookupUsername(r), fmt.Sprint(LookupResources(r))}
		got := struct {
			cat             Category
			name, src, key  string
			username, resrc string
		}{e.Category, e.EventName, e.EventSource, e.AccessKeyID, e.Username, fmt.Sprint(e.Resources)}
		if got != want {
			t.Fatalf("record %s:\n got %+v\nwant %+v", e.EventID, got, want)
		}
	}
}
