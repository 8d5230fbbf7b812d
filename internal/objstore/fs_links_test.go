//go:build unix

package objstore

import (
	"errors"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// secretBody is what the files outside the bucket hold.
const secretBody = "aws_secret_access_key = not-yours"

// trapKeys are the keys of linkedBucket that must read as missing.
var trapKeys = []string{
	"link-out",                // a link to a file outside the bucket
	"link-other-bucket",       // a relative link to another bucket's object
	"link-in",                 // a link to an object of the same bucket
	"link-dir/secret.txt",     // a linked directory
	"sub/link-dir/secret.txt", // a linked directory further down
	"pipe",                    // a FIFO: opening it for reading would block
	"device",                  // a character device (made when running as root)
}

// linkedBucket makes the fs bucket "logs" with the objects "real" and
// "sub/real", and beside them what someone with access to the directory
// could place there to reach other files (trapKeys).
func linkedBucket(t *testing.T) (s *FS, root, outside string) {
	t.Helper()
	ctx := t.Context()
	root = filepath.Join(t.TempDir(), "buckets")
	outside = t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secretBody), 0o600); err != nil {
		t.Fatal(err)
	}
	s = NewFS(root)
	for _, b := range []string{"logs", "other"} {
		if err := s.CreateBucket(ctx, b, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"real", "sub/real"} {
		if err := s.Put(ctx, "logs", k, []byte("mine"), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "other", "x", []byte(secretBody), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(root, "logs")
	for link, target := range map[string]string{
		"link-out":          filepath.Join(outside, "secret.txt"),
		"link-other-bucket": "../other/x",
		"link-in":           "real",
		"link-dir":          outside,
		"sub/link-dir":      outside,
	} {
		if err := os.Symlink(target, filepath.Join(b, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(b, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	// /dev/null's numbers; only root may make a device, and the test of
	// the others stands without it.
	if err := syscall.Mknod(filepath.Join(b, "device"), syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
		t.Logf("no device: %v", err)
	}
	return s, root, outside
}

func TestFSNeverFollowsLinksNorOpensSpecialFiles(t *testing.T) {
	ctx := t.Context()
	s, _, outside := linkedBucket(t)
	for _, key := range trapKeys {
		if obj, err := s.Get(ctx, "logs", key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) = %v, %v; want ErrNotFound", key, obj, err)
		}
		if info, _, err := s.Head(ctx, "logs", key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Head(%s) = %+v, %v; want ErrNotFound", key, info, err)
		}
	}
	var keys []string
	for _, prefix := range []string{"", "link-dir/", "sub/"} {
		l, err := s.List(ctx, "logs", prefix, "", 0)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		for _, o := range l {
			keys = append(keys, o.Key)
		}
	}
	if !slices.Equal(keys, []string{"real", "sub/real", "sub/real"}) {
		t.Errorf("listed %q, want only the regular files", keys)
	}
	// Writes neither go through a link nor replace one.
	for _, key := range []string{"link-out", "link-dir/secret.txt", "link-dir/new", "sub/link-dir/new", "pipe"} {
		if err := s.Put(ctx, "logs", key, []byte("overwritten"), PutOptions{}); !errors.Is(err, ErrKeyConflict) {
			t.Errorf("Put(%s): %v, want ErrKeyConflict", key, err)
		}
		if err := s.Delete(ctx, "logs", key); err != nil {
			t.Errorf("Delete(%s): %v", key, err)
		}
	}
	ents, _ := os.ReadDir(outside)
	if b, err := os.ReadFile(filepath.Join(outside, "secret.txt")); err != nil || string(b) != secretBody || len(ents) != 1 {
		t.Errorf("outside the bucket: %d entries, secret %q, %v", len(ents), b, err)
	}
}

// A bucket directory that is itself a link is no bucket.
func TestFSLinkedBucketDirectoryIsNoBucket(t *testing.T) {
	ctx := t.Context()
	s, root, outside := linkedBucket(t)
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.BucketExists(ctx, "linked"); ok || err != nil {
		t.Errorf("BucketExists(linked) = %v, %v", ok, err)
	}
	if _, err := s.Get(ctx, "linked", "secret.txt"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("Get through a linked bucket: %v", err)
	}
	if _, err := s.List(ctx, "linked", "", "", 0); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("List of a linked bucket: %v", err)
	}
}

// GetObject and ListObjects, cairn's read API on buckets, show a tenant
// its fs bucket's objects and nothing a link points at.
func TestObjectOpsOnFSBucketsRefuseLinks(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	t.Cleanup(func() { db.Close() })
	s, _, _ := linkedBucket(t)
	r, err := OpenRegistry(db, map[string]Store{"fs": s}, "fs")
	if err != nil {
		t.Fatal(err)
	}
	// The administrator registers the prepared directory for the tenant.
	ops := Ops(r)
	if _, err := call(t, ops, "CreateBucket", owner, true, `{"Bucket":"logs"}`); err != nil {
		t.Fatal(err)
	}
	for _, key := range trapKeys {
		_, err := call(t, ops, "GetObject", owner, false, `{"Bucket":"logs","Key":"`+key+`"}`)
		wantCode(t, "GetObject "+key, err, awsapi.CodeNoSuchKey)
	}
	out, aerr := call(t, ops, "GetObject", owner, false, `{"Bucket":"logs","Key":"real"}`)
	if aerr != nil || out["ContentLength"] != float64(4) {
		t.Errorf("GetObject real: %v, %v", out, aerr)
	}
	out, aerr = call(t, ops, "ListObjects", owner, false, `{"Bucket":"logs"}`)
	if aerr != nil || len(out["Contents"].([]any)) != 2 {
		t.Errorf("ListObjects: %v, %v", out, aerr)
	}
}
