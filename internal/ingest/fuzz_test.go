package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"testing"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
)

// FuzzPutEvents holds PutEvents to its contract on any body: it never
// panics; a body it takes gets one answer per record (accepted or refused
// by index, in order, each index once); and every record it appends is
// one delivery can place.
func FuzzPutEvents(f *testing.F) {
	f.Add([]byte(`{"Records":[`+rec(1, "")+`,`+rec(2, `"awsRegion":"../../x"`)+`]}`), false)
	f.Add([]byte(`{"DefaultAccountId":"111122223333","Records":[`+rec(3, `"recipientAccountId":null`)+`,{},[],"x",null]}`), true)
	f.Add([]byte(`{"Records":[`+rec(4, `"recipientAccountId":"999999999999"`)+`]}`), false)
	f.Add([]byte(`{"DefaultAccountId":"../x","Records":[]}`), true)
	f.Add([]byte(`{"Records":{}}`), false)
	f.Fuzz(func(t *testing.T, body []byte, admin bool) {
		l := &memLedger{}
		c := &awsapi.Call{Operation: "PutEvents", AccountID: "111122223333", Region: "us-east-1", Body: body,
			Principal: auth.Principal{Key: auth.Key{AccountID: "111122223333"}, Admin: admin}}
		out, err := PutEventsOp(l).Handle(context.Background(), c)
		if err != nil {
			if _, ok := err.(*awsapi.Error); !ok {
				t.Fatalf("an error outside AWS's shape: %v", err)
			}
			if len(l.entries) != 0 {
				t.Fatal("a refused call appended records")
			}
			return
		}
		resp := out.(PutEventsResponse)
		_, records, _ := splitRequest(body)
		if resp.Accepted+len(resp.Failed) != len(records) || len(l.entries) != resp.Accepted {
			t.Fatalf("%d records: %d accepted, %d failed, %d appended", len(records), resp.Accepted, len(resp.Failed), len(l.entries))
		}
		last := -1
		for _, f := range resp.Failed {
			if f.Index <= last || f.Index >= len(records) || f.ErrorMessage == "" || len(f.ErrorMessage) > 1024 {
				t.Fatalf("failure %+v after index %d", f, last)
			}
			last = f.Index
		}
		for _, e := range l.entries {
			var env event.Envelope
			if err := env.UnmarshalBinary(e.Value); err != nil {
				t.Fatal(err)
			}
			if err := event.ValidateJSON(env.Raw); err != nil {
				t.Fatalf("appended a record that is not JSON (%v): %q", err, env.Raw)
			}
			if !event.ValidAccountID(env.AccountID) || !event.ValidRegion(env.Region) || !event.ValidEventID(env.EventID) ||
				e.Account != env.AccountID || e.ID != env.EventID || (!admin && env.AccountID != "111122223333") {
				t.Fatalf("appended %+v as %s/%s", env, e.Account, e.ID)
			}
		}
	})
}

// FuzzRead holds the reader of `cairn ingest` to its contract on any file
// content, gzipped or not: it never panics, and every record it returns
// is one JSON value.
func FuzzRead(f *testing.F) {
	one := rec(1, "")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"Records":[` + one + `]}`))
	w.Close()
	for _, s := range [][]byte{
		[]byte(`{"Records":[` + one + `,` + one + `]}`),
		[]byte(`[` + one + `]`),
		[]byte(one + "\n" + one + "\n"),
		[]byte(`{"Events":[{"EventId":"x","CloudTrailEvent":` + string(mustQuote(one)) + `}]}`),
		[]byte(`{"EventId":"x","CloudTrailEvent":"not json"}`),
		gz.Bytes(), gz.Bytes()[:10], {0x1f, 0x8b}, []byte(`42`), []byte(`{"Records":null}`), nil,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range recs {
			if !json.Valid(r) && !bytes.Contains(in, []byte("CloudTrailEvent")) {
				t.Fatalf("record %q is not JSON", r)
			}
		}
	})
}

func mustQuote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
