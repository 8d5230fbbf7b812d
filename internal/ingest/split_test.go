package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSplitRequest(t *testing.T) {
	cases := []struct {
		body    string
		account string
		records []string
		wantErr bool
	}{
		{body: `{"Records":[{"a":1},{"b":"x,]}\"{"} , [1,2], "s", 3, null, true]}`, records: []string{`{"a":1}`, `{"b":"x,]}\"{"}`, `[1,2]`, `"s"`, `3`, `null`, `true`}},
		{body: ` { "DefaultAccountId" : "123456789012" , "Records" : [ ] } `, account: "123456789012", records: []string{}},
		{body: `{"Records":null}`, records: nil},
		{body: `{"Other":{"Records":[1]},"Records":[{"k":[{"x":"]"}]}]}`, records: []string{`{"k":[{"x":"]"}]}`}},
		{body: `{"Records":[1,]}`, wantErr: true},
		{body: `[1]`, wantErr: true},
		{body: `{"Records":{}}`, wantErr: true},
		{body: `{"DefaultAccountId":5}`, wantErr: true},
	}
	for _, c := range cases {
		req, recs, err := splitRequest([]byte(c.body))
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v, want error %v", c.body, err, c.wantErr)
			continue
		}
		if c.wantErr {
			continue
		}
		if req.DefaultAccountID != c.account {
			t.Errorf("%s: account %q", c.body, req.DefaultAccountID)
		}
		if len(recs) != len(c.records) {
			t.Errorf("%s: %d records, want %d", c.body, len(recs), len(c.records))
			continue
		}
		for i := range recs {
			if string(recs[i]) != c.records[i] {
				t.Errorf("%s: record %d = %s, want %s", c.body, i, recs[i], c.records[i])
			}
		}
	}
}

// FuzzSplitRequest checks the splitter against encoding/json on any input.
func FuzzSplitRequest(f *testing.F) {
	f.Add([]byte(`{"Records":[{"a":1},{"b":"x,]}\"{"}]}`))
	f.Add([]byte(`{"DefaultAccountId":"123456789012","Records":[[],{},"",0]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, recs, err := splitRequest(body)
		// The oracle matches member names exactly, as the AWS JSON protocol
		// does (encoding/json alone would fold their case).
		var want PutEventsRequest
		var members map[string]json.RawMessage
		stdErr := json.Unmarshal(body, &members)
		if stdErr == nil {
			if v, ok := members["DefaultAccountId"]; ok {
				stdErr = json.Unmarshal(v, &want.DefaultAccountID)
			}
			if v, ok := members["Records"]; ok && stdErr == nil {
				stdErr = json.Unmarshal(v, &want.Records)
			}
		}
		if err != nil {
			return // the splitter is stricter about shapes; it never accepts invalid JSON (checked below)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if stdErr != nil {
			return
		}
		if req.DefaultAccountID != want.DefaultAccountID || len(recs) != len(want.Records) {
			t.Fatalf("%q: got %q/%d, want %q/%d", body, req.DefaultAccountID, len(recs), want.DefaultAccountID, len(want.Records))
		}
		for i := range recs {
			if !bytes.Equal(bytes.TrimSpace(recs[i]), bytes.TrimSpace(want.Records[i])) {
				t.Fatalf("%q: record %d = %q, want %q", body, i, recs[i], want.Records[i])
			}
		}
	})
}
