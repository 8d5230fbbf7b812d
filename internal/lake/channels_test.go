package lake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/store"
)

// TestChannelRules checks CreateChannel's and its neighbours' rules and
// that channels outlive a restart.
func TestChannelRules(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stores, err := OpenStores(db)
	if err != nil {
		t.Fatal(err)
	}
	chs, err := OpenChannels(db)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{t: t, pos: 1, clock: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	f.a = &API{Stores: stores, Position: func() uint64 { return f.pos }, Now: func() time.Time { return f.clock }, ChannelsTo: chs.ChannelsTo}
	ca := &ChannelAPI{Channels: chs, API: f.a}
	f.extra = ca.Ops()

	apps := f.ok("CreateEventDataStore", map[string]any{"Name": "apps", "AdvancedEventSelectors": []map[string]any{
		{"Name": "apps", "FieldSelectors": []map[string]any{{"Field": "eventCategory", "Equals": []string{"ActivityAuditLog"}}}}}})["EventDataStoreArn"].(string)
	mgmt := f.ok("CreateEventDataStore", map[string]any{"Name": "mgmt"})["EventDataStoreArn"].(string)
	dest := func(loc string) []map[string]string {
		return []map[string]string{{"Type": "EVENT_DATA_STORE", "Location": loc}}
	}

	out := f.ok("CreateChannel", map[string]any{"Name": "c-0", "Source": "Custom", "Destinations": dest(apps[strings.LastIndex(apps, "/")+1:])})
	ch := out["ChannelArn"].(string)
	if d := out["Destinations"].([]any)[0].(map[string]any); d["Location"] != apps {
		t.Errorf("a destination named by ID is shown by ARN: %v", d)
	}
	f.fails("CreateChannel", map[string]any{"Name": "c-0", "Source": "Custom", "Destinations": dest(apps)}, awsapi.CodeChannelAlreadyExists)
	f.fails("CreateChannel", map[string]any{"Name": "xy", "Source": "Custom", "Destinations": dest(apps)}, awsapi.CodeInvalidParameter)
	f.fails("CreateChannel", map[string]any{"Name": "c-x", "Source": "", "Destinations": dest(apps)}, awsapi.CodeInvalidSource)
	f.fails("CreateChannel", map[string]any{"Name": "c-x", "Source": "Custom", "Destinations": dest(mgmt)}, awsapi.CodeInvalidEventDataStoreCategory)
	f.fails("CreateChannel", map[string]any{"Name": "c-x", "Source": "Custom", "Destinations": []map[string]string{}}, awsapi.CodeInvalidParameter)
	f.fails("CreateChannel", map[string]any{"Name": "c-x", "Source": "Custom", "Destinations": dest("nope")}, awsapi.CodeEventDataStoreARNInvalid)
	if _, code := f.call("210987654321", "us-east-1", "CreateChannel", map[string]any{"Name": "c-x", "Source": "Custom", "Destinations": dest(apps)}); code != awsapi.CodeEventDataStoreNotFound {
		t.Errorf("another account's store as destination: %q", code)
	}
	for i := 1; i < MaxChannelsPerRegion; i++ {
		f.ok("CreateChannel", map[string]any{"Name": "c-" + string(rune('a'+i)), "Source": "Custom", "Destinations": dest(apps)})
	}
	f.fails("CreateChannel", map[string]any{"Name": "one-too-many", "Source": "Custom", "Destinations": dest(apps)}, awsapi.CodeChannelMaxLimitExceeded)
	if _, code := f.call("123456789012", "eu-west-1", "GetChannel", map[string]any{"Channel": ch}); code != awsapi.CodeChannelNotFound {
		t.Errorf("a channel from another Region: %q", code)
	}
	f.fails("GetChannel", map[string]any{"Channel": "arn:aws:cloudtrail:us-east-1:123456789012:channel/x"}, awsapi.CodeChannelARNInvalid)
	f.fails("UpdateChannel", map[string]any{"Channel": ch, "Name": "c-b"}, awsapi.CodeChannelAlreadyExists)
	f.fails("DeleteEventDataStore", map[string]any{"EventDataStore": apps}, awsapi.CodeEventDataStoreTerminationProtected)
	f.ok("UpdateEventDataStore", map[string]any{"EventDataStore": apps, "TerminationProtectionEnabled": false})
	f.fails("DeleteEventDataStore", map[string]any{"EventDataStore": apps}, awsapi.CodeChannelExistsForEDS)
	page1 := f.ok("ListChannels", map[string]any{"MaxResults": 10})
	if len(page1["Channels"].([]any)) != 10 || page1["NextToken"] == nil {
		t.Errorf("ListChannels: %v", page1)
	}

	// After a restart the channels are there.
	db.Close()
	db, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	again, err := OpenChannels(db)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.All(); len(got) != MaxChannelsPerRegion || got[0].ARN() != ch || got[0].Destinations[0].Location != apps {
		t.Fatalf("after reopening: %d channels, first %+v", len(got), got[0])
	}
}

// TestAuditEventEnvelope checks the eventData schema's rules, one failure
// at a time, and the envelope of an event that passes.
func TestAuditEventEnvelope(t *testing.T) {
	ch := &Channel{ID: "80b5ac48-d9ae-4f35-ada2-9edc4bf298fb", Account: "123456789012", Region: "us-east-1"}
	base := map[string]any{
		"version": "1.0", "userIdentity": map[string]any{"type": "CustomUser", "principalId": "alice", "details": map[string]any{"k": 1}},
		"eventSource": "app.example.com", "eventName": "Login", "eventTime": "2026-11-20T10:00:00Z", "UID": "u-1",
		"recipientAccountId": "123456789012", "sourceIPAddress": "2001:db8::1",
	}
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
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, data, checksum, code string
	}{
		{"good", with("eventName", "Login"), "", ""},
		{"no UID", with("UID", nil), "", EventFieldNotFound},
		{"no userIdentity", with("userIdentity", nil), "", EventFieldNotFound},
		{"no principal", with("userIdentity", map[string]any{"type": "x"}), "", EventFieldNotFound},
		{"long eventName", with("eventName", strings.Repeat("n", 1025)), "", EventFieldTooLong},
		{"long errorCode", with("errorCode", strings.Repeat("e", 257)), "", EventFieldTooLong},
		{"big requestParameters", with("requestParameters", map[string]string{"x": strings.Repeat("p", 101*1024)}), "", EventFieldTooLong},
		{"another account", with("recipientAccountId", "210987654321"), "", EventInvalidRecipient},
		{"bad time", with("eventTime", "20 Nov 2026"), "", EventInvalidData},
		{"bad address", with("sourceIPAddress", "example.com"), "", EventInvalidData},
		{"not JSON", "{", "", EventInvalidData},
		{"not an object", `"text"`, "", EventInvalidData},
		{"bad checksum", with("eventName", "Login"), "AAAA", EventInvalidChecksum},
	} {
		data := c.data
		rec, code, msg := envelope(auditEvent{ID: "a", EventData: &data, EventDataChecksum: c.checksum}, ch, "us-east-1", now)
		if code != c.code {
			t.Errorf("%s: %q (%s), want %q", c.name, code, msg, c.code)
		}
		if c.code == "" {
			sum := sha256.Sum256([]byte(data))
			ok := auditEvent{ID: "a", EventData: &data, EventDataChecksum: base64.StdEncoding.EncodeToString(sum[:])}
			if _, code, _ := envelope(ok, ch, "us-east-1", now); code != "" {
				t.Errorf("the right checksum: %s", code)
			}
			if rec.EventCategory != "ActivityAuditLog" || rec.EventType != "ActivityLog" || rec.EventTime != "2026-11-20T10:00:00Z" ||
				rec.RecipientAccountID != "123456789012" || rec.Metadata.ChannelARN != ch.ARN() || rec.Metadata.IngestionTime != "2026-11-22T12:00:00.000Z" {
				t.Errorf("envelope: %+v", rec)
			}
			var back map[string]any
			if json.Unmarshal(rec.EventData, &back) != nil || back["UID"] != "u-1" {
				t.Errorf("eventData kept: %s", rec.EventData)
			}
		}
	}
}

