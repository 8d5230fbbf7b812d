package objstore

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckKey: any key CheckKey accepts maps to a path inside its bucket
// directory that is not one of the fs backend's hidden names.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"a/b", "../x", "a/../../b", "/abs", "a//b", ".x.tmp-1", "x/.y.cairn-meta.json", "é/\x00"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		bdir := filepath.Join("root", "bucket")
		dir, file, meta := objectPaths(bdir, key)
		for _, p := range []string{dir, file, meta} {
			rel, err := filepath.Rel(bdir, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Fatalf("key %q escapes to %s", key, p)
			}
		}
		if filepath.ToSlash(mustRel(bdir, file)) != key {
			t.Fatalf("key %q maps to %s", key, file)
		}
		if hidden(filepath.Base(file)) || !hidden(filepath.Base(meta)) {
			t.Fatalf("key %q collides with hidden names", key)
		}
	})
}
