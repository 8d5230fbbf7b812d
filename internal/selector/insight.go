package selector

import "fmt"

// Insights types.
const (
	APICallRateInsight  = "ApiCallRateInsight"
	APIErrorRateInsight = "ApiErrorRateInsight"
)

// InsightSelector turns on one type of Insights for a trail, over the
// management events, the data events, or both.
type InsightSelector struct {
	InsightType     string   `json:"InsightType,omitempty"`
	EventCategories []string `json:"EventCategories,omitempty"`
}

// Categories returns the event categories the selector analyzes; none
// given means management events, as AWS defaults.
func (s InsightSelector) Categories() []string {
	if len(s.EventCategories) == 0 {
		return []string{CategoryManagement}
	}
	return s.EventCategories
}

func invalidInsight(format string, args ...any) error {
	return &InvalidInsightError{Message: fmt.Sprintf(format, args...)}
}

// ValidateInsight checks the InsightSelectors of a PutInsightSelectors
// request against the trail's event selectors (basic or advanced, as
// stored; none means the default).
//
// An empty list is valid: it turns Insights off. The requirements are
// AWS's: API call rate Insights on management events need the trail to log
// write management events, error rate Insights need it to log management
// events, and either kind on data events needs it to log data events.
func ValidateInsight(sels []InsightSelector, basic []EventSelector, advanced []AdvancedEventSelector) error {
	seen := map[string]bool{}
	for _, s := range sels {
		switch s.InsightType {
		case APICallRateInsight, APIErrorRateInsight:
		case "":
			return invalidInsight("A value for InsightType is required. Valid values are ApiCallRateInsight and ApiErrorRateInsight.")
		default:
			return invalidInsight("Value %s for InsightType is invalid. Valid values are ApiCallRateInsight and ApiErrorRateInsight.", s.InsightType)
		}
		if seen[s.InsightType] {
			return invalidInsight("InsightType %s is specified more than once.", s.InsightType)
		}
		seen[s.InsightType] = true
		for _, c := range s.EventCategories {
			if c != CategoryManagement && c != CategoryData {
				return invalidInsight("Value %s for EventCategories is invalid. Valid values are Management and Data.", c)
			}
		}
	}
	if len(sels) == 0 {
		return nil
	}
	logs := coverage(basic, advanced)
	for _, s := range sels {
		for _, c := range s.Categories() {
			switch {
			case c == CategoryData && !logs.dataReads && !logs.dataWrites:
				return invalidInsight("%s on Data events requires the trail to log read or write data events.", s.InsightType)
			case c == CategoryManagement && s.InsightType == APICallRateInsight && !logs.managementWrites:
				return invalidInsight("ApiCallRateInsight on Management events requires the trail to log write management events.")
			case c == CategoryManagement && !logs.managementReads && !logs.managementWrites:
				return invalidInsight("ApiErrorRateInsight on Management events requires the trail to log read or write management events.")
			}
		}
	}
	return nil
}

// logged is, roughly, what a trail's selectors log: enough to tell
// whether Insights have anything to analyze.
type logged struct {
	managementReads, managementWrites bool
	dataReads, dataWrites             bool
}

func coverage(basic []EventSelector, advanced []AdvancedEventSelector) logged {
	var l logged
	if len(advanced) > 0 {
		for i := range advanced {
			cat, reads, writes := advancedCoverage(&advanced[i])
			switch cat {
			case CategoryManagement:
				l.managementReads = l.managementReads || reads
				l.managementWrites = l.managementWrites || writes
			case CategoryData:
				l.dataReads = l.dataReads || reads
				l.dataWrites = l.dataWrites || writes
			}
		}
		return l
	}
	if len(basic) == 0 {
		basic = Default()
	}
	for _, s := range basic {
		reads, writes := s.ReadWriteType != WriteOnly, s.ReadWriteType != ReadOnly
		if s.IncludeManagementEvents == nil || *s.IncludeManagementEvents {
			l.managementReads = l.managementReads || reads
			l.managementWrites = l.managementWrites || writes
		}
		if len(s.DataResources) > 0 {
			l.dataReads = l.dataReads || reads
			l.dataWrites = l.dataWrites || writes
		}
	}
	return l
}

// advancedCoverage returns the category an advanced selector selects and
// whether it admits reads and writes, going by its readOnly field alone.
func advancedCoverage(s *AdvancedEventSelector) (category string, reads, writes bool) {
	reads, writes = true, true
	for i := range s.FieldSelectors {
		fs := &s.FieldSelectors[i]
		switch fs.Field {
		case "eventCategory":
			if len(fs.Equals) > 0 {
				category = fs.Equals[0]
			}
		case "readOnly":
			c := cond{f: fieldReadOnly}
			for o, vals := range fs.operands() {
				c.ops[o] = vals
			}
			reads, writes = c.holds("true", false), c.holds("false", false)
		}
	}
	return category, reads, writes
}
