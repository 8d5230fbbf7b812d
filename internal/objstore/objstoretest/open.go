package objstoretest

import (
	"bytes"
	"io"
	"maps"
	"testing"

	"github.com/cairn-audit/cairn/internal/objstore"
)

// testOpen: Open gives what Get gives, with the body as a stream.
func testOpen(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	body := gzipped(t, `{"Records":[]}`)
	put(t, s, b, "d/log.json.gz", body, objstore.PutOptions{ContentType: "application/json", ContentEncoding: "gzip",
		Metadata: map[string]string{"Signature": "0a1b2c"}})
	put(t, s, b, "d/over", []byte("one"), objstore.PutOptions{Metadata: map[string]string{"a": "1"}})
	put(t, s, b, "d/over", []byte("second"), objstore.PutOptions{})
	put(t, s, b, "d/empty", nil, objstore.PutOptions{})
	for _, key := range []string{"d/log.json.gz", "d/over", "d/empty"} {
		want := get(t, s, b, key)
		r, err := s.Open(ctx, b, key)
		if err != nil {
			t.Fatalf("Open(%s): %v", key, err)
		}
		got, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil || !bytes.Equal(got, want.Body) {
			t.Errorf("Open(%s) body %q, %v; Get %q", key, got, err, want.Body)
		}
		if r.Key != want.Key || r.Size != want.Size || r.ETag != want.ETag || !r.LastModified.Equal(want.LastModified) {
			t.Errorf("Open(%s) %+v, Get %+v", key, r.ObjectInfo, want.ObjectInfo)
		}
		if !maps.Equal(r.Metadata, want.Metadata) || r.ContentType != want.ContentType || r.ContentEncoding != want.ContentEncoding {
			t.Errorf("Open(%s) metadata %v %q %q, Get %v %q %q", key, r.Metadata, r.ContentType, r.ContentEncoding,
				want.Metadata, want.ContentType, want.ContentEncoding)
		}
	}
	_, err := s.Open(ctx, b, "d/missing")
	wantErr(t, "Open(missing key)", err, objstore.ErrNotFound)
	_, err = s.Open(ctx, b, "d")
	wantErr(t, "Open(d), a prefix of keys", err, objstore.ErrNotFound)
	_, err = s.Open(ctx, bucketName(), "k")
	wantErr(t, "Open(missing bucket)", err, objstore.ErrNoSuchBucket)
	_, err = s.Open(ctx, b, "../up")
	wantErr(t, "Open(../up)", err, objstore.ErrInvalidKey)
}
