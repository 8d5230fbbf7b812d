package event

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// record returns a valid record with the given members replaced (a nil
// value removes the member).
func record(over map[string]any) []byte {
	m := map[string]any{
		"eventVersion": "1.08", "eventTime": "2020-01-01T00:00:00Z", "eventSource": "ec2.amazonaws.com",
		"eventName": "RunInstances", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
		"eventID":      "3038ebd2-c98a-4c65-9b6e-e22506292313",
		"userIdentity": map[string]any{"type": "IAMUser", "accountId": "111122223333", "userName": "alice"},
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// TestParseRefusesWhatCannotBeFiled is the record of the attack that
// stopped an organization trail (awsRegion "../../x") and its siblings:
// every field that becomes part of a key or a path is held to AWS's shape.
func TestParseRefusesWhatCannotBeFiled(t *testing.T) {
	long := strings.Repeat("a", 300)
	cases := map[string]struct {
		over map[string]any
		want string
	}{
		"region traversal":       {map[string]any{"awsRegion": "../../x"}, `awsRegion "../../x" is not a Region name`},
		"region dot dot":         {map[string]any{"awsRegion": ".."}, "awsRegion"},
		"region slash":           {map[string]any{"awsRegion": "us-east-1/x"}, "awsRegion"},
		"region upper case":      {map[string]any{"awsRegion": "US-EAST-1"}, "awsRegion"},
		"region NUL":             {map[string]any{"awsRegion": "us-east-1\x00"}, "awsRegion"},
		"region space":           {map[string]any{"awsRegion": "us east"}, "awsRegion"},
		"region trailing hyphen": {map[string]any{"awsRegion": "us-"}, "awsRegion"},
		"region digit first":     {map[string]any{"awsRegion": "1us"}, "awsRegion"},
		"region too long":        {map[string]any{"awsRegion": long}, `awsRegion "aaaa`},
		"region not a string":    {map[string]any{"awsRegion": 7}, "awsRegion must be a string"},
		"recipient letters":      {map[string]any{"recipientAccountId": "11112222333x"}, "recipientAccountId"},
		"recipient traversal":    {map[string]any{"recipientAccountId": "../111122223"}, "recipientAccountId"},
		"recipient 13 digits":    {map[string]any{"recipientAccountId": "1111222233334"}, "recipientAccountId"},
		"identity account path": {map[string]any{"userIdentity": map[string]any{"type": "IAMUser", "accountId": "../../etc"}},
			`userIdentity.accountId "../../etc" is not a 12-digit account ID`},
		"identity account short": {map[string]any{"userIdentity": map[string]any{"accountId": "1234"}}, "userIdentity.accountId"},
		"source slash":           {map[string]any{"eventSource": "ec2.amazonaws.com/../x"}, "eventSource"},
		"source traversal":       {map[string]any{"eventSource": "../../x"}, "eventSource"},
		"source one label":       {map[string]any{"eventSource": "ec2"}, "eventSource"},
		"source upper case":      {map[string]any{"eventSource": "EC2.amazonaws.com"}, "eventSource"},
		"source empty label":     {map[string]any{"eventSource": "ec2..amazonaws.com"}, "eventSource"},
		"source hyphen label":    {map[string]any{"eventSource": "-ec2.amazonaws.com"}, "eventSource"},
		"source NUL":             {map[string]any{"eventSource": "ec2\x00.amazonaws.com"}, "eventSource"},
		"source control":         {map[string]any{"eventSource": "ec2.amazonaws.com\n"}, "eventSource"},
		"source too long":        {map[string]any{"eventSource": strings.Repeat("a.", 130) + "com"}, "eventSource"},
		"eventID path":           {map[string]any{"eventID": "../x"}, `eventID "../x" is not a GUID`},
		"eventID NUL":            {map[string]any{"eventID": "3038ebd2-c98a-4c65-9b6e-e2250629231\x00"}, "eventID"},
		"eventID no hyphens":     {map[string]any{"eventID": "3038ebd2xc98a-4c65-9b6e-e22506292313"}, "eventID"},
		"eventID not hex":        {map[string]any{"eventID": "3038ebd2-c98a-4c65-9b6e-e2250629231g"}, "eventID"},
		"time offset":            {map[string]any{"eventTime": "2020-01-01T00:00:00+02:00"}, "eventTime"},
		"time lower z":           {map[string]any{"eventTime": "2020-01-01T00:00:00z"}, "eventTime"},
		"time space":             {map[string]any{"eventTime": "2020-01-01 00:00:00Z"}, "eventTime"},
		"time year 0":            {map[string]any{"eventTime": "0000-01-01T00:00:00Z"}, "eventTime"},
		"time year 9999":         {map[string]any{"eventTime": "9999-12-31T23:59:59Z"}, "eventTime"},
		"time month 13":          {map[string]any{"eventTime": "2020-13-01T00:00:00Z"}, "eventTime"},
		"time empty fraction":    {map[string]any{"eventTime": "2020-01-01T00:00:00.Z"}, "eventTime"},
		"time long fraction":     {map[string]any{"eventTime": "2020-01-01T00:00:00.1234567890Z"}, "eventTime"},
		"time signed fraction":   {map[string]any{"eventTime": "2020-01-01T00:00:00.+1Z"}, "eventTime"},
		"logstash time":          {map[string]any{"eventTime": nil, "@timestamp": "2020-01-01T00:00:00+01:00"}, "@timestamp"},
		"version long":           {map[string]any{"eventVersion": long}, "eventVersion \"aaaa"},
	}
	for name, c := range cases {
		_, err := Parse(record(c.over), Defaults{})
		if err == nil || !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
			continue
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: the message repeats the whole value (%d bytes)", name, len(err.Error()))
		}
	}
}

// TestParseRefusesDuplicateMembers: with a member given twice the envelope
// and a reader of the delivered file could disagree on where it belongs.
func TestParseRefusesDuplicateMembers(t *testing.T) {
	good := string(record(nil))
	for _, dup := range []string{
		`"awsRegion":"../../x"`, `"recipientAccountId":"999999999999"`, `"eventSource":"s3.amazonaws.com"`,
		`"eventID":"6f3c1a4e-9b1d-4c2e-8f0a-1b2c3d4e5f60"`, `"eventTime":"2021-01-01T00:00:00Z"`,
		`"userIdentity":{"accountId":"999999999999"}`,
	} {
		raw := good[:len(good)-1] + "," + dup + "}"
		if _, err := Parse([]byte(raw), Defaults{}); err == nil || !strings.Contains(err.Error(), "appears more than once") {
			t.Errorf("%s twice: %v", dup, err)
		}
	}
	raw := strings.Replace(good, `"accountId":"111122223333"`, `"accountId":"111122223333","accountId":"../x"`, 1)
	if _, err := Parse([]byte(raw), Defaults{}); err == nil || !strings.Contains(err.Error(), "userIdentity.accountId appears more than once") {
		t.Errorf("userIdentity.accountId twice: %v", err)
	}
}

// TestParseRefusesWhatJSONRefuses: the record's bytes are delivered and
// stored as they are, so they must be JSON to every reader, not only to
// the lenient parser cairn reads them with.
func TestParseRefusesWhatJSONRefuses(t *testing.T) {
	good := string(record(nil))
	for name, raw := range map[string]string{
		"newline in a string":      strings.Replace(good, `"alice"`, "\"al\nice\"", 1),
		"newline in a member name": strings.Replace(good, `"userName"`, "\"user\nName\"", 1),
		"control character":        strings.Replace(good, `"alice"`, "\"al\x01ice\"", 1),
		"not UTF-8":                strings.Replace(good, `"alice"`, "\"al\xffice\"", 1),
		"control beside an escape": strings.Replace(good, `"alice"`, "\"al\x14\\bice\"", 1),
		"unknown escape":           strings.Replace(good, `"userName"`, `"user\0Name"`, 1),
	} {
		if _, err := Parse([]byte(raw), Defaults{}); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("%s: %v", name, err)
		}
	}
	pretty, _ := json.MarshalIndent(json.RawMessage(good), "", "\t")
	if _, err := Parse(pretty, Defaults{}); err != nil {
		t.Errorf("a pretty-printed record: %v", err)
	}
}

