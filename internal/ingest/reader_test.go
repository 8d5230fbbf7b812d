package ingest

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFormats(t *testing.T) {
	rec := `{"eventVersion":"1.08","eventName":"A"}`
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"Records":[` + rec + `,` + rec + `]}`))
	w.Close()
	cases := map[string]struct {
		in   []byte
		want int
	}{
		"Records document": {[]byte(`{"Records":[` + rec + `,` + rec + `,` + rec + `]}`), 3},
		"gzip":             {gz.Bytes(), 2},
		"array":            {[]byte(`[` + rec + `,` + rec + `]`), 2},
		"NDJSON":           {[]byte(rec + "\n" + rec + "\n\n" + rec + "\n"), 3},
		"one record":       {[]byte(rec), 1},
		"empty Records":    {[]byte(`{"Records":[]}`), 0},
		"empty file":       {nil, 0},
		"lookup output":    {[]byte(`{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}]}`), 1},
		"lookup items":     {[]byte(`{"EventId":"x","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}` + "\n" + rec), 2},
	}
	for name, c := range cases {
		recs, err := Read(bytes.NewReader(c.in))
		if err != nil || len(recs) != c.want {
			t.Errorf("%s: %d records, %v; want %d", name, len(recs), err, c.want)
		}
	}
	recs, _ := Read(strings.NewReader(`{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}]}`))
	if len(recs) != 1 || string(recs[0]) != `{"eventVersion":"1.08"}` {
		t.Errorf("LookupEvents output not unwrapped: %s", recs)
	}
	for name, bad := range map[string]string{"scalar": `42`, "broken": `{"Records":[{"a":`, "string": `"x"`} {
		if _, err := Read(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPathAccount(t *testing.T) {
	for path, want := range map[string]string{
		"logs/AWSLogs/123456789012/CloudTrail/us-east-1/2020/01/01/x.json.gz":         "123456789012",
		"AWSLogs/o-abcdefghij/123456789012/CloudTrail/us-east-1/2020/01/01/x.json.gz": "123456789012",
		"prefix/AWSLogs/12345/CloudTrail/x.json":                                      "",
		"x.json":                                                                      "",
	} {
		if got := PathAccount(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

func TestFilesWalksTreesAndSkipsDigests(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"AWSLogs/111122223333/CloudTrail/us-east-1/2020/01/01/a.json.gz",
		"AWSLogs/111122223333/CloudTrail/us-east-1/2020/01/01/b.json",
		"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2020/01/01/d.json.gz",
		"extra/c.ndjson",
		"extra/notes.txt",
	} {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte("{}"), 0o644)
	}
	files, err := Files([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := "AWSLogs/111122223333/CloudTrail/us-east-1/2020/01/01/a.json.gz AWSLogs/111122223333/CloudTrail/us-east-1/2020/01/01/b.json extra/c.ndjson"
	if strings.Join(rel, " ") != want {
		t.Errorf("files:\n%s\nwant\n%s", strings.Join(rel, " "), want)
	}
	if _, err := Files([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing path accepted")
	}
}
