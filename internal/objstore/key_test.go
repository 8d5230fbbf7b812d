package objstore

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckKey: any key CheckKey accepts is a path of plain names, each
// opened by the fs backend inside the directory before it, none of them
// one of the backend's hidden names, and its sidecar's name is hidden.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"a/b", "../x", "a/../../b", "/abs", "a//b", ".x.tmp-1", "x/.y.cairn-meta.json", "é/\x00"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		elems := strings.Split(key, "/")
		for _, e := range elems {
			if e == "" || e == "." || e == ".." || strings.ContainsRune(e, filepath.Separator) || filepath.IsAbs(e) || hidden(e) {
				t.Fatalf("key %q has the element %q", key, e)
			}
		}
		if !hidden(metaName(elems[len(elems)-1])) {
			t.Fatalf("key %q: its sidecar's name is not hidden", key)
		}
	})
}
