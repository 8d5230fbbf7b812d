package event

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse holds Parse to its contract on any input: it never panics,
// and a record it accepts can be filed everywhere (every member that
// becomes part of a key or path has its AWS shape), agrees with a strict
// decoder on those members (no duplicate or escaped spelling can make two
// readers of the record disagree), survives the ledger's encoding, and
// parses again to the same envelope.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(record(nil)),
		string(record(map[string]any{"eventID": nil, "recipientAccountId": nil})),
		string(record(map[string]any{"eventTime": nil, "@timestamp": "2020-09-14T01:19:40.123Z"})),
		string(record(map[string]any{"eventType": "AwsCloudTrailInsight", "eventSource": nil, "eventName": nil, "insightDetails": map[string]any{"state": "Start"}})),
		string(record(map[string]any{"awsRegion": "../../x"})),
		`{"eventVersion":"1.0","userIdentity":{"type":"IAMUser","accountId":"999999999999","userName":"bob"},"eventTime":"2014-09-26T12:05:15Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1"}`,
		`{"eventVersion":"1.08","eventTime":"2020-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"X","awsRegion":"us-east-1","aws\u0052egion":"../x","recipientAccountId":"111122223333"}`,
		`{"eventVersion":"1.08","eventTime":"2020-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","recipientAccountId":"111122223333","resources":[{"ARN":"arn:aws:s3:::b/k","type":"AWS::S3::Object"}],"requestParameters":{"bucketName":"b","key":"k"}}`,
		`{}`, `[]`, `{"eventVersion":"1.08",}`, "",
	} {
		f.Add([]byte(s), "111122223333")
	}
	f.Add([]byte(record(map[string]any{"recipientAccountId": nil})), "")
	f.Fuzz(func(t *testing.T, raw []byte, def string) {
		e, err := Parse(raw, Defaults{AccountID: def})
		if err != nil {
			if e != nil {
				t.Fatal("an envelope with an error")
			}
			return
		}
		if !ValidAccountID(e.AccountID) || !ValidRegion(e.Region) || !ValidEventID(e.EventID) ||
			(e.EventSource != "" && !ValidEventSource(e.EventSource)) {
			t.Fatalf("accepted an envelope that cannot be filed: %+v", e)
		}
		if e.EventTime.Before(minEventTime) || !e.EventTime.Before(maxEventTime) {
			t.Fatalf("accepted eventTime %v", e.EventTime)
		}
		if len(e.Raw) > MaxRecordSize || !json.Valid(e.Raw) || e.Raw[0] != '{' {
			t.Fatalf("the stored record is not a JSON object of at most 256 KB: %q", e.Raw)
		}
		// What a strict decoder (exact names, escapes resolved, the last
		// of duplicates) reads from the stored record is what cairn files
		// it by.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e.Raw, &m); err != nil {
			t.Fatalf("the stored record does not decode: %v", err)
		}
		for name, want := range map[string]string{"awsRegion": e.Region, "recipientAccountId": e.AccountID, "eventID": e.EventID, "eventSource": e.EventSource} {
			v, ok := m[name]
			if !ok {
				if name == "eventSource" && want == "" {
					continue
				}
				t.Fatalf("the stored record lacks %s", name)
			}
			var got string
			if err := json.Unmarshal(v, &got); err != nil || got != want {
				t.Fatalf("%s: a strict decoder reads %s, cairn files %q", name, v, want)
			}
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Envelope
		if err := back.UnmarshalBinary(b); err != nil || back.EventID != e.EventID || back.AccountID != e.AccountID ||
			back.Region != e.Region || !back.EventTime.Equal(e.EventTime) || !bytes.Equal(back.Raw, e.Raw) {
			t.Fatalf("the ledger encoding changes the envelope: %v %+v", err, back)
		}
		again, err := Parse(e.Raw, Defaults{})
		if err != nil {
			t.Fatalf("the stored record no longer parses: %v", err)
		}
		if again.EventID != e.EventID || again.AccountID != e.AccountID || again.Region != e.Region ||
			again.EventSource != e.EventSource || again.Category != e.Category || again.ReadOnly != e.ReadOnly {
			t.Fatalf("parsing the stored record again gives another envelope:\n%+v\n%+v", again, e)
		}
	})
}
