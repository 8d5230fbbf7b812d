package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A data directory made readable by everyone before cairn's first start
// ends closed, and everything the server writes in it, its own files and
// its databases', is for its user only.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{dir, filepath.Join(dir, "buckets")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := startNode(t, dir)
	n.mustRun("buckets", "create", "private-logs")
	n.mustRun("lookup", "--max-items", "1")
	n.stop()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, readable by others", p, st.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir: mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
}
