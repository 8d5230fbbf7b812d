//go:build unix

package objstore

import (
	"io/fs"
	"syscall"
)

// inode is the file's inode number, which a rename keeps.
func inode(st fs.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Ino)
	}
	return 0
}
