package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Reader is an object opened for reading: what Get returns, with the body
// as a stream, so that a reader that bounds what it takes (an object in a
// tenant's bucket may be of any size) never holds more of it than it
// wants. The caller must close Body.
type Reader struct {
	ObjectInfo
	Body            io.ReadCloser
	Metadata        map[string]string
	ContentType     string
	ContentEncoding string
}

// errObjectTooLarge is readAll refusing an object over its limit.
var errObjectTooLarge = errors.New("object is larger than the reader takes")

// readAll reads an opened object whole, for Get. A limit above zero
// refuses a larger object with errObjectTooLarge: before reading its body
// when its listed size says so, and while reading in case that size is
// stale.
func (r *Reader) readAll(bucket string, limit int64) (*Object, error) {
	defer r.Body.Close()
	src := io.Reader(r.Body)
	if limit > 0 {
		if r.Size > limit {
			return nil, errObjectTooLarge
		}
		src = io.LimitReader(r.Body, limit+1)
	}
	body, err := io.ReadAll(src)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, r.Key, err)
	}
	if limit > 0 && int64(len(body)) > limit {
		return nil, errObjectTooLarge
	}
	obj := &Object{ObjectInfo: r.ObjectInfo, Body: body, Metadata: r.Metadata, ContentType: r.ContentType, ContentEncoding: r.ContentEncoding}
	obj.Size = int64(len(body))
	return obj, nil
}

// Open implements Store. The file stays open, not locked: a Put replaces
// the file by a rename, so the body read is the one the metadata was
// taken for.
func (f *FS) Open(ctx context.Context, bucket, key string) (*Reader, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	b, err := f.openBucket(bucket)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	defer f.lockKey(bucket, key)()
	p, err := walkKey(b, key, false)
	if err != nil {
		return nil, notFound(bucket, key, err)
	}
	defer p.close()
	fh, st, err := openRegular(p.dir(), p.base)
	if err != nil {
		return nil, notFound(bucket, key, err)
	}
	r := &Reader{ObjectInfo: ObjectInfo{Key: key, Size: st.Size(), LastModified: st.ModTime().UTC()}, Body: fh}
	var sc sidecar
	scErr := readJSON(p.dir(), metaName(p.base), &sc)
	if scErr == nil && sc.describes(st) {
		r.ETag = sc.ETag
	} else {
		// A file the sidecar does not name for certain is hashed, as Get
		// did, but in a stream, then read again from the start.
		h := md5.New()
		if _, err := io.Copy(h, fh); err != nil {
			fh.Close()
			return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
		}
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			fh.Close()
			return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
		}
		r.ETag = `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	}
	if scErr == nil && sc.ETag == r.ETag {
		r.Metadata, r.ContentType, r.ContentEncoding = sc.Metadata, sc.ContentType, sc.ContentEncoding
	}
	return r, nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, bucket, key string) (*Reader, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, mapS3Error("get", bucket, key, err)
	}
	return &Reader{
		ObjectInfo: ObjectInfo{
			Key: key, Size: aws.ToInt64(out.ContentLength),
			LastModified: aws.ToTime(out.LastModified).UTC(), ETag: aws.ToString(out.ETag),
		},
		Body:            out.Body,
		Metadata:        lowerKeys(out.Metadata),
		ContentType:     aws.ToString(out.ContentType),
		ContentEncoding: aws.ToString(out.ContentEncoding),
	}, nil
}

// Open implements Store.
func (m *Mem) Open(ctx context.Context, bucket, key string) (*Reader, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, err := m.object(bucket, key)
	if err != nil {
		return nil, err
	}
	// Put stores a copy and replaces it whole, so the body can be shared.
	return &Reader{
		ObjectInfo:      obj.ObjectInfo,
		Body:            io.NopCloser(bytes.NewReader(obj.Body)),
		Metadata:        cloneMap(obj.Metadata),
		ContentType:     obj.ContentType,
		ContentEncoding: obj.ContentEncoding,
	}, nil
}
