package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The fields checked here become parts of names that cairn builds from a
// record: awsRegion and the account are folders and file names of log and
// digest files, the Region also names a folder of signing keys, and both
// are parts of Pebble keys; eventSource and eventID are index and dedupe
// keys. Each is held to the shape AWS gives it, which has no room for path
// separators, dots of their own, NUL or anything that sorts or escapes
// differently: a record that passes can be placed everywhere.

// maxRegion bounds a Region name (AWS's longest today is 14 bytes).
const maxRegion = 64

// ValidRegion reports whether s has the shape of an AWS Region name
// (us-east-1, us-gov-west-1, cn-north-1) or of the short names people give
// a local deployment (local, dev-2): 1-64 lower-case letters, digits and
// hyphens, starting with a letter and not ending with a hyphen. It is the
// shape SigV4 accepts in a credential scope, so that every Region a caller
// can sign for is one a record may carry.
func ValidRegion(s string) bool {
	if s == "" || len(s) > maxRegion || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// maxEventSource is DNS's limit on a host name.
const maxEventSource = 253

// ValidEventSource reports whether s has the shape of an eventSource: a
// host name of at least two labels (ec2.amazonaws.com,
// resource-explorer-2.amazonaws.com, or a platform's own
// storage.example.com), each label 1-63 lower-case letters, digits and
// hyphens that neither start nor end with a hyphen, 253 bytes at most.
func ValidEventSource(s string) bool {
	if s == "" || len(s) > maxEventSource {
		return false
	}
	labels, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		l := s[start:i]
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		labels++
		start = i + 1
	}
	return labels >= 2
}

// ValidEventID reports whether s has the shape of a CloudTrail eventID: a
// GUID, 8-4-4-4-12 hexadecimal digits (AWS writes them in lower case; upper
// case is accepted from other producers).
func ValidEventID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// AnonymousPrincipal is the accountId AWS gives userIdentity for an
// anonymous request (S3 data events).
const AnonymousPrincipal = "ANONYMOUS_PRINCIPAL"

// validIdentityAccount reports whether s may be userIdentity.accountId:
// absent, an account ID, or AWS's marker of an anonymous caller.
func validIdentityAccount(s string) bool {
	return s == "" || s == AnonymousPrincipal || ValidAccountID(s)
}

// The span of eventTimes cairn takes: an envelope keeps the time in Unix
// nanoseconds, which hold 1678 to 2262 exactly, and no CloudTrail record
// predates 1970.
var (
	minEventTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ParseTime reads an eventTime as CloudTrail writes it, in UTC:
// YYYY-MM-DDTHH:MM:SS followed by an optional fraction of 1-9 digits and
// Z, from 1970 to 2261. Offsets other than Z are refused: every record
// then shows its time the way it is compared and filed.
func ParseTime(s string) (time.Time, error) {
	const shape = "dddd-dd-ddTdd:dd:dd"
	bad := &time.ParseError{Layout: TimeFormat, Value: s, Message: ": not a CloudTrail eventTime"}
	if len(s) < len(shape)+1 || s[len(s)-1] != 'Z' {
		return time.Time{}, bad
	}
	for i := 0; i < len(shape); i++ {
		if c := s[i]; shape[i] == 'd' && (c < '0' || c > '9') || shape[i] != 'd' && c != shape[i] {
			return time.Time{}, bad
		}
	}
	if frac := s[len(shape) : len(s)-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, bad
		}
		if _, err := strconv.ParseUint(frac[1:], 10, 64); err != nil {
			return time.Time{}, bad
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Before(minEventTime) || !t.Before(maxEventTime) {
		return time.Time{}, bad
	}
	return t.UTC(), nil
}

// maxQuoted bounds how much of a refused value an error message repeats,
// so that answers stay small whatever a record holds.
const maxQuoted = 64

// quote is strconv.Quote of at most the first maxQuoted bytes of s.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "…"
}
