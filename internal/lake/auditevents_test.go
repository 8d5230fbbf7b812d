package lake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// FuzzPutAuditEvents feeds PutAuditEvents bodies to its decoding and
// checks: a body is refused with an API error or split into events that
// each either fail with a code or become a record of the channel owner's,
// in Lake's envelope, holding the event's own data.
func FuzzPutAuditEvents(f *testing.F) {
	data := `{"version":"1.0","userIdentity":{"type":"User","principalId":"alice","details":{"k":[1,{"a":null}]}},"eventSource":"my-app","eventName":"Login","eventTime":"2026-11-20T10:00:00Z","UID":"u-1","recipientAccountId":"123456789012","sourceIPAddress":"203.0.113.9","requestParameters":{"a":"b","n":1.5e300}}`
	sum := sha256.Sum256([]byte(data))
	event := func(id, data, checksum string) map[string]any {
		e := map[string]any{"id": id, "eventData": data}
		if checksum != "" {
			e["eventDataChecksum"] = checksum
		}
		return e
	}
	for _, body := range []any{
		map[string]any{"auditEvents": []any{event("1", data, base64.StdEncoding.EncodeToString(sum[:]))}},
		map[string]any{"auditEvents": []any{event("1", data, ""), event("2", strings.Replace(data, "123456789012", "210987654321", 1), ""), event("3", "[]", "")}},
		map[string]any{"auditEvents": []any{event("1", data, ""), event("1", data, "")}},
		map[string]any{"auditEvents": []any{event("a-b_c", strings.Replace(data, "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.123", 1), "x")}},
		map[string]any{"auditEvents": []any{event("x", strings.Replace(data, `"UID":"u-1",`, "", 1), "")}},
		map[string]any{"auditEvents": []any{event("x", strings.Replace(data, "203.0.113.9", "not-an-ip", 1), "")}},
		map[string]any{"auditEvents": []any{event("x", strings.Replace(data, "Login", "L\u212Agin\u0000", 1), "")}},
		map[string]any{"auditEvents": []any{}},
		map[string]any{"auditEvents": []any{map[string]any{"id": "1"}}},
		map[string]any{"auditEvents": "x"},
	} {
		b, _ := json.Marshal(body)
		f.Add(b)
	}
	f.Add([]byte(`{"auditEvents":[{"id":"1","eventData":"{\"version\":\"1.0\"}","eventData":"{}"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Add([]byte(`{"auditEvents":[{"id":"1","eventData":"{\"a\":1}\u0000"}]}`))

	ch := &Channel{ID: "c1", Name: "app", Account: "123456789012", Region: "us-east-1"}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := decodeAuditEvents(&awsapi.Call{Body: body})
		if err != nil {
			var ae *awsapi.Error
			if !errors.As(err, &ae) {
				t.Fatalf("not an API error: %v", err)
			}
			return
		}
		if len(events) < 1 || len(events) > maxAuditEventsPerCall {
			t.Fatalf("%d events accepted", len(events))
		}
		n := 0
		out, err := checkAuditEvents(events, ch, "us-east-1", now, func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) })
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Successful)+len(out.Failed) != len(events) || len(out.records) != len(out.Successful) {
			t.Fatalf("%d events: %d successful, %d failed, %d records", len(events), len(out.Successful), len(out.Failed), len(out.records))
		}
		for _, fl := range out.Failed {
			if fl.ErrorCode == "" {
				t.Fatalf("event %s failed without a code", fl.ID)
			}
		}
		for i, raw := range out.records {
			var r auditRecord
			if !json.Valid(raw) || json.Unmarshal(raw, &r) != nil {
				t.Fatalf("record %d is not JSON: %s", i, raw)
			}
			if r.RecipientAccountID != ch.Account || r.EventID != out.Successful[i].EventID || r.EventCategory != "ActivityAuditLog" ||
				r.Metadata.ChannelARN != ch.ARN() || r.AWSRegion != "us-east-1" || r.EventVersion != AuditEventVersion {
				t.Fatalf("record %d: %s", i, raw)
			}
			if _, err := time.Parse(time.RFC3339, r.EventTime); err != nil {
				t.Fatalf("record %d: eventTime %q", i, r.EventTime)
			}
			var d struct {
				RecipientAccountID string `json:"recipientAccountId"`
			}
			if json.Unmarshal(r.EventData, &d) != nil || d.RecipientAccountID != ch.Account {
				t.Fatalf("record %d: eventData %s", i, r.EventData)
			}
		}
	})
}
