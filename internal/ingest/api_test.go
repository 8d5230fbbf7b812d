package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
)

// memLedger keeps what PutEvents appends.
type memLedger struct{ entries []ledger.Entry }

func (l *memLedger) Append(ctx context.Context, entries []ledger.Entry) ([]ledger.Result, error) {
	l.entries = append(l.entries, entries...)
	return make([]ledger.Result, len(entries)), nil
}

// rec is a valid record of account 111122223333 with members replaced.
func rec(n int, over string) string {
	base := fmt.Sprintf(`"eventVersion":"1.08","eventTime":"2026-11-20T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances",`+
		`"awsRegion":"us-east-1","recipientAccountId":"111122223333","eventID":"00000000-0000-4000-8000-%012d",`+
		`"userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"alice"}`, n)
	if over == "" {
		return "{" + base + "}"
	}
	// Later members replace earlier ones by name: rebuild without them.
	var m map[string]json.RawMessage
	json.Unmarshal([]byte("{"+base+"}"), &m)
	var o map[string]json.RawMessage
	if err := json.Unmarshal([]byte("{"+over+"}"), &o); err != nil {
		panic(err)
	}
	for k, v := range o {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func putEvents(t *testing.T, l *memLedger, admin bool, records ...string) PutEventsResponse {
	t.Helper()
	body := `{"Records":[` + strings.Join(records, ",") + `]}`
	c := &awsapi.Call{Operation: "PutEvents", AccountID: "111122223333", Region: "us-east-1", Body: []byte(body),
		Principal: auth.Principal{Key: auth.Key{AccountID: "111122223333", AccessKeyID: "AKIAMEMBER"}, Admin: admin}}
	out, err := PutEventsOp(l).Handle(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return out.(PutEventsResponse)
}

// TestPutEventsRefusesEachBadRecordAlone is the attack as a member
// account made it (a record with awsRegion "../../x") and its siblings,
// each beside good records that must still be taken.
func TestPutEventsRefusesEachBadRecordAlone(t *testing.T) {
	bad := map[string]struct{ over, want string }{
		"region traversal":        {`"awsRegion":"../../x"`, `awsRegion "../../x" is not a Region name`},
		"region with slash":       {`"awsRegion":"us-east-1/evil"`, "awsRegion"},
		"recipient not digits":    {`"recipientAccountId":"../../11112"`, `recipientAccountId "../../11112" is not a 12-digit account ID`},
		"identity account":        {`"userIdentity":{"type":"IAMUser","accountId":"1111/2222/33"}`, `userIdentity.accountId "1111/2222/33"`},
		"source with path":        {`"eventSource":"ec2.amazonaws.com/../../x"`, "eventSource"},
		"source with backslash":   {`"eventSource":"ec2\\amazonaws.com"`, "eventSource"},
		"eventID with path":       {`"eventID":"../../../etc/passwd"`, "eventID"},
		"eventTime with offset":   {`"eventTime":"2026-11-20T10:00:00+01:00"`, "eventTime"},
		"eventTime out of range":  {`"eventTime":"9999-01-01T00:00:00Z"`, "eventTime"},
		"region given twice":      {"", "awsRegion appears more than once"},
		"another account's event": {`"recipientAccountId":"999999999999"`, "may not write events of account 999999999999"},
	}
	var records []string
	var names []string
	good := 0
	for name, c := range bad {
		records = append(records, rec(len(records), ""))
		good++
		r := rec(len(records), c.over)
		if c.over == "" {
			// A map would fold the duplicate away: splice it in.
			r = r[:len(r)-1] + `,"awsRegion":"../x"}`
		}
		names = append(names, name)
		records = append(records, r)
	}
	l := &memLedger{}
	resp := putEvents(t, l, false, records...)
	if resp.Accepted != good || len(l.entries) != good {
		t.Fatalf("accepted %d (appended %d), want the %d good records", resp.Accepted, len(l.entries), good)
	}
	if len(resp.Failed) != len(bad) {
		t.Fatalf("%d failures, want %d: %+v", len(resp.Failed), len(bad), resp.Failed)
	}
	for i, f := range resp.Failed {
		name := names[i]
		if f.Index != 2*i+1 {
			t.Errorf("%s: failure at index %d, want %d", name, f.Index, 2*i+1)
		}
		wantCode := awsapi.CodeInvalidRecord
		if name == "another account's event" {
			wantCode = awsapi.CodeRecordAccessDenied
		}
		if f.ErrorCode != wantCode || !strings.Contains(f.ErrorMessage, bad[name].want) {
			t.Errorf("%s: %s %q, want %s %q", name, f.ErrorCode, f.ErrorMessage, wantCode, bad[name].want)
		}
	}
	for _, e := range l.entries {
		var env event.Envelope
		if err := env.UnmarshalBinary(e.Value); err != nil {
			t.Fatal(err)
		}
		if !event.ValidRegion(env.Region) || env.AccountID != "111122223333" {
			t.Fatalf("a bad record was appended: %+v", env)
		}
	}
}

// TestPutEventsAdministratorIsHeldToTheSameShapes: the administrator may
// write for any account, but not records that cannot be filed.
func TestPutEventsAdministratorIsHeldToTheSameShapes(t *testing.T) {
	l := &memLedger{}
	resp := putEvents(t, l, true, rec(1, `"awsRegion":"../../x"`), rec(2, `"recipientAccountId":"999999999999"`))
	if resp.Accepted != 1 || len(resp.Failed) != 1 || resp.Failed[0].Index != 0 || resp.Failed[0].ErrorCode != awsapi.CodeInvalidRecord {
		t.Fatalf("%+v", resp)
	}
}

// TestPutEventsBadDefaultAccount: the account a file's path gives travels
// as DefaultAccountId and is held to the account shape.
func TestPutEventsBadDefaultAccount(t *testing.T) {
	c := &awsapi.Call{Operation: "PutEvents", AccountID: "111122223333", Body: []byte(`{"DefaultAccountId":"../../x","Records":[]}`),
		Principal: auth.Principal{Admin: true}}
	_, err := PutEventsOp(&memLedger{}).Handle(context.Background(), c)
	var ae *awsapi.Error
	if err == nil || !asAPIError(err, &ae) || ae.Code != awsapi.CodeValidation {
		t.Fatalf("DefaultAccountId ../../x: %v", err)
	}
}

func asAPIError(err error, target **awsapi.Error) bool {
	e, ok := err.(*awsapi.Error)
	*target = e
	return ok
}
