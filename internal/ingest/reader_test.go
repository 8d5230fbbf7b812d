package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/safeio/safeiotest"
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

// TestReadBombFailsSafely reads gzip bombs, one with a trailer claiming a
// few bytes: the reader stops with ErrTooLarge at the inflated limit
// instead of inflating gigabytes.
func TestReadBombFailsSafely(t *testing.T) {
	lim := safeio.Limits{Compressed: 1 << 20, Inflated: 2 * safeiotest.Chunk, Records: 100}
	for name, b := range map[string][]byte{
		"honest trailer": safeiotest.Bomb(256),
		"lying trailer":  safeiotest.LyingBomb(256, 64),
	} {
		recs, err := ReadWithin(bytes.NewReader(b), lim)
		if !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "inflates to more than 2 MiB") || recs != nil {
			t.Errorf("%s: %d records, %v", name, len(recs), err)
		}
		if _, err := ReadLog(bytes.NewReader(b), lim); !errors.Is(err, safeio.ErrTooLarge) {
			t.Errorf("%s, as a log file: %v", name, err)
		}
	}
	// Within the limits the same bomb is what it is: an empty log file.
	small := safeiotest.Bomb(1)
	if recs, err := ReadWithin(bytes.NewReader(small), lim); err != nil || len(recs) != 0 {
		t.Errorf("small bomb: %d records, %v", len(recs), err)
	}
}

// TestReadRecordLimit: a file of many tiny values fails once it passes
// the limit of records, in every layout.
func TestReadRecordLimit(t *testing.T) {
	lim := safeio.Limits{Compressed: 1 << 20, Inflated: 1 << 20, Records: 3}
	four := strings.Repeat(`{},`, 3) + `{}`
	for name, in := range map[string]string{
		"document":        `{"Records":[` + four + `]}`,
		"late document":   `{"x":1,"Records":[` + four + `]}`,
		"array":           `[` + four + `]`,
		"NDJSON":          strings.ReplaceAll(four, ",", "\n"),
		"lookup output":   `{"Events":[` + four + `]}`,
		"second document": `{"Records":[{}]}` + "\n" + `{"Records":[{},{},{}]}`,
	} {
		if _, err := ReadWithin(strings.NewReader(in), lim); !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "more than 3 records") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadLog(strings.NewReader(`{"Records":[`+four+`]}`), lim); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("log file: %v", err)
	}
	if recs, err := ReadWithin(strings.NewReader(`[{},{},{}]`), lim); err != nil || len(recs) != 3 {
		t.Errorf("at the limit: %d, %v", len(recs), err)
	}
}

// TestReadFileRefusesLargeFiles refuses a file over the stored limit by
// its size, before reading it (a sparse file costs no disk).
func TestReadFileRefusesLargeFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, safeio.MaxLogFileCompressed+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadFile: %v", err)
	}
}

// TestReadStreamsAsItReadsWhole: the first value read as a stream gives
// the records the same value read whole gives.
func TestReadStreamsAsItReadsWhole(t *testing.T) {
	rec := `{"eventVersion":"1.08","eventName":"A\u00e9/"}`
	for _, doc := range []string{
		`{"Records":[` + rec + `,` + rec + `],"more":{"a":[1]}}`,
		`[` + rec + `,{"EventId":"x","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}]`,
		`{"Events":[{"EventId":"x","CloudTrailEvent":"{\"eventVersion\":\"1.08\"}"}],"NextToken":"t"}`,
	} {
		streamed, err := ReadWithin(strings.NewReader(" \n"+doc), safeio.LogFile())
		if err != nil {
			t.Fatal(err)
		}
		// Behind a record, the same document is read as a whole value.
		whole, err := ReadWithin(strings.NewReader(rec+"\n"+doc), safeio.LogFile())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%s", whole[1:]) != fmt.Sprintf("%s", streamed) {
			t.Errorf("streamed %s\nwhole %s", streamed, whole[1:])
		}
	}
	recs, _ := ReadWithin(strings.NewReader(`{"Records":[`+rec+`]}`), safeio.LogFile())
	if len(recs) != 1 || string(recs[0]) != rec {
		t.Errorf("record bytes changed: %s", recs)
	}
}

// TestReadLogIsStrict takes a {"Records":[...]} document and nothing
// else.
func TestReadLogIsStrict(t *testing.T) {
	lim := safeio.LogFile()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"Records":[{"a":1},{"b":2}]}`))
	w.Close()
	for name, in := range map[string][]byte{
		"plain":      []byte(` {"Records":[{"a":1},{"b":2}]} ` + "\n"),
		"gzip":       gz.Bytes(),
		"extra keys": []byte(`{"x":[1,2],"Records":[{"a":1},{"b":2}],"y":null}`),
	} {
		recs, err := ReadLog(bytes.NewReader(in), lim)
		if err != nil || len(recs) != 2 || string(recs[1]) != `{"b":2}` {
			t.Errorf("%s: %s, %v", name, recs, err)
		}
	}
	for name, in := range map[string]string{
		"array":          `[{"a":1}]`,
		"no Records":     `{"Events":[{"a":1}]}`,
		"Records null":   `{"Records":null}`,
		"two documents":  `{"Records":[]}{"Records":[]}`,
		"trailing junk":  `{"Records":[]}x`,
		"truncated":      `{"Records":[{"a":1}`,
		"empty":          ``,
		"not JSON":       `hello`,
		"Records string": `{"Records":"x"}`,
	} {
		if recs, err := ReadLog(strings.NewReader(in), lim); !errors.Is(err, ErrNotLogFile) {
			t.Errorf("%s: %s, %v", name, recs, err)
		}
	}
}

// TestReadBlankBomb reads a bomb of blanks between two tokens within the
// limits: it is the empty log file it is, and the blanks are dropped as
// they stream by rather than held (json.Decoder would also rescan them
// each time it read more, in time quadratic in their length).
func TestReadBlankBomb(t *testing.T) {
	lim := safeio.Limits{Compressed: 1 << 20, Inflated: 32 * safeiotest.Chunk, Records: 10}
	for name, read := range map[string]func(io.Reader, safeio.Limits) ([]json.RawMessage, error){"ReadLog": ReadLog, "ReadWithin": ReadWithin} {
		recs, err := read(bytes.NewReader(safeiotest.Bomb(16)), lim)
		if err != nil || len(recs) != 0 {
			t.Errorf("%s: %d records, %v", name, len(recs), err)
		}
	}
	content, err := safeio.NewReader(bytes.NewReader(safeiotest.Bomb(16)), lim)
	if err != nil {
		t.Fatal(err)
	}
	rr := &recordReader{w: window{r: content}, lim: lim}
	if found, err := rr.doc(false); !found || err != nil {
		t.Fatalf("doc: %v, %v", found, err)
	}
	if cap(rr.w.buf) > 64<<10 {
		t.Errorf("the window grew to %d bytes over 16 MiB of blanks", cap(rr.w.buf))
	}
}
