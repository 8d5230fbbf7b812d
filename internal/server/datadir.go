package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// prepareDataDir makes the data directory, or closes one that exists, to
// everyone but the user cairn runs as: the directory and every directory
// in it 0700, every file in it 0600, whatever modes an earlier release, an
// operator or a restored backup left. Deeper entries need no change: no
// one else can reach them. Symbolic links are not followed, lest a link
// put there change the modes of a file elsewhere; each is logged.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&os.ModeSymlink != 0:
			log.Warn("data dir entry is a symbolic link; its target's modes are left as they are", "path", p)
		case e.IsDir():
			err = os.Chmod(p, 0o700)
		case e.Type().IsRegular():
			err = os.Chmod(p, 0o600)
		}
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}
