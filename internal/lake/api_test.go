package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/store"
)

type apiFixture struct {
	t     testing.TB
	a     *API
	pos   uint64
	clock time.Time
	extra map[string]awsapi.Op // more operations (the queries')
}

func newAPI(t *testing.T) *apiFixture {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := OpenStores(db)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{t: t, pos: 100, clock: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	f.a = &API{Stores: s, Position: func() uint64 { return f.pos }, Now: func() time.Time { return f.clock },
		IsOrgManagement: func(account string) bool { return account == "999999999999" }}
	return f
}

func (f *apiFixture) call(account, region, op string, in any) (map[string]any, string) {
	f.t.Helper()
	body, _ := json.Marshal(in)
	o, ok := f.extra[op]
	if !ok {
		o = f.a.Ops()[op]
	}
	out, err := o.Handle(context.Background(), &awsapi.Call{Operation: op, AccountID: account, Region: region, Body: body})
	if err != nil {
		var ae *awsapi.Error
		if !errors.As(err, &ae) {
			f.t.Fatalf("%s: not an API error: %v", op, err)
		}
		return nil, ae.Code
	}
	b, _ := json.Marshal(out)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m, ""
}

func (f *apiFixture) ok(op string, in any) map[string]any {
	f.t.Helper()
	out, code := f.call("123456789012", "us-east-1", op, in)
	if code != "" {
		f.t.Fatalf("%s %v: %s", op, in, code)
	}
	return out
}

func (f *apiFixture) fails(op string, in any, want string) {
	f.t.Helper()
	if _, code := f.call("123456789012", "us-east-1", op, in); code != want {
		f.t.Errorf("%s %v: got %q, want %s", op, in, code, want)
	}
}

func TestCreateDefaults(t *testing.T) {
	f := newAPI(t)
	out := f.ok("CreateEventDataStore", map[string]any{"Name": "my-store"})
	arn := out["EventDataStoreArn"].(string)
	id, account, region, ok := ParseRef(arn)
	if !ok || account != "123456789012" || region != "us-east-1" || len(id) != 36 {
		t.Fatalf("ARN %q", arn)
	}
	sels, _ := json.Marshal(out["AdvancedEventSelectors"])
	want := map[string]any{
		"Name": "my-store", "Status": "CREATED", "MultiRegionEnabled": true, "OrganizationEnabled": false,
		"RetentionPeriod": 366.0, "TerminationProtectionEnabled": true, "BillingMode": "EXTENDABLE_RETENTION_PRICING",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %v, want %v", k, out[k], v)
		}
	}
	if string(sels) != `[{"FieldSelectors":[{"Equals":["Management"],"Field":"eventCategory"}],"Name":"Default management events"}]` {
		t.Errorf("default selectors %s", sels)
	}
	got := f.ok("GetEventDataStore", map[string]any{"EventDataStore": id})
	if got["Status"] != "ENABLED" || got["FederationStatus"] != "DISABLED" || got["EventDataStoreArn"] != arn {
		t.Errorf("GetEventDataStore by ID: %v", got)
	}
	if got := f.ok("GetEventDataStore", map[string]any{"EventDataStore": arn}); got["Name"] != "my-store" {
		t.Errorf("GetEventDataStore by ARN: %v", got)
	}
	fixed := f.ok("CreateEventDataStore", map[string]any{"Name": "fixed", "BillingMode": "FIXED_RETENTION_PRICING", "StartIngestion": false})
	if fixed["RetentionPeriod"] != 2557.0 || fixed["Status"] != "STOPPED_INGESTION" {
		t.Errorf("fixed pricing store: %v", fixed)
	}
	s, _ := f.a.Stores.Get(id)
	if !s.Ingesting() || len(s.Windows) != 1 || s.Windows[0].From != 100 {
		t.Errorf("windows %+v", s.Windows)
	}
}

func TestCreateRefuses(t *testing.T) {
	f := newAPI(t)
	f.ok("CreateEventDataStore", map[string]any{"Name": "taken"})
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"Name": "ab"}, awsapi.CodeInvalidParameter},
		{map[string]any{"Name": "bad name"}, awsapi.CodeInvalidParameter},
		{map[string]any{"Name": "taken"}, awsapi.CodeEventDataStoreAlreadyExists},
		{map[string]any{"Name": "short", "RetentionPeriod": 6}, awsapi.CodeInvalidParameter},
		{map[string]any{"Name": "long", "RetentionPeriod": 3654}, awsapi.CodeInvalidParameter},
		{map[string]any{"Name": "fixed-long", "RetentionPeriod": 2558, "BillingMode": "FIXED_RETENTION_PRICING"}, awsapi.CodeInvalidParameter},
		{map[string]any{"Name": "mode", "BillingMode": "CHEAP"}, awsapi.CodeValidation},
		{map[string]any{"Name": "org", "OrganizationEnabled": true}, awsapi.CodeOrganizationsNotInUse},
		{map[string]any{"Name": "sels", "AdvancedEventSelectors": []any{map[string]any{"FieldSelectors": []any{map[string]any{"Field": "eventName", "Equals": []string{"x"}}}}}}, awsapi.CodeInvalidEventSelectors},
		{map[string]any{"Name": "tags", "TagsList": []any{map[string]any{"Key": "aws:x", "Value": "y"}}}, awsapi.CodeInvalidTagParameter},
	} {
		f.fails("CreateEventDataStore", c.in, c.want)
	}
	if n := len(f.a.Visible("123456789012", "us-east-1")); n != 1 {
		t.Fatalf("refused creates left %d stores", n)
	}
	for i := range 9 {
		f.ok("CreateEventDataStore", map[string]any{"Name": fmt.Sprintf("store-%d", i)})
	}
	f.fails("CreateEventDataStore", map[string]any{"Name": "eleventh"}, awsapi.CodeEventDataStoreMaxLimitExceeded)
	// Another Region and another account have their own ten.
	if _, code := f.call("123456789012", "eu-west-1", "CreateEventDataStore", map[string]any{"Name": "taken"}); code != "" {
		t.Errorf("another Region: %s", code)
	}
	if _, code := f.call("210987654321", "us-east-1", "CreateEventDataStore", map[string]any{"Name": "taken"}); code != "" {
		t.Errorf("another account: %s", code)
	}
}

