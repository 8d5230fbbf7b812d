package safeiotest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"
)

// TestBombIsWhatItSays inflates small bombs without limits: the content
// is the document announced, the checksum holds, and the file weighs
// little.
func TestBombIsWhatItSays(t *testing.T) {
	for _, chunks := range []int{1, 2, 5} {
		b := Bomb(chunks)
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%d chunks: %v", chunks, err)
		}
		if int64(len(content)) != InflatedSize(chunks) {
			t.Errorf("%d chunks: %d bytes, want %d", chunks, len(content), InflatedSize(chunks))
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(content, &doc); err != nil || doc.Records == nil || len(doc.Records) != 0 {
			t.Errorf("%d chunks: content is not an empty log document: %v", chunks, err)
		}
		if len(b) > 8<<10*chunks {
			t.Errorf("%d chunks weigh %d bytes", chunks, len(b))
		}
	}
	lie := LyingBomb(2, 100)
	if got := binary.LittleEndian.Uint32(lie[len(lie)-4:]); got != 100 {
		t.Errorf("trailer claims %d", got)
	}
}
