package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A data directory made 0755 beforehand, with the entries an older
// release left readable by everyone, is closed at start; a link in it does
// not carry the change to its target.
func TestPrepareDataDirClosesAnExistingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	for _, d := range []string{dir, filepath.Join(dir, "buckets"), filepath.Join(dir, "ledger"), filepath.Join(dir, "buckets", "logs")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(dir, "credentials"), outside} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// MkdirAll and WriteFile obey the umask: set the modes the test means.
	for p, mode := range map[string]os.FileMode{dir: 0o755, filepath.Join(dir, "buckets"): 0o755, filepath.Join(dir, "credentials"): 0o644, outside: 0o644} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(dir, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		dir:                               0o700,
		filepath.Join(dir, "buckets"):     0o700,
		filepath.Join(dir, "ledger"):      0o700,
		filepath.Join(dir, "credentials"): 0o600,
		outside:                           0o644,
	} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, st.Mode().Perm(), err, want)
		}
	}
}

// A data directory that does not exist yet is made 0700.
func TestPrepareDataDirMakesAPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	if err := prepareDataDir(dir, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
}