func TestLifecycle(t *testing.T) {
	f := newAPI(t)
	arn := f.ok("CreateEventDataStore", map[string]any{"Name": "life"})["EventDataStoreArn"].(string)
	ref := map[string]any{"EventDataStore": arn}
	f.fails("DeleteEventDataStore", ref, awsapi.CodeEventDataStoreTerminationProtected)
	f.fails("StartEventDataStoreIngestion", ref, awsapi.CodeInvalidEventDataStoreStatus)
	f.pos = 150
	f.ok("StopEventDataStoreIngestion", ref)
	f.fails("StopEventDataStoreIngestion", ref, awsapi.CodeInvalidEventDataStoreStatus)
	f.pos = 170
	f.ok("StartEventDataStoreIngestion", ref)
	id, _, _, _ := ParseRef(arn)
	s, _ := f.a.Stores.Get(id)
	if len(s.Windows) != 2 || s.Windows[0].To != 150 || s.Windows[1].From != 170 || s.Takes(160) || !s.Takes(171) {
		t.Fatalf("windows after stop and start: %+v", s.Windows)
	}
	up := f.ok("UpdateEventDataStore", map[string]any{"EventDataStore": arn, "TerminationProtectionEnabled": false, "RetentionPeriod": 30, "Name": "renamed"})
	if up["TerminationProtectionEnabled"] != false || up["RetentionPeriod"] != 30.0 || up["Name"] != "renamed" {
		t.Fatalf("update: %v", up)
	}
	f.fails("UpdateEventDataStore", map[string]any{"EventDataStore": arn, "BillingMode": "FIXED_RETENTION_PRICING"}, awsapi.CodeInvalidParameter)
	f.ok("DeleteEventDataStore", ref)
	if got := f.ok("GetEventDataStore", ref); got["Status"] != "PENDING_DELETION" {
		t.Fatalf("after delete: %v", got)
	}
	f.fails("DeleteEventDataStore", ref, awsapi.CodeInvalidEventDataStoreStatus)
	f.fails("UpdateEventDataStore", map[string]any{"EventDataStore": arn, "RetentionPeriod": 40}, awsapi.CodeInvalidEventDataStoreStatus)
	restored := f.ok("RestoreEventDataStore", ref)
	if restored["Status"] != "ENABLED" {
		t.Fatalf("restore: %v", restored)
	}
	f.fails("RestoreEventDataStore", ref, awsapi.CodeInvalidEventDataStoreStatus)

	f.fails("GetEventDataStore", map[string]any{"EventDataStore": "not-an-id"}, awsapi.CodeEventDataStoreARNInvalid)
	f.fails("GetEventDataStore", map[string]any{"EventDataStore": "00000000-0000-4000-8000-000000000000"}, awsapi.CodeEventDataStoreNotFound)
	if _, code := f.call("210987654321", "us-east-1", "GetEventDataStore", ref); code != awsapi.CodeEventDataStoreNotFound {
		t.Errorf("another account reads the store: %q", code)
	}
	if _, code := f.call("123456789012", "eu-west-1", "GetEventDataStore", map[string]any{"EventDataStore": id}); code != awsapi.CodeEventDataStoreNotFound {
		t.Errorf("another Region reads the store: %q", code)
	}
}

func TestListPages(t *testing.T) {
	f := newAPI(t)
	for i := range 5 {
		f.clock = f.clock.Add(time.Second)
		f.ok("CreateEventDataStore", map[string]any{"Name": fmt.Sprintf("store-%d", i)})
	}
	var names []string
	token := ""
	for {
		in := map[string]any{"MaxResults": 2}
		if token != "" {
			in["NextToken"] = token
		}
		out := f.ok("ListEventDataStores", in)
		for _, e := range out["EventDataStores"].([]any) {
			names = append(names, e.(map[string]any)["Name"].(string))
		}
		next, _ := out["NextToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if fmt.Sprint(names) != "[store-0 store-1 store-2 store-3 store-4]" {
		t.Fatalf("pages: %v", names)
	}
	f.fails("ListEventDataStores", map[string]any{"MaxResults": 0}, awsapi.CodeValidation)
	f.fails("ListEventDataStores", map[string]any{"NextToken": "junk"}, awsapi.CodeInvalidNextToken)
}