// TestAuditStoreSelectors checks that a store takes either events from
// outside AWS or CloudTrail's, from creation on.
func TestAuditStoreSelectors(t *testing.T) {
	f := newAPI(t)
	audit := map[string]any{"Name": "apps", "FieldSelectors": []map[string]any{{"Field": "eventCategory", "Equals": []string{"ActivityAuditLog"}}}}
	mgmt := map[string]any{"Name": "mgmt", "FieldSelectors": []map[string]any{{"Field": "eventCategory", "Equals": []string{"Management"}}}}
	f.fails("CreateEventDataStore", map[string]any{"Name": "mixed", "AdvancedEventSelectors": []any{audit, mgmt}}, awsapi.CodeInvalidEventSelectors)
	apps := f.ok("CreateEventDataStore", map[string]any{"Name": "apps", "AdvancedEventSelectors": []any{audit}})["EventDataStoreArn"]
	plain := f.ok("CreateEventDataStore", map[string]any{"Name": "plain"})["EventDataStoreArn"]
	f.fails("UpdateEventDataStore", map[string]any{"EventDataStore": apps, "AdvancedEventSelectors": []any{mgmt}}, awsapi.CodeInvalidEventSelectors)
	f.fails("UpdateEventDataStore", map[string]any{"EventDataStore": plain, "AdvancedEventSelectors": []any{audit}}, awsapi.CodeInvalidEventSelectors)
	f.ok("UpdateEventDataStore", map[string]any{"EventDataStore": apps, "AdvancedEventSelectors": []any{audit}})
}
