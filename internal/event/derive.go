package event

import "strings"

// InferReadOnly reports whether a call only reads, judged by its name as
// CloudTrail classifies calls, for records written before readOnly existed.
func InferReadOnly(eventSource, eventName string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Lookup", "Head"} {
		if strings.HasPrefix(eventName, p) {
			return true
		}
	}
	return false
}

// Classify returns the record's event category.
func Classify(r *Record) Category {
	switch r.EventCategory {
	case "Data":
		return Data
	case "Insight":
		return Insight
	case "NetworkActivity":
		return NetworkActivity
	case "Management":
		return Management
	}
	if r.EventType == "AwsCloudTrailInsight" {
		return Insight
	}
	if r.ManagementEvent != nil && !bool(*r.ManagementEvent) {
		return Data
	}
	return Management
}

// LookupUsername returns the Username that LookupEvents shows for a record.
func LookupUsername(r *Record) string {
	if r.UserIdentity == nil {
		return ""
	}
	return r.UserIdentity.UserName
}

// LookupResources returns the Resources that LookupEvents shows for a record.
func LookupResources(r *Record) []Resource {
	var out []Resource
	for _, x := range r.Resources {
		out = append(out, Resource{Type: x.Type, Name: x.ARN})
	}
	return out
}
