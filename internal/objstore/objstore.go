package objstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// PutOptions describe an object beyond its body.
type PutOptions struct {
	// ContentType is the media type, e.g. "application/json"; may be empty.
	ContentType string
	// ContentEncoding is e.g. "gzip"; may be empty.
	ContentEncoding string
	// Metadata is S3 user metadata (x-amz-meta-*). Keys are lower-cased on
	// the way in, because S3 returns them that way.
	Metadata map[string]string
	// RetainUntil, if not zero, protects the object until then: S3 Object
	// Lock in COMPLIANCE mode (the bucket must have Object Lock enabled);
	// the fs backend makes the file read-only and refuses to change it.
	RetainUntil time.Time
}

// ObjectInfo is what a listing says about an object.
type ObjectInfo struct {
	Key          string
	Size         int64
	LastModified time.Time
	// ETag is the hex MD5 of the body in double quotes, as S3 gives it for
	// objects written in one piece.
	ETag string
}

// Object is a stored object with its body.
type Object struct {
	ObjectInfo
	Body            []byte
	Metadata        map[string]string
	ContentType     string
	ContentEncoding string
}

// Store is a set of buckets of objects. Implementations are safe for
// concurrent use.
type Store interface {
	// CreateBucket makes a bucket; ErrBucketExists if it is there already.
	CreateBucket(ctx context.Context, bucket string, objectLock bool) error
	// BucketExists reports whether the bucket is there (and reachable).
	BucketExists(ctx context.Context, bucket string) (bool, error)
	// Put stores an object. When it returns nil the object survives a
	// crash. Overwriting a retained object fails with ErrObjectLocked
	// unless the body is the same.
	Put(ctx context.Context, bucket, key string, body []byte, o PutOptions) error
	// Get returns an object or an error wrapping ErrNotFound.
	Get(ctx context.Context, bucket, key string) (*Object, error)
	// Open is Get with the body as a stream, for readers that bound what
	// they read of an object someone else wrote.
	Open(ctx context.Context, bucket, key string) (*Reader, error)
	// Head returns an object's listing entry and user metadata.
	Head(ctx context.Context, bucket, key string) (ObjectInfo, map[string]string, error)
	// List returns up to max objects (max <= 0 or over 1000: 1000) whose
	// keys start with prefix and sort after startAfter, in byte order of
	// their keys.
	List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, error)
	// Delete removes an object; a missing object is not an error, as in S3.
	// A retained object fails with ErrObjectLocked.
	Delete(ctx context.Context, bucket, key string) error
}

// Errors of every Store. Backends wrap them with context; test with errors.Is.
var (
	ErrNotFound          = errors.New("object not found")
	ErrBucketExists      = errors.New("bucket already exists")
	ErrNoSuchBucket      = errors.New("no such bucket")
	ErrInvalidBucketName = errors.New("invalid bucket name")
	ErrObjectLocked      = errors.New("object is retained and cannot be changed")
	// ErrAccessDenied is the backend refusing cairn's own credentials,
	// e.g. for a bucket of another S3 account.
	ErrAccessDenied = errors.New("access denied by the backend")
	ErrNoObjectLock = errors.New("bucket has no Object Lock, so objects cannot be retained")
	ErrInvalidKey   = errors.New("invalid object key")
	// ErrKeyConflict is the fs backend's limit: a key cannot be both an
	// object and the directory of other objects ("a" and "a/b").
	ErrKeyConflict = errors.New("key conflicts with another object's path")
)

// maxList is S3's page size, and the most a List call returns.
const maxList = 1000

func listLimit(max int) int {
	if max <= 0 || max > maxList {
		return maxList
	}
	return max
}

// ETag returns the S3 ETag of a body written in one piece.
func ETag(body []byte) string {
	sum := md5.Sum(body)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func lowerKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
