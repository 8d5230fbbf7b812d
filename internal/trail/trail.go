package trail

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/selector"
)

// Tag is one resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value,omitempty"`
}

// Window is a span of the ledger a trail logged: entries with sequence
// numbers in (From, To] belong to it; To 0 means it is still open.
type Window struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to,omitempty"`
}

// maxWindows bounds how many logging windows a trail remembers: older
// ones have long been delivered.
const maxWindows = 64

// Trail is a trail's configuration and logging state, as stored.
type Trail struct {
	// ID tells apart trails that reuse a name: delivery state is keyed
	// by it, so a deleted and re-created trail starts afresh.
	ID                         string `json:"id"`
	Name                       string `json:"name"`
	Account                    string `json:"account"`
	HomeRegion                 string `json:"homeRegion"`
	S3BucketName               string `json:"s3BucketName"`
	S3KeyPrefix                string `json:"s3KeyPrefix,omitempty"`
	SnsTopicName               string `json:"snsTopicName,omitempty"`
	SnsTopicARN                string `json:"snsTopicARN,omitempty"`
	IncludeGlobalServiceEvents bool   `json:"includeGlobalServiceEvents"`
	IsMultiRegionTrail         bool   `json:"isMultiRegionTrail"`
	LogFileValidationEnabled   bool   `json:"logFileValidationEnabled"`
	IsOrganizationTrail        bool   `json:"isOrganizationTrail"`
	OrganizationID             string `json:"organizationId,omitempty"`
	CloudWatchLogsLogGroupArn  string `json:"cloudWatchLogsLogGroupArn,omitempty"`
	CloudWatchLogsRoleArn      string `json:"cloudWatchLogsRoleArn,omitempty"`
	KmsKeyID                   string `json:"kmsKeyId,omitempty"`

	EventSelectors         []selector.EventSelector         `json:"eventSelectors,omitempty"`
	AdvancedEventSelectors []selector.AdvancedEventSelector `json:"advancedEventSelectors,omitempty"`
	CustomSelectors        bool                             `json:"customSelectors,omitempty"`
	InsightSelectors       []selector.InsightSelector       `json:"insightSelectors,omitempty"`
	Tags                   []Tag                            `json:"tags,omitempty"`

	Created          time.Time `json:"created"`
	IsLogging        bool      `json:"isLogging"`
	StartLoggingTime time.Time `json:"startLoggingTime,omitzero"`
	StopLoggingTime  time.Time `json:"stopLoggingTime,omitzero"`
	Windows          []Window  `json:"windows,omitempty"`
}

// ARN is the trail's ARN, which names its home Region.
func (t *Trail) ARN() string { return ARN(t.HomeRegion, t.Account, t.Name) }

// ARN formats a trail ARN.
func ARN(region, account, name string) string {
	return "arn:aws:cloudtrail:" + region + ":" + account + ":trail/" + name
}

// Clone returns a deep copy, so that callers may keep it while the store
// changes the original.
func (t *Trail) Clone() *Trail {
	c := *t
	c.EventSelectors = append([]selector.EventSelector(nil), t.EventSelectors...)
	c.AdvancedEventSelectors = append([]selector.AdvancedEventSelector(nil), t.AdvancedEventSelectors...)
	c.InsightSelectors = append([]selector.InsightSelector(nil), t.InsightSelectors...)
	c.Tags = append([]Tag(nil), t.Tags...)
	c.Windows = append([]Window(nil), t.Windows...)
	return &c
}

// Logs reports whether the ledger entry seq falls in one of the trail's
// logging windows.
func (t *Trail) Logs(seq uint64) bool {
	for _, w := range t.Windows {
		if seq > w.From && (w.To == 0 || seq <= w.To) {
			return true
		}
	}
	return false
}

// NextLogged returns the first sequence number after seq that the trail
// logs (or would log, for an open window), and false when no window
// lies ahead.
func (t *Trail) NextLogged(seq uint64) (uint64, bool) {
	best, ok := uint64(0), false
	for _, w := range t.Windows {
		if w.To != 0 && w.To <= seq {
			continue
		}
		next := max(seq+1, w.From+1)
		if !ok || next < best {
			best, ok = next, true
		}
	}
	return best, ok
}

// parsedARN is a trail ARN taken apart.
type parsedARN struct {
	Region, Account, Name string
}

var arnPattern = regexp.MustCompile(`^arn:aws:cloudtrail:([a-z0-9-]+):(\d{12}):trail/(.+)$`)

// parseARN takes a trail ARN apart; ok is false when s is not one.
func parseARN(s string) (parsedARN, bool) {
	m := arnPattern.FindStringSubmatch(s)
	if m == nil {
		return parsedARN{}, false
	}
	return parsedARN{Region: m[1], Account: m[2], Name: m[3]}, true
}

var (
	ipShaped = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}$`)
	adjacent = regexp.MustCompile(`[._-][._-]`)
)

// validateName checks a trail name against CloudTrail's naming rules and
// returns the message of InvalidTrailNameException, or "".
func validateName(name string) string {
	switch {
	case len(name) < 3:
		return fmt.Sprintf("Trail name too short. Minimum allowed length: 3 characters. Specified name length: %d characters.", len(name))
	case len(name) > 128:
		return fmt.Sprintf("Trail name too long. Maximum allowed length: 128 characters. Specified name length: %d characters.", len(name))
	case !alnum(name[0]):
		return "Trail name must starts with a letter or number."
	case !alnum(name[len(name)-1]):
		return "Trail name must ends with a letter or number."
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !alnum(c) && c != '.' && c != '-' && c != '_' {
			return "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_)."
		}
	}
	if adjacent.MatchString(name) {
		return "Trail name must not have adjacent periods, underscores or dashes. Invalid name: " + name + "."
	}
	if ipShaped.MatchString(name) {
		return "Trail name must not be in an IP address format. Invalid name: " + name + "."
	}
	return ""
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validatePrefix checks an S3 key prefix; "" when fine.
func validatePrefix(p string) string {
	if len(p) > 200 {
		return fmt.Sprintf("Prefix is too long. Maximum allowed length: 200 characters. Specified prefix length: %d characters.", len(p))
	}
	if p == "" {
		return ""
	}
	// Log file keys are prefix + "/AWSLogs/...": a prefix that would make
	// an empty, "." or ".." path element could never be written.
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return "Prefix " + p + " is not valid: it must not begin or end with a slash, or contain empty, \".\" or \"..\" path elements."
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "Prefix " + p + " is not valid: it must not contain control characters."
		}
	}
	return ""
}
