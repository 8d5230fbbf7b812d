package selector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// matchFile is one file of testdata/match: a trail's or store's selectors
// and records with whether they match. No selectors at all means the
// default.
type matchFile struct {
	Description            string                  `json:"description"`
	Target                 string                  `json:"target"`
	EventSelectors         []EventSelector         `json:"eventSelectors"`
	AdvancedEventSelectors []AdvancedEventSelector `json:"advancedEventSelectors"`
	Cases                  []struct {
		Name   string          `json:"name"`
		Match  bool            `json:"match"`
		Record json.RawMessage `json:"record"`
	} `json:"cases"`
}

func parseTarget(t *testing.T, s string) Target {
	t.Helper()
	switch s {
	case "", "trail":
		return Trail
	case "eventDataStore":
		return EventDataStore
	}
	t.Fatalf("unknown target %q", s)
	return 0
}

// eventFromRecord builds the Event the ingest path would: the envelope's
// fields from the record as it stands, the rest through FillDetail.
func eventFromRecord(t testing.TB, raw []byte) *Event {
	t.Helper()
	var head struct {
		EventCategory string `json:"eventCategory"`
		ReadOnly      bool   `json:"readOnly"`
		EventSource   string `json:"eventSource"`
		EventName     string `json:"eventName"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatalf("record: %v", err)
	}
	e := &Event{Category: head.EventCategory, ReadOnly: head.ReadOnly, EventSource: head.EventSource, EventName: head.EventName}
	if err := FillDetail(e, raw); err != nil {
		t.Fatalf("FillDetail: %v", err)
	}
	return e
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestMatch(t *testing.T) {
	files, err := filepath.Glob("testdata/match/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no match cases: %v", err)
	}
	total := 0
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			var f matchFile
			readJSON(t, path, &f)
			// Cases must use selectors AWS would accept, or they test nothing real.
			switch {
			case f.AdvancedEventSelectors != nil:
				if err := ValidateAdvanced(f.AdvancedEventSelectors, parseTarget(t, f.Target)); err != nil {
					t.Fatalf("selectors are invalid: %v", err)
				}
			case f.EventSelectors != nil:
				if err := ValidateBasic(f.EventSelectors); err != nil {
					t.Fatalf("selectors are invalid: %v", err)
				}
			}
			m := Compile(f.EventSelectors, f.AdvancedEventSelectors)
			for _, c := range f.Cases {
				total++
				e := eventFromRecord(t, c.Record)
				if got := m.Match(e); got != c.Match {
					t.Errorf("%s: Match = %v, want %v", c.Name, got, c.Match)
				}
				if !m.NeedsDetail() {
					bare := &Event{Category: e.Category, ReadOnly: e.ReadOnly, EventSource: e.EventSource, EventName: e.EventName}
					if got := m.Match(bare); got != c.Match {
						t.Errorf("%s: NeedsDetail is false, yet without detail Match = %v", c.Name, got)
					}
				}
			}
		})
	}
	t.Logf("%d match cases in %d files", total, len(files))
}

func TestNeedsDetail(t *testing.T) {
	mgmt := []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "readOnly", Equals: []string{"true"}},
		{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com"}},
		{Field: "eventName", StartsWith: []string{"Get"}},
	}}}
	for _, tc := range []struct {
		name string
		m    *Matcher
		want bool
	}{
		{"default", Compile(nil, nil), false},
		{"basic management", Compile([]EventSelector{{ReadWriteType: ReadOnly, ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}}, nil), false},
		{"basic data", Compile([]EventSelector{{DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}}}, nil), true},
		{"advanced envelope fields", Compile(nil, mgmt), false},
		{"advanced userIdentity.arn", Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Management"}},
			{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:iam::"}},
		}}}), true},
	} {
		if got := tc.m.NeedsDetail(); got != tc.want {
			t.Errorf("%s: NeedsDetail = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCompileAdvancedWins(t *testing.T) {
	m := Compile(Default(), []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "readOnly", Equals: []string{"false"}},
	}}})
	if m.Match(&Event{Category: "Management", ReadOnly: true}) {
		t.Error("a read matched: the basic default was used beside the advanced selectors")
	}
}

func TestCompileUnknownFieldMatchesNothing(t *testing.T) {
	m := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "requestParameters.bucketName", Equals: []string{"b"}},
	}}})
	if m.Match(&Event{Category: "Management"}) {
		t.Error("a selector with a field cairn cannot read matched")
	}
}

func TestStringsWithSlash(t *testing.T) {
	for _, tc := range []struct {
		s, v             string
		eq, prefix, suff bool
	}{
		{"arn:aws:s3:::b", "arn:aws:s3:::b/", true, true, true},
		{"arn:aws:s3:::b", "arn:aws:s3:::b", false, true, false},
		{"arn:aws:s3:::b", "arn:aws:s3:::b/x", false, false, false},
		{"arn:aws:s3:::b", "arn:aws:s3", false, true, false},
		{"arn:aws:s3:::b", "b/", false, false, true},
		{"arn:aws:s3:::b", "/", false, false, true},
		{"arn:aws:s3:::b", "c/", false, false, false},
	} {
		want := tc.s + "/"
		if got := equal(tc.s, true, tc.v); got != tc.eq || got != (want == tc.v) {
			t.Errorf("equal(%q/, %q) = %v", tc.s, tc.v, got)
		}
		if got := hasPrefix(tc.s, true, tc.v); got != tc.prefix || got != strings.HasPrefix(want, tc.v) {
			t.Errorf("hasPrefix(%q/, %q) = %v", tc.s, tc.v, got)
		}
		if got := hasSuffix(tc.s, true, tc.v); got != tc.suff || got != strings.HasSuffix(want, tc.v) {
			t.Errorf("hasSuffix(%q/, %q) = %v", tc.s, tc.v, got)
		}
	}
}
