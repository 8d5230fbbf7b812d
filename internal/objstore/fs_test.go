package objstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/objstore/objstoretest"
)

func TestFSContract(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return objstore.NewFS(filepath.Join(t.TempDir(), "buckets")) })
}

func newFSBucket(t *testing.T) (*objstore.FS, string) {
	root := t.TempDir()
	s := objstore.NewFS(root)
	if err := s.CreateBucket(t.Context(), "logs", true); err != nil {
		t.Fatal(err)
	}
	return s, root
}

// The tree is readable as it is: a key is a path under the bucket.
func TestFSLayout(t *testing.T) {
	s, root := newFSBucket(t)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/f.json.gz"
	if err := s.Put(t.Context(), "logs", key, []byte("body"), objstore.PutOptions{Metadata: map[string]string{"signature": "ab"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "logs", filepath.FromSlash(key)))
	if err != nil || string(b) != "body" {
		t.Fatalf("object file: %q, %v", b, err)
	}
	dir := filepath.Join(root, "logs", "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22")
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".f.json.gz.cairn-meta.json", "f.json.gz"}) {
		t.Errorf("directory holds %q: want the object and its sidecar, no temp files", names)
	}
}

// Files a crash leaves behind, and files copied in by hand, are handled
// as they should be: leftovers hidden, foreign files listed with an ETag.
func TestFSLeftoversAndForeignFiles(t *testing.T) {
	ctx := t.Context()
	s, root := newFSBucket(t)
	dir := filepath.Join(root, "logs", "d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		".x.tmp-123456":              "half-written",
		"..x.cairn-meta.json.tmp-99": "{",
		".gone.cairn-meta.json":      `{"ETag":"\"00\"","Size":1}`,
		"copied.json":                "by hand",
		".stale.cairn-meta.json":     `{"ETag":"\"00\"","Size":5,"Metadata":{"m":"old"}}`,
		"stale":                      "newer",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List(ctx, "logs", "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range l {
		got = append(got, i.Key)
		body, _ := os.ReadFile(filepath.Join(dir, filepath.Base(i.Key)))
		if i.ETag != objstore.ETag(body) {
			t.Errorf("%s: ETag %s, want the body's", i.Key, i.ETag)
		}
	}
	if !slices.Equal(got, []string{"d/copied.json", "d/stale"}) {
		t.Errorf("listed %q", got)
	}
	// A sidecar that does not describe the body (a Put that never
	// finished) must not lend it metadata.
	obj, err := s.Get(ctx, "logs", "d/stale")
	if err != nil || len(obj.Metadata) != 0 {
		t.Errorf("Get(d/stale) = %+v, %v", obj, err)
	}
}

func TestFSKeyConflict(t *testing.T) {
	ctx := t.Context()
	s, _ := newFSBucket(t)
	if err := s.Put(ctx, "logs", "a/b", []byte("1"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "logs", "a/b/c", []byte("2"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrKeyConflict) {
		t.Errorf("Put under an object: %v", err)
	}
	if err := s.Put(ctx, "logs", "a", []byte("3"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrKeyConflict) {
		t.Errorf("Put over a directory: %v", err)
	}
	if _, err := s.Get(ctx, "logs", "a/b/c"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get under an object: %v", err)
	}
}

func TestFSRetainedFileIsReadOnly(t *testing.T) {
	s, root := newFSBucket(t)
	if err := s.Put(t.Context(), "logs", "r/f", []byte("x"), objstore.PutOptions{RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "logs", "r", "f"))
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("retained file mode %v, %v", st.Mode(), err)
	}
	sc, err := os.ReadFile(filepath.Join(root, "logs", "r", ".f.cairn-meta.json"))
	if err != nil || !strings.Contains(string(sc), "RetainUntil") {
		t.Errorf("sidecar %s, %v", sc, err)
	}
}

func TestFSBucketNamesAreNotPaths(t *testing.T) {
	ctx := t.Context()
	s, _ := newFSBucket(t)
	for _, b := range []string{"..", "../logs", "logs/d", ""} {
		if _, err := s.List(ctx, b, "", "", 0); !errors.Is(err, objstore.ErrNoSuchBucket) {
			t.Errorf("List(%q): %v", b, err)
		}
		if err := s.CreateBucket(ctx, b, false); !errors.Is(err, objstore.ErrInvalidBucketName) {
			t.Errorf("CreateBucket(%q): %v", b, err)
		}
	}
}

// A crash between a Put's sidecar and its rename leaves the new sidecar
// (asking for retention) beside the old body. The retried Put must go
// through, not find the old body locked by the new sidecar.
func TestFSRetryAfterCrashMidPut(t *testing.T) {
	ctx := t.Context()
	s, root := newFSBucket(t)
	if err := s.Put(ctx, "logs", "f", []byte("old"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	sidecar := `{"ETag":` + strconv.Quote(objstore.ETag([]byte("new"))) + `,"Size":3,"Metadata":{"m":"v"},"RetainUntil":"` + until + `"}`
	if err := os.WriteFile(filepath.Join(root, "logs", ".f.cairn-meta.json"), []byte(sidecar), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, _, err := s.Head(ctx, "logs", "f"); err != nil || info.ETag != objstore.ETag([]byte("old")) {
		t.Errorf("Head before the retry: %+v, %v", info, err)
	}
	if err := s.Put(ctx, "logs", "f", []byte("new"), objstore.PutOptions{Metadata: map[string]string{"m": "v"}, RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("retried Put: %v", err)
	}
	obj, err := s.Get(ctx, "logs", "f")
	if err != nil || string(obj.Body) != "new" || obj.Metadata["m"] != "v" {
		t.Errorf("after the retry: %+v, %v", obj, err)
	}
}
