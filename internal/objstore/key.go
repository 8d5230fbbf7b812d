package objstore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Every backend accepts the same keys, so that a bucket can move between
// them: S3 allows nearly anything, but the fs backend maps keys onto paths,
// and cairn never needs keys a path could not hold.
const (
	maxKeyBytes     = 1024 // S3's limit
	maxElementBytes = 200  // leaves room within NAME_MAX for the fs backend's hidden names
	sidecarSuffix   = ".cairn-meta.json"
	tempInfix       = ".tmp-"
)

// CheckKey reports whether a key is one every backend stores: 1-1024 bytes
// of UTF-8 without NUL, made of '/'-separated elements of at most 200 bytes
// that are not empty, "." or "..", and that are not the fs backend's hidden
// names (".NAME.cairn-meta.json", ".NAME.tmp-…").
func CheckKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyBytes:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return bad("contains NUL")
	}
	for e := range strings.SplitSeq(key, "/") {
		switch {
		case e == "":
			return bad("empty path element")
		case e == "." || e == "..":
			return bad("relative path element")
		case len(e) > maxElementBytes:
			return bad("path element longer than 200 bytes")
		case hidden(e):
			return bad("reserved name")
		}
	}
	return nil
}

// hidden reports whether a file name is one of the fs backend's own.
func hidden(name string) bool {
	return strings.HasPrefix(name, ".") && (strings.HasSuffix(name, sidecarSuffix) || strings.Contains(name, tempInfix))
}
