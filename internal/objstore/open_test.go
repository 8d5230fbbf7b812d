package objstore_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-audit/cairn/internal/objstore"
)

// TestFSOpenFileReplacedByHand opens a file that was copied over an
// object behind the store's back: the old sidecar's metadata does not
// come with it, and the body is read from its start after hashing.
func TestFSOpenFileReplacedByHand(t *testing.T) {
	s, root := newFSBucket(t)
	if err := s.Put(t.Context(), "logs", "a/k", []byte("body"), objstore.PutOptions{Metadata: map[string]string{"signature": "ab"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "logs", "a", "k"), []byte("other body"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(t.Context(), "logs", "a/k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || string(b) != "other body" || r.ETag != objstore.ETag(b) || r.Metadata != nil {
		t.Errorf("body %q, %v, etag %s, metadata %v", b, err, r.ETag, r.Metadata)
	}
}
