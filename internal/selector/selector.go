package selector

import (
	"encoding/json"
	"slices"
)

// ReadWriteType values of a basic event selector.
const (
	ReadOnly  = "ReadOnly"
	WriteOnly = "WriteOnly"
	All       = "All"
)

// DataResource names the resources whose data events a basic event selector
// logs: a resource type and ARN prefixes of that type.
type DataResource struct {
	Type   string   `json:"Type,omitempty"`
	Values []string `json:"Values,omitempty"`
}

// EventSelector is a basic event selector.
//
// A nil IncludeManagementEvents and an empty ReadWriteType mean AWS's
// defaults (true and All); Normalize writes them out.
type EventSelector struct {
	ReadWriteType                 string         `json:"ReadWriteType,omitempty"`
	IncludeManagementEvents       *bool          `json:"IncludeManagementEvents,omitempty"`
	DataResources                 []DataResource `json:"DataResources,omitempty"`
	ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources,omitempty"`
}

// MarshalJSON writes both lists even when they are empty: GetEventSelectors
// shows "DataResources":[] and "ExcludeManagementEventSources":[], and SDKs
// that echo a trail's selectors back in a later call expect them.
func (s EventSelector) MarshalJSON() ([]byte, error) {
	type wire struct {
		ReadWriteType                 string         `json:"ReadWriteType,omitempty"`
		IncludeManagementEvents       *bool          `json:"IncludeManagementEvents,omitempty"`
		DataResources                 []DataResource `json:"DataResources"`
		ExcludeManagementEventSources []string       `json:"ExcludeManagementEventSources"`
	}
	w := wire(s)
	if w.DataResources == nil {
		w.DataResources = []DataResource{}
	}
	if w.ExcludeManagementEventSources == nil {
		w.ExcludeManagementEventSources = []string{}
	}
	return json.Marshal(w)
}

// FieldSelector is one condition of an advanced event selector
// (AdvancedFieldSelector on the wire). Within it, every operator given must
// hold.
type FieldSelector struct {
	Field         string   `json:"Field"`
	Equals        []string `json:"Equals,omitempty"`
	StartsWith    []string `json:"StartsWith,omitempty"`
	EndsWith      []string `json:"EndsWith,omitempty"`
	NotEquals     []string `json:"NotEquals,omitempty"`
	NotStartsWith []string `json:"NotStartsWith,omitempty"`
	NotEndsWith   []string `json:"NotEndsWith,omitempty"`
}

// AdvancedEventSelector selects the events that meet all its field
// selectors.
type AdvancedEventSelector struct {
	Name           string          `json:"Name,omitempty"`
	FieldSelectors []FieldSelector `json:"FieldSelectors"`
}

// Default returns the selectors of a trail that was never given any: all
// management events, read and write, no data events.
func Default() []EventSelector {
	return []EventSelector{{
		ReadWriteType:                 All,
		IncludeManagementEvents:       new(true),
		DataResources:                 []DataResource{},
		ExcludeManagementEventSources: []string{},
	}}
}

// Normalize returns a copy of sels as GetEventSelectors shows them: the
// defaults AWS applies written out. No selectors at all normalize to
// Default().
func Normalize(sels []EventSelector) []EventSelector {
	if len(sels) == 0 {
		return Default()
	}
	out := make([]EventSelector, len(sels))
	for i, s := range sels {
		n := EventSelector{
			ReadWriteType:                 s.ReadWriteType,
			IncludeManagementEvents:       new(s.IncludeManagementEvents == nil || *s.IncludeManagementEvents),
			DataResources:                 make([]DataResource, len(s.DataResources)),
			ExcludeManagementEventSources: append([]string{}, s.ExcludeManagementEventSources...),
		}
		if n.ReadWriteType == "" {
			n.ReadWriteType = All
		}
		for j, d := range s.DataResources {
			n.DataResources[j] = DataResource{Type: d.Type, Values: slices.Clone(d.Values)}
		}
		out[i] = n
	}
	return out
}

// HasCustom reports a trail's HasCustomEventSelectors: whether what it
// stores selects anything other than the default.
//
// AWS documents the flag only as "Specifies if the trail has custom event
// selectors". cairn compares content rather than remembering whether
// PutEventSelectors was ever called, so putting the default back reads as
// not custom. Any advanced selectors count as custom, even ones equivalent
// to the default: a trail switched to advanced selectors is shown that way
// in the console too.
func HasCustom(basic []EventSelector, advanced []AdvancedEventSelector) bool {
	if len(advanced) > 0 {
		return true
	}
	if len(basic) != 1 {
		return len(basic) > 1
	}
	s := Normalize(basic)[0]
	return s.ReadWriteType != All || !*s.IncludeManagementEvents ||
		len(s.DataResources) > 0 || len(s.ExcludeManagementEventSources) > 0
}

// InvalidError is a selector that AWS would refuse with
// InvalidEventSelectorsException; Message is the text to answer with.
type InvalidError struct {
	Message string
}

// Error returns the message, as AWS words it.
func (e *InvalidError) Error() string { return e.Message }

// InvalidInsightError is an Insights selector that AWS would refuse with
// InvalidInsightSelectorsException; Message is the text to answer with.
type InvalidInsightError struct {
	Message string
}

// Error returns the message, as AWS words it.
func (e *InvalidInsightError) Error() string { return e.Message }
