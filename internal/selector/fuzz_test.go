package selector

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// selectorsBody is the part of a PutEventsSelectors, PutInsightSelectors
// or CreateEventDataStore request that this package judges, decoded as
// the API decodes it.
type selectorsBody struct {
	EventSelectors         []EventSelector         `json:"EventSelectors"`
	AdvancedEventSelectors []AdvancedEventSelector `json:"AdvancedEventSelectors"`
	InsightSelectors       []InsightSelector       `json:"InsightSelectors"`
	Record                 json.RawMessage         `json:"Record"`
}

// fuzzEvents are matched against every accepted selector set.
var fuzzEvents = []Event{
	{Category: "Management", EventSource: "kms.amazonaws.com", EventName: "Decrypt", ReadOnly: true},
	{Category: "Data", EventSource: "s3.amazonaws.com", EventName: "GetObject", ReadOnly: true,
		Resources: []Resource{{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::b/k.jpg"}, {Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::b"}}},
	{Category: "NetworkActivity", EventSource: "ec2.amazonaws.com", ErrorCode: "VpceAccessDenied", VpcEndpointID: "vpce-1"},
	{},
}

// FuzzSelectors holds the selector rules to their contract on any
// request: validation never panics and refuses with its own error types;
// accepted selectors compile and match any event without panicking, and
// stay accepted after Normalize and a JSON round trip (what
// GetEventSelectors answers and SDKs send back). The record member feeds
// FillDetail, the parser of records that matching reads.
func FuzzSelectors(f *testing.F) {
	for _, dir := range []string{"valid", "invalid", "match"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			var file struct {
				EventSelectors         json.RawMessage `json:"eventSelectors"`
				AdvancedEventSelectors json.RawMessage `json:"advancedEventSelectors"`
				Cases                  []struct {
					EventSelectors         json.RawMessage `json:"eventSelectors"`
					AdvancedEventSelectors json.RawMessage `json:"advancedEventSelectors"`
					InsightSelectors       json.RawMessage `json:"insightSelectors"`
					Record                 json.RawMessage `json:"record"`
					Target                 string          `json:"target"`
				} `json:"cases"`
			}
			if err := json.Unmarshal(b, &file); err != nil {
				f.Fatalf("%s: %v", p, err)
			}
			for _, c := range file.Cases {
				es, as := c.EventSelectors, c.AdvancedEventSelectors
				if es == nil && as == nil {
					es, as = file.EventSelectors, file.AdvancedEventSelectors
				}
				body, _ := json.Marshal(map[string]json.RawMessage{"EventSelectors": es, "AdvancedEventSelectors": as,
					"InsightSelectors": c.InsightSelectors, "Record": c.Record})
				f.Add(body, c.Target == "eventDataStore")
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, eds bool) {
		var req selectorsBody
		if json.Unmarshal(body, &req) != nil {
			return
		}
		target := Trail
		if eds {
			target = EventDataStore
		}
		var ie *InvalidError
		if req.EventSelectors != nil {
			err := ValidateBasic(req.EventSelectors)
			if err != nil && !errors.As(err, &ie) {
				t.Fatalf("ValidateBasic: %T %v", err, err)
			}
			if err == nil {
				n := Normalize(req.EventSelectors)
				if err := ValidateBasic(n); err != nil {
					t.Fatalf("normalized selectors refused: %v", err)
				}
				acceptedAfterRoundTrip(t, n, nil, target)
				match(t, Compile(n, nil), req.Record)
			}
		}
		if req.AdvancedEventSelectors != nil {
			err := ValidateAdvanced(req.AdvancedEventSelectors, target)
			if err != nil && !errors.As(err, &ie) {
				t.Fatalf("ValidateAdvanced: %T %v", err, err)
			}
			if err == nil {
				acceptedAfterRoundTrip(t, nil, req.AdvancedEventSelectors, target)
				match(t, Compile(nil, req.AdvancedEventSelectors), req.Record)
			}
		}
		if req.InsightSelectors != nil {
			var iie *InvalidInsightError
			if err := ValidateInsight(req.InsightSelectors, req.EventSelectors, req.AdvancedEventSelectors); err != nil && !errors.As(err, &iie) {
				t.Fatalf("ValidateInsight: %T %v", err, err)
			}
		}
		if req.Record != nil {
			var e Event
			FillDetail(&e, req.Record)
		}
	})
}

func acceptedAfterRoundTrip(t *testing.T, basic []EventSelector, advanced []AdvancedEventSelector, target Target) {
	t.Helper()
	b, err := json.Marshal(selectorsBody{EventSelectors: basic, AdvancedEventSelectors: advanced})
	if err != nil {
		t.Fatal(err)
	}
	var back selectorsBody
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if basic != nil {
		if err := ValidateBasic(back.EventSelectors); err != nil {
			t.Fatalf("selectors refused after a JSON round trip: %v\n%s", err, b)
		}
	}
	if advanced != nil {
		if err := ValidateAdvanced(back.AdvancedEventSelectors, target); err != nil {
			t.Fatalf("selectors refused after a JSON round trip: %v\n%s", err, b)
		}
	}
}

func match(t *testing.T, m *Matcher, record json.RawMessage) {
	t.Helper()
	for _, e := range fuzzEvents {
		m.Match(&e)
	}
	if record != nil {
		var e Event
		if FillDetail(&e, record) == nil {
			m.Match(&e)
		}
	}
}