// TestParseAcceptsAWSShapes covers the shapes real records have beyond the
// shared data set's.
func TestParseAcceptsAWSShapes(t *testing.T) {
	for name, over := range map[string]map[string]any{
		"GovCloud":            {"awsRegion": "us-gov-west-1"},
		"China":               {"awsRegion": "cn-northwest-1"},
		"ISO":                 {"awsRegion": "us-isob-east-1"},
		"local Region":        {"awsRegion": "local"},
		"hyphenated source":   {"eventSource": "resource-explorer-2.amazonaws.com"},
		"platform source":     {"eventSource": "storage.example.com"},
		"upper-case GUID":     {"eventID": "3038EBD2-C98A-4C65-9B6E-E22506292313"},
		"no eventID":          {"eventID": nil},
		"milliseconds":        {"eventTime": "2020-01-01T00:00:00.123Z"},
		"nanoseconds":         {"eventTime": "2020-01-01T00:00:00.123456789Z"},
		"leap day":            {"eventTime": "2020-02-29T23:59:59Z"},
		"anonymous caller":    {"userIdentity": map[string]any{"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}},
		"AWS service":         {"userIdentity": map[string]any{"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
		"cross-account actor": {"userIdentity": map[string]any{"type": "AWSAccount", "accountId": "999999999999"}},
		"insight":             {"eventType": "AwsCloudTrailInsight", "eventSource": nil, "eventName": nil, "insightDetails": map[string]any{"state": "Start"}},
	} {
		if _, err := Parse(record(over), Defaults{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An anonymous caller never stands in for a missing recipient.
	raw := record(map[string]any{"recipientAccountId": nil, "userIdentity": map[string]any{"accountId": "ANONYMOUS_PRINCIPAL"}})
	if _, err := Parse(raw, Defaults{}); err == nil || !strings.Contains(err.Error(), "no account is implied") {
		t.Errorf("anonymous caller without recipient: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2014-09-26T12:05:15Z":           time.Date(2014, 9, 26, 12, 5, 15, 0, time.UTC),
		"2020-09-14T00:45:36.000Z":       time.Date(2020, 9, 14, 0, 45, 36, 0, time.UTC),
		"1970-01-01T00:00:00Z":           time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		"2261-12-31T23:59:59.999999999Z": time.Date(2261, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
		// The envelope keeps Unix nanoseconds: every accepted time survives.
		if back := time.Unix(0, got.UnixNano()).UTC(); !back.Equal(want) {
			t.Errorf("%s does not survive the envelope: %v", in, back)
		}
	}
	for _, in := range []string{"", "Z", "1969-12-31T23:59:59Z", "2262-01-01T00:00:00Z", "2020-01-01T24:00:00Z", "2020-02-30T00:00:00Z", "+2020-01-01T00:00:00Z"} {
		if _, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) accepted", in)
		}
	}
}

// TestParseAcceptsLookupEventsFormat parses the records of the real
// LookupEvents output (CloudTrailEvent strings), which realRecords leaves
// out.
func TestParseAcceptsLookupEventsFormat(t *testing.T) {
	realRecords(t) // skips without the data set
	paths, err := filepath.Glob(filepath.Join(realData, "lookup-events-format", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no LookupEvents samples: %v", err)
	}
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var le struct{ CloudTrailEvent string }
			if json.Unmarshal([]byte(line), &le) != nil || le.CloudTrailEvent == "" {
				continue
			}
			if _, err := Parse([]byte(le.CloudTrailEvent), Defaults{}); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no records in the LookupEvents samples")
	}
}

func TestHasControl(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0xe0))
		}
		if len(b) > 0 && rng.IntN(2) == 0 {
			b[rng.IntN(len(b))] = byte(rng.IntN(0x20))
		}
		want := false
		for _, c := range b {
			want = want || c < 0x20
		}
		if hasControl(b) != want {
			t.Fatalf("hasControl(%q) = %v", b, !want)
		}
	}
}
