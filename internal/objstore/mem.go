package objstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

var _ Store = (*Mem)(nil)

// Mem is a Store in memory, for tests. SetFailure makes it fail like a
// bucket that is down.
type Mem struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
	fail    error
	puts    int
	now     func() time.Time
}

type memBucket struct {
	objectLock bool
	objects    map[string]*memObject
}

type memObject struct {
	Object
	retainUntil time.Time
}

// NewMem returns an empty Mem.
func NewMem() *Mem {
	return &Mem{buckets: map[string]*memBucket{}, now: time.Now}
}

// SetFailure makes every call fail with err until SetFailure(nil).
func (m *Mem) SetFailure(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// SetClock sets the clock retention is judged by (time.Now by default).
func (m *Mem) SetClock(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = now
}

// Puts counts the Puts that succeeded, including those that found a
// retained identical object.
func (m *Mem) Puts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

// bucket is called with m.mu held.
func (m *Mem) bucket(name string) (*memBucket, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	b, ok := m.buckets[name]
	if !ok {
		return nil, fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	return b, nil
}

// CreateBucket implements Store.
func (m *Mem) CreateBucket(ctx context.Context, bucket string, objectLock bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if !ValidBucketName(bucket) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, bucket)
	}
	if _, ok := m.buckets[bucket]; ok {
		return fmt.Errorf("bucket %s: %w", bucket, ErrBucketExists)
	}
	m.buckets[bucket] = &memBucket{objectLock: objectLock, objects: map[string]*memObject{}}
	return nil
}

// BucketExists implements Store.
func (m *Mem) BucketExists(ctx context.Context, bucket string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	_, ok := m.buckets[bucket]
	return ok, nil
}

// Put implements Store.
func (m *Mem) Put(ctx context.Context, bucket, key string, body []byte, o PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return err
	}
	if !o.RetainUntil.IsZero() && !b.objectLock {
		return fmt.Errorf("put %s/%s: %w", bucket, key, ErrNoObjectLock)
	}
	now := m.now()
	if old, ok := b.objects[key]; ok && now.Before(old.retainUntil) {
		if !bytes.Equal(old.Body, body) {
			return fmt.Errorf("put %s/%s: %w", bucket, key, ErrObjectLocked)
		}
		m.puts++
		return nil
	}
	b.objects[key] = &memObject{
		Object: Object{
			ObjectInfo:      ObjectInfo{Key: key, Size: int64(len(body)), LastModified: now.UTC(), ETag: ETag(body)},
			Body:            bytes.Clone(body),
			Metadata:        lowerKeys(o.Metadata),
			ContentType:     o.ContentType,
			ContentEncoding: o.ContentEncoding,
		},
		retainUntil: o.RetainUntil,
	}
	m.puts++
	return nil
}

// object is called with m.mu held.
func (m *Mem) object(bucket, key string) (*memObject, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	b, err := m.bucket(bucket)
	if err != nil {
		return nil, err
	}
	obj, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	return obj, nil
}

// Get implements Store.
func (m *Mem) Get(ctx context.Context, bucket, key string) (*Object, error) {
	r, err := m.Open(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return r.readAll(bucket, 0)
}

// Head implements Store.
func (m *Mem) Head(ctx context.Context, bucket, key string) (ObjectInfo, map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, err := m.object(bucket, key)
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	return obj.ObjectInfo, cloneMap(obj.Metadata), nil
}

// List implements Store.
func (m *Mem) List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	keys = keys[:min(len(keys), listLimit(max))]
	out := make([]ObjectInfo, len(keys))
	for i, k := range keys {
		out[i] = b.objects[k].ObjectInfo
	}
	return out, nil
}

// Delete implements Store.
func (m *Mem) Delete(ctx context.Context, bucket, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.bucket(bucket)
	if err != nil {
		return err
	}
	if obj, ok := b.objects[key]; ok && m.now().Before(obj.retainUntil) {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrObjectLocked)
	}
	delete(b.objects, key)
	return nil
}
