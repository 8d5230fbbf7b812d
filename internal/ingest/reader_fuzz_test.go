package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/safeio/safeiotest"
)

// FuzzReadWithin reads arbitrary bytes, as they are and gzipped, within small
// limits: no panic, never more records than the limit, the same records
// either way, and a log file accepted only if it is JSON.
func FuzzReadWithin(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventVersion":"1.08"},{}]}`))
	f.Add([]byte(`[{"EventId":"x","CloudTrailEvent":"{\"a\":1}"},{}]`))
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n[{}]\n"))
	f.Add([]byte(`{"Events":[{"CloudTrailEvent":"x"}],"Records":[1]}`))
	f.Add([]byte(`{"x":{"Records":[]},"Records":[[],{}]}`))
	f.Add([]byte(` {"Records":null} `))
	f.Add(safeiotest.LyingBomb(3, 10))
	f.Add([]byte("[1,   \"a  \\\"  \\\\\"  ,\t\n\r 2]"))
	lim := safeio.Limits{Compressed: 64 << 10, Inflated: 64 << 10, Records: 20}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := ReadWithin(bytes.NewReader(in), lim)
		if len(recs) > lim.Records {
			t.Fatalf("%d records, over the limit", len(recs))
		}
		if err != nil && recs != nil {
			t.Fatalf("records with an error: %v", err)
		}
		log, lerr := ReadLog(bytes.NewReader(in), lim)
		if len(log) > lim.Records {
			t.Fatalf("log file: %d records, over the limit", len(log))
		}
		if lerr == nil && len(in) > 0 && in[0] != 0x1f && !json.Valid(in) {
			t.Fatalf("log file accepted, not JSON: %q", in)
		}
		// A log file accepted has the records encoding/json finds in it.
		var doc map[string]json.RawMessage
		if lerr == nil && bytes.Count(in, []byte(`"Records"`)) == 1 && json.Unmarshal(in, &doc) == nil {
			var want []json.RawMessage
			if err := json.Unmarshal(doc["Records"], &want); err != nil || fmt.Sprintf("%q", want) != fmt.Sprintf("%q", log) {
				t.Fatalf("log file %q: %q, encoding/json %q (%v)", in, log, want, err)
			}
		}
		if len(in) > 1 && in[0] == 0x1f && in[1] == 0x8b {
			return
		}
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(in)
		w.Close()
		zrecs, zerr := ReadWithin(&gz, lim)
		if (err == nil) != (zerr == nil) || fmt.Sprintf("%q", recs) != fmt.Sprintf("%q", zrecs) {
			t.Fatalf("plain %q, %v; gzipped %q, %v", recs, err, zrecs, zerr)
		}
		if errors.Is(err, safeio.ErrTooLarge) != errors.Is(zerr, safeio.ErrTooLarge) {
			t.Fatalf("limits differ: %v / %v", err, zerr)
		}
	})
}
