package bench

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGenerateLakeData makes a data set from two template files and checks
// its layout, its count and what changed in the records.
func TestGenerateLakeData(t *testing.T) {
	src := t.TempDir()
	tmpl := map[string]string{
		"a.json": `{"Records":[{"eventVersion":"1.08","eventTime":"2020-01-01T00:00:00Z","eventID":"11111111-1111-4111-8111-111111111111","requestID":"r1","eventName":"GetObject","awsRegion":"eu-west-1","recipientAccountId":"111111111111","requestParameters":{"bucketName":"b"}},` +
			`{"eventVersion":"1.08","eventTime":"2020-01-01T00:00:01Z","eventID":"22222222-2222-4222-8222-222222222222","eventName":"PutObject","awsRegion":"eu-west-1","recipientAccountId":"111111111111"}]}`,
		"b.json": `{"Records":[ {"eventTime": "2020-01-01T00:00:02Z", "eventName": "RunInstances", "eventID": "x", "awsRegion": "us-east-1", "recipientAccountId": "222222222222"} ]}`,
		"c.txt":  `not a log file`,
	}
	for name, body := range tmpl {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	d, err := GenerateLakeData(context.Background(), LakeDataOptions{Source: src, Dir: out, Events: 10, FilesPerFile: 10, End: end, Span: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Events != 10 || d.Files != 7 {
		t.Fatalf("generated %+v, want 10 events in 7 files (2 and 1 records per run, cycled)", d)
	}
	seen := map[string]bool{}
	names := map[string]int{}
	files := 0
	err = filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		rel, _ := filepath.Rel(out, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 8 || parts[0] != "AWSLogs" || parts[2] != "CloudTrail" || !strings.HasPrefix(parts[7], parts[1]+"_CloudTrail_"+parts[3]+"_") || !strings.HasSuffix(p, ".json.gz") {
			t.Errorf("file %s is not in AWS's layout", rel)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		var doc struct{ Records []map[string]any }
		if err := json.NewDecoder(zr).Decode(&doc); err != nil {
			return err
		}
		for _, r := range doc.Records {
			id := r["eventID"].(string)
			if seen[id] || len(id) != 36 {
				t.Errorf("eventID %q repeated or not a UUID", id)
			}
			seen[id] = true
			at, err := time.Parse(time.RFC3339, r["eventTime"].(string))
			if err != nil || at.Before(end.Add(-time.Hour)) || at.After(end) {
				t.Errorf("eventTime %v outside the span", r["eventTime"])
			}
			if r["recipientAccountId"] != parts[1] || r["awsRegion"] != parts[3] {
				t.Errorf("record of %v/%v in the folder of %s/%s", r["recipientAccountId"], r["awsRegion"], parts[1], parts[3])
			}
			if r["requestID"] == "r1" {
				t.Errorf("requestID kept")
			}
			names[r["eventName"].(string)]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 7 || len(seen) != 10 || names["GetObject"] != 4 || names["PutObject"] != 3 || names["RunInstances"] != 3 {
		t.Fatalf("files %d, events %d, names %v", files, len(seen), names)
	}
}
