package main

import (
	"slices"
	"testing"
)

func TestBucketArgs(t *testing.T) {
	for _, args := range [][]string{
		{"trail-logs", "--object-lock"},
		{"--object-lock", "trail-logs"},
		{"--object-lock=true", "trail-logs", "--output", "json"},
	} {
		fs := newFlagSet("buckets create", "NAME")
		lock := fs.Bool("object-lock", false, "")
		fs.String("output", "table", "")
		pos, err := bucketArgs(fs, args, "NAME")
		if err != nil || !slices.Equal(pos, []string{"trail-logs"}) || !*lock {
			t.Errorf("%q: %q, lock %v, %v", args, pos, *lock, err)
		}
	}
	fs := newFlagSet("buckets get", "NAME KEY")
	if _, err := bucketArgs(fs, []string{"only-name"}, "NAME", "KEY"); err == nil {
		t.Error("a missing KEY was accepted")
	}
	fs = newFlagSet("buckets list", "")
	if _, err := bucketArgs(fs, []string{"extra"}); err == nil {
		t.Error("an extra argument was accepted")
	}
}
