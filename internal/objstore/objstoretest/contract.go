// Package objstoretest is the contract every objstore.Store keeps, as one
// test suite that each backend's tests run: the same calls must give the
// same answers from a directory, from memory and from a real S3 service.
// It owns no backend; it only calls the interface.
package objstoretest

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore"
)

// Run runs the contract against stores from newStore, one per subtest.
// Buckets get random names, so newStore may return stores that share a
// service.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"Buckets", testBuckets},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Head", testHead},
		{"Open", testOpen},
		{"ListOrder", testListOrder},
		{"ListPaging", testListPaging},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"Delete", testDelete},
		{"Binary", testBinary},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ObjectLock", testObjectLock},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newStore(t))
		})
	}
}

func bucketName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "cairn-contract-" + hex.EncodeToString(b)
}

func newBucket(t *testing.T, s objstore.Store, objectLock bool) string {
	t.Helper()
	name := bucketName()
	if err := s.CreateBucket(t.Context(), name, objectLock); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	return name
}

func put(t *testing.T, s objstore.Store, bucket, key string, body []byte, o objstore.PutOptions) {
	t.Helper()
	if err := s.Put(t.Context(), bucket, key, body, o); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, bucket, key string) *objstore.Object {
	t.Helper()
	obj, err := s.Get(t.Context(), bucket, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return obj
}

func keys(infos []objstore.ObjectInfo) []string {
	out := []string{}
	for _, i := range infos {
		out = append(out, i.Key)
	}
	return out
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func testBuckets(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	name := bucketName()
	if ok, err := s.BucketExists(ctx, name); err != nil || ok {
		t.Fatalf("BucketExists before create = %v, %v", ok, err)
	}
	if err := s.CreateBucket(ctx, name, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.BucketExists(ctx, name); err != nil || !ok {
		t.Fatalf("BucketExists after create = %v, %v", ok, err)
	}
	wantErr(t, "second CreateBucket", s.CreateBucket(ctx, name, false), objstore.ErrBucketExists)
	wantErr(t, "CreateBucket(Bad_Name)", s.CreateBucket(ctx, "Bad_Name", false), objstore.ErrInvalidBucketName)
	if l, err := s.List(ctx, name, "", "", 0); err != nil || len(l) != 0 {
		t.Errorf("new bucket lists %v, %v", l, err)
	}
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testPutGet(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T1205Z_abc.json.gz"
	body := gzipped(t, `{"Records":[]}`)
	before := time.Now().Add(-2 * time.Second)
	put(t, s, b, key, body, objstore.PutOptions{
		ContentType:     "application/json",
		ContentEncoding: "gzip",
		Metadata:        map[string]string{"Signature": "0a1b2c", "signature-algorithm": "SHA256withRSA"},
	})
	after := time.Now().Add(2 * time.Second)
	obj := get(t, s, b, key)
	if !bytes.Equal(obj.Body, body) {
		t.Errorf("body changed: %x, want %x", obj.Body, body)
	}
	wantMeta := map[string]string{"signature": "0a1b2c", "signature-algorithm": "SHA256withRSA"}
	if !maps.Equal(obj.Metadata, wantMeta) {
		t.Errorf("metadata %v, want %v (keys lower-cased)", obj.Metadata, wantMeta)
	}
	if obj.ContentType != "application/json" || obj.ContentEncoding != "gzip" {
		t.Errorf("content type %q encoding %q", obj.ContentType, obj.ContentEncoding)
	}
	if obj.Key != key || obj.Size != int64(len(body)) || obj.ETag != objstore.ETag(body) {
		t.Errorf("info %+v, want key %s size %d etag %s", obj.ObjectInfo, key, len(body), objstore.ETag(body))
	}
	if obj.LastModified.Before(before) || obj.LastModified.After(after) {
		t.Errorf("LastModified %v not between %v and %v", obj.LastModified, before, after)
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	put(t, s, b, "k", []byte("one"), objstore.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"a": "1"}})
	put(t, s, b, "k", []byte("second"), objstore.PutOptions{})
	obj := get(t, s, b, "k")
	if string(obj.Body) != "second" || len(obj.Metadata) != 0 || obj.ETag != objstore.ETag([]byte("second")) {
		t.Errorf("after overwrite: body %q metadata %v etag %s", obj.Body, obj.Metadata, obj.ETag)
	}
	if obj.ContentType == "text/plain" {
		t.Error("content type of the first version kept")
	}
	l, err := s.List(t.Context(), b, "", "", 0)
	if err != nil || len(l) != 1 || l[0].Size != 6 || l[0].ETag != obj.ETag {
		t.Errorf("list after overwrite: %+v, %v", l, err)
	}
}

func testHead(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	body := []byte(`{"Digest":true}`)
	put(t, s, b, "x/digest.json.gz", body, objstore.PutOptions{Metadata: map[string]string{"signature": "ff"}})
	info, meta, err := s.Head(t.Context(), b, "x/digest.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	obj := get(t, s, b, "x/digest.json.gz")
	if info.Key != obj.Key || info.Size != obj.Size || info.ETag != obj.ETag || !info.LastModified.Equal(obj.LastModified) {
		t.Errorf("Head %+v, Get %+v", info, obj.ObjectInfo)
	}
	if meta["signature"] != "ff" || len(meta) != 1 {
		t.Errorf("Head metadata %v", meta)
	}
	_, _, err = s.Head(t.Context(), b, "x/missing")
	wantErr(t, "Head(missing)", err, objstore.ErrNotFound)
	_, _, err = s.Head(t.Context(), b, "x")
	wantErr(t, "Head(x), a prefix of a key", err, objstore.ErrNotFound)
}

// tricky keys sort differently by full key (S3) than by path element
// (a directory walk): '-' and '.' come before '/', upper case before lower
// case, and multi-byte UTF-8 after ASCII.
var tricky = []string{"a/b/c", "a-b", "a/b-c", "a.b", "a/b.d", "a0", "b", "B/x", "é", "a/b/x/d-e", "a/b/x/d/e"}

func testListOrder(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	for _, k := range tricky {
		put(t, s, b, k, []byte(k), objstore.PutOptions{})
	}
	all := slices.Clone(tricky)
	sort.Strings(all)
	filter := func(prefix, after string) []string {
		out := []string{}
		for _, k := range all {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix && k > after {
				out = append(out, k)
			}
		}
		return out
	}
	for _, c := range []struct{ prefix, after string }{
		{"", ""}, {"a", ""}, {"a/", ""}, {"a/b", ""}, {"a/b/", ""}, {"a/b/c", ""}, {"a/b/c/", ""}, {"zzz", ""},
		{"", "a.b"}, {"", "a/"}, {"", "a/b"}, {"", "a/b/c"}, {"", "a/b/x/d-e"}, {"", "a0"}, {"", "é"},
		{"a/", "a/b-c"}, {"a/b", "a/b/x/d-e"}, {"a", "a/b/x/d/e"}, {"a/b/x/", ""}, {"a/b/x/d", ""},
	} {
		l, err := s.List(ctx, b, c.prefix, c.after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keys(l), filter(c.prefix, c.after); !slices.Equal(got, want) {
			t.Errorf("List(prefix %q, after %q) = %q, want %q", c.prefix, c.after, got, want)
		}
		for _, i := range l {
			if i.Size != int64(len(i.Key)) || i.ETag != objstore.ETag([]byte(i.Key)) || i.LastModified.IsZero() {
				t.Errorf("entry %+v", i)
			}
		}
	}
	_, err := s.Get(ctx, b, "a/b")
	wantErr(t, "Get(a/b), a prefix of keys", err, objstore.ErrNotFound)
}

func testListPaging(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	for _, k := range tricky {
		put(t, s, b, k, []byte(k), objstore.PutOptions{})
	}
	want := slices.Clone(tricky)
	sort.Strings(want)
	for _, max := range []int{1, 2, 3, 5} {
		var got []string
		after := ""
		for range 100 {
			l, err := s.List(ctx, b, "", after, max)
			if err != nil {
				t.Fatal(err)
			}
			if len(l) > max {
				t.Fatalf("List(max %d) returned %d", max, len(l))
			}
			if len(l) == 0 {
				break
			}
			got = append(got, keys(l)...)
			after = l[len(l)-1].Key
		}
		if !slices.Equal(got, want) {
			t.Errorf("paging by %d: %q, want %q", max, got, want)
		}
	}
	l, err := s.List(ctx, b, "a/", "", 2)
	if err != nil || !slices.Equal(keys(l), []string{"a/b-c", "a/b.d"}) {
		t.Errorf("List(a/, max 2) = %q, %v", keys(l), err)
	}
}

func testNotFound(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	_, err := s.Get(ctx, b, "nope")
	wantErr(t, "Get(missing key)", err, objstore.ErrNotFound)

	missing := bucketName()
	_, err = s.Get(ctx, missing, "k")
	wantErr(t, "Get(missing bucket)", err, objstore.ErrNoSuchBucket)
	_, _, err = s.Head(ctx, missing, "k")
	wantErr(t, "Head(missing bucket)", err, objstore.ErrNoSuchBucket)
	_, err = s.List(ctx, missing, "", "", 0)
	wantErr(t, "List(missing bucket)", err, objstore.ErrNoSuchBucket)
	wantErr(t, "Put(missing bucket)", s.Put(ctx, missing, "k", []byte("x"), objstore.PutOptions{}), objstore.ErrNoSuchBucket)
	wantErr(t, "Delete(missing bucket)", s.Delete(ctx, missing, "k"), objstore.ErrNoSuchBucket)
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	for _, k := range []string{"", "/abs", "a//b", "a/", "../up", "a/../b", "a/./b", ".", "x/.k.cairn-meta.json", ".k.tmp-123"} {
		wantErr(t, fmt.Sprintf("Put(%q)", k), s.Put(t.Context(), b, k, []byte("x"), objstore.PutOptions{}), objstore.ErrInvalidKey)
	}
	// Dots are fine where they are not whole path elements or hidden names.
	for _, k := range []string{".well-known/x", "a/..b", "a/b..", "k.cairn-meta.json"} {
		put(t, s, b, k, []byte(k), objstore.PutOptions{})
		if obj := get(t, s, b, k); string(obj.Body) != k {
			t.Errorf("Get(%q) = %q", k, obj.Body)
		}
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	put(t, s, b, "d/1", []byte("1"), objstore.PutOptions{Metadata: map[string]string{"m": "v"}})
	put(t, s, b, "d/2", []byte("2"), objstore.PutOptions{})
	if err := s.Delete(ctx, b, "d/1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, b, "d/1")
	wantErr(t, "Get after Delete", err, objstore.ErrNotFound)
	if l, err := s.List(ctx, b, "", "", 0); err != nil || !slices.Equal(keys(l), []string{"d/2"}) {
		t.Errorf("List after Delete = %q, %v", keys(l), err)
	}
	if err := s.Delete(ctx, b, "d/1"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if err := s.Delete(ctx, b, "d/2"); err != nil {
		t.Fatal(err)
	}
	// With "d/…" gone, "d" is free to be a key itself.
	put(t, s, b, "d", []byte("d"), objstore.PutOptions{})
	if l, err := s.List(ctx, b, "", "", 0); err != nil || !slices.Equal(keys(l), []string{"d"}) {
		t.Errorf("List = %q, %v", keys(l), err)
	}
	// A re-created key has no trace of the deleted one's metadata.
	put(t, s, b, "e/1", []byte("1"), objstore.PutOptions{Metadata: map[string]string{"m": "v"}})
	if err := s.Delete(ctx, b, "e/1"); err != nil {
		t.Fatal(err)
	}
	put(t, s, b, "e/1", []byte("1"), objstore.PutOptions{})
	if obj := get(t, s, b, "e/1"); len(obj.Metadata) != 0 {
		t.Errorf("metadata %v survived Delete", obj.Metadata)
	}
}

func testBinary(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	var body []byte
	for i := range 1024 {
		body = append(body, byte(i), byte(255-i%256))
	}
	body = append(body, 0, 0, '\r', '\n', 0xff)
	put(t, s, b, "bin", body, objstore.PutOptions{ContentType: "application/octet-stream"})
	obj := get(t, s, b, "bin")
	if !bytes.Equal(obj.Body, body) || obj.ETag != objstore.ETag(body) {
		t.Errorf("binary body changed")
	}
}

func testEmpty(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	put(t, s, b, "empty", nil, objstore.PutOptions{})
	obj := get(t, s, b, "empty")
	if len(obj.Body) != 0 || obj.Size != 0 || obj.ETag != `"d41d8cd98f00b204e9800998ecf8427e"` {
		t.Errorf("empty object: %+v", obj.ObjectInfo)
	}
}

func testLarge(t *testing.T, s objstore.Store) {
	b := newBucket(t, s, false)
	body := make([]byte, 5<<20)
	rand.Read(body)
	put(t, s, b, "big/5mb.bin", body, objstore.PutOptions{})
	obj := get(t, s, b, "big/5mb.bin")
	if !bytes.Equal(obj.Body, body) || obj.ETag != objstore.ETag(body) {
		t.Error("5 MB body changed")
	}
	info, _, err := s.Head(t.Context(), b, "big/5mb.bin")
	if err != nil || info.Size != 5<<20 {
		t.Errorf("Head: %+v, %v", info, err)
	}
}

func testConcurrentPuts(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	b := newBucket(t, s, false)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half share one new directory, half make their own.
			key := fmt.Sprintf("c/shared/%02d", i)
			if i%2 == 1 {
				key = fmt.Sprintf("c/own-%02d/obj", i)
			}
			errs <- s.Put(ctx, b, key, []byte(key), objstore.PutOptions{Metadata: map[string]string{"i": fmt.Sprint(i)}})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List(ctx, b, "c/", "", 0)
	if err != nil || len(l) != n {
		t.Fatalf("listed %d of %d: %v", len(l), n, err)
	}
	for _, i := range l {
		if obj := get(t, s, b, i.Key); string(obj.Body) != i.Key || obj.Metadata["i"] == "" {
			t.Errorf("%s: body %q metadata %v", i.Key, obj.Body, obj.Metadata)
		}
	}
}

// testObjectLock retains an object for a few seconds: long enough to try
// to change it, short enough to see the retention end.
func testObjectLock(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	plain := newBucket(t, s, false)
	wantErr(t, "retained Put into a bucket without Object Lock",
		s.Put(ctx, plain, "k", []byte("x"), objstore.PutOptions{RetainUntil: time.Now().Add(time.Hour)}), objstore.ErrNoObjectLock)

	b := newBucket(t, s, true)
	until := time.Now().Add(4 * time.Second)
	body := []byte("retained log file")
	put(t, s, b, "log.json.gz", body, objstore.PutOptions{ContentType: "application/json", RetainUntil: until})
	if err := s.Put(ctx, b, "log.json.gz", body, objstore.PutOptions{ContentType: "application/json", RetainUntil: until}); err != nil {
		t.Errorf("identical Put over a retained object: %v", err)
	}
	wantErr(t, "different Put over a retained object",
		s.Put(ctx, b, "log.json.gz", []byte("forged"), objstore.PutOptions{}), objstore.ErrObjectLocked)
	wantErr(t, "Delete of a retained object", s.Delete(ctx, b, "log.json.gz"), objstore.ErrObjectLocked)
	if obj := get(t, s, b, "log.json.gz"); !bytes.Equal(obj.Body, body) {
		t.Errorf("retained body became %q", obj.Body)
	}
	// Unretained objects in a locked bucket behave as anywhere else.
	put(t, s, b, "free", []byte("1"), objstore.PutOptions{})
	put(t, s, b, "free", []byte("2"), objstore.PutOptions{})
	if err := s.Delete(ctx, b, "free"); err != nil {
		t.Errorf("Delete of an unretained object: %v", err)
	}

	select {
	case <-time.After(time.Until(until) + 1500*time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if err := s.Delete(ctx, b, "log.json.gz"); err != nil {
		t.Fatalf("Delete after retention ended: %v", err)
	}
	_, err := s.Get(ctx, b, "log.json.gz")
	wantErr(t, "Get after Delete", err, objstore.ErrNotFound)
}
