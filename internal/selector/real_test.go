package selector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/event"
)

// realData holds records AWS wrote, shared by the whole project.
const realData = "../../testdata/cloudtrail-real"

// loadRealRecords returns every record under realData: delivered log files
// ({"Records":[...]}, gzipped or not) and NDJSON from log shippers.
func loadRealRecords(t *testing.T) [][]byte {
	t.Helper()
	if _, err := os.Stat(realData); err != nil {
		t.Skipf("no real records: %v", err)
	}
	var records [][]byte
	err := filepath.WalkDir(realData, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "digest", "lookup-events-format", "LICENSES":
				return filepath.SkipDir
			}
			return nil
		}
		var r io.Reader
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		switch {
		case strings.HasSuffix(path, ".json.gz"):
			z, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			r = z
		case strings.HasSuffix(path, ".json"), strings.HasSuffix(path, ".jsonl"):
			r = f
		default:
			return nil
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		var file struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &file) == nil && file.Records != nil {
			for _, rec := range file.Records {
				records = append(records, rec)
			}
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				records = append(records, bytes.Clone(line))
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// TestRealRecords runs the ingest path's view of AWS's own records through
// matchers whose answer is known from the records themselves.
func TestRealRecords(t *testing.T) {
	records := loadRealRecords(t)
	f := false
	readOnlyBasic := Compile([]EventSelector{{ReadWriteType: ReadOnly}}, nil)
	readOnlyAdvanced := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "readOnly", Equals: []string{"true"}},
	}}})
	defaults := Compile(nil, nil)
	writesNoKMS := Compile([]EventSelector{{ReadWriteType: WriteOnly, ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}}, nil)
	s3Basic := Compile([]EventSelector{{IncludeManagementEvents: &f, DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}}}, nil)
	s3Advanced := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Data"}},
		{Field: "resources.type", Equals: []string{s3Object}},
	}}})
	iamUsers := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:iam::"}},
		{Field: "eventType", Equals: []string{"AwsApiCall"}},
	}}})
	writesNotConsole := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "readOnly", Equals: []string{"false"}},
		{Field: "eventName", NotStartsWith: []string{"Console"}},
	}}})

	var parsed, management, reads, s3, iam int
	for _, raw := range records {
		env, err := event.Parse(raw, event.Defaults{})
		if err != nil {
			continue
		}
		parsed++
		e := Event{Category: env.Category.String(), ReadOnly: env.ReadOnly, EventSource: env.EventSource, EventName: env.EventName}
		if err := FillDetail(&e, env.Raw); err != nil {
			t.Fatalf("FillDetail on %s: %v", env.EventID, err)
		}
		var own struct {
			ReadOnly     *bool `json:"readOnly"`
			EventType    string
			UserIdentity struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal(env.Raw, &own); err != nil {
			t.Fatal(err)
		}
		isMgmt := e.Category == CategoryManagement
		if isMgmt {
			management++
		}

		// A ReadOnly selector keeps exactly the management records that say readOnly true.
		want := isMgmt && env.ReadOnly
		if own.ReadOnly != nil && isMgmt && *own.ReadOnly != env.ReadOnly {
			t.Fatalf("%s: envelope readOnly %v, record %v", env.EventID, env.ReadOnly, *own.ReadOnly)
		}
		if want {
			reads++
		}
		if got := readOnlyBasic.Match(&e); got != want {
			t.Errorf("%s %s: basic ReadOnly = %v, want %v", env.EventID, env.EventName, got, want)
		}
		if got := readOnlyAdvanced.Match(&e); got != want {
			t.Errorf("%s %s: advanced readOnly = %v, want %v", env.EventID, env.EventName, got, want)
		}
		if got := defaults.Match(&e); got != isMgmt {
			t.Errorf("%s %s: default = %v, want %v", env.EventID, env.EventName, got, isMgmt)
		}
		if got, want := writesNoKMS.Match(&e), isMgmt && !env.ReadOnly && env.EventSource != "kms.amazonaws.com"; got != want {
			t.Errorf("%s %s: WriteOnly without KMS = %v, want %v", env.EventID, env.EventName, got, want)
		}
		b, a := s3Basic.Match(&e), s3Advanced.Match(&e)
		if b != a {
			t.Errorf("%s %s: all S3 objects: basic %v, advanced %v", env.EventID, env.EventName, b, a)
		}
		if b {
			s3++
		}
		if b && e.Category != CategoryData {
			t.Errorf("%s %s: S3 data selector matched a %s event", env.EventID, env.EventName, e.Category)
		}
		wantIAM := isMgmt && strings.HasPrefix(own.UserIdentity.ARN, "arn:aws:iam::") && own.EventType == "AwsApiCall"
		if got := iamUsers.Match(&e); got != wantIAM {
			t.Errorf("%s %s: IAM users' API calls = %v, want %v", env.EventID, env.EventName, got, wantIAM)
		}
		if wantIAM {
			iam++
		}
		if got, want := writesNotConsole.Match(&e), isMgmt && !env.ReadOnly && !strings.HasPrefix(env.EventName, "Console"); got != want {
			t.Errorf("%s %s: writes but console ones = %v, want %v", env.EventID, env.EventName, got, want)
		}
	}
	if parsed < len(records)*9/10 {
		t.Errorf("only %d of %d records parsed", parsed, len(records))
	}
	if reads == 0 || s3 == 0 || iam == 0 {
		t.Errorf("a matcher never matched: %d reads, %d S3 data events, %d IAM user calls", reads, s3, iam)
	}
	t.Logf("%d records, %d parsed: %d management (%d reads), %d S3 data events, %d IAM user API calls",
		len(records), parsed, management, reads, s3, iam)
}
