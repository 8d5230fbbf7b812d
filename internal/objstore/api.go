package objstore

import (
	"context"
	"errors"
	"strings"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/safeio"
)

// BucketRequest names a bucket (GetBucketPolicy).
type BucketRequest struct {
	Bucket string `json:"Bucket"`
}

// CreateBucketRequest is CreateBucket's input.
type CreateBucketRequest struct {
	Bucket            string `json:"Bucket"`
	ObjectLockEnabled bool   `json:"ObjectLockEnabled,omitempty"`
	// RetentionDays retains every log and digest file delivered into the
	// bucket for that many days (Object Lock in COMPLIANCE mode); it needs
	// ObjectLockEnabled. Zero means the server's default.
	RetentionDays int `json:"RetentionDays,omitempty"`
	// Backend is "fs" or "s3" (when the server has an S3 endpoint);
	// empty means the server's default.
	Backend string `json:"Backend,omitempty"`
}

// PutBucketPolicyRequest is PutBucketPolicy's input; an empty Policy
// removes the bucket's policy.
type PutBucketPolicyRequest struct {
	Bucket string `json:"Bucket"`
	Policy string `json:"Policy"`
}

// PutBucketRetentionRequest is PutBucketRetention's input: the bucket's
// own retention for files delivered from now on; 0 returns it to the
// server's default.
type PutBucketRetentionRequest struct {
	Bucket        string `json:"Bucket"`
	RetentionDays int    `json:"RetentionDays"`
}

// AllowBucketAccountRequest is AllowBucketAccount's input.
type AllowBucketAccountRequest struct {
	Bucket    string `json:"Bucket"`
	AccountID string `json:"AccountId"`
}

// ListObjectsRequest is ListObjects' input. MaxKeys <= 0 or over 1000
// means 1000.
type ListObjectsRequest struct {
	Bucket     string `json:"Bucket"`
	Prefix     string `json:"Prefix,omitempty"`
	StartAfter string `json:"StartAfter,omitempty"`
	MaxKeys    int    `json:"MaxKeys,omitempty"`
}

// GetObjectRequest is GetObject's input.
type GetObjectRequest struct {
	Bucket string `json:"Bucket"`
	Key    string `json:"Key"`
}

// BucketView is a bucket in CreateBucket's and ListBuckets' output.
type BucketView struct {
	Name              string      `json:"Name"`
	Owner             string      `json:"Owner"`
	Backend           string      `json:"Backend"`
	CreationDate      awsapi.Time `json:"CreationDate"`
	ObjectLockEnabled bool        `json:"ObjectLockEnabled"`
	// RetentionDays is the bucket's own retention; 0 means the server's
	// default applies.
	RetentionDays int `json:"RetentionDays,omitempty"`
}

// ListBucketsResult is ListBuckets' output.
type ListBucketsResult struct {
	Buckets []BucketView `json:"Buckets"`
}

// GetBucketPolicyResult is GetBucketPolicy's output; Policy is empty when
// the bucket has none.
type GetBucketPolicyResult struct {
	Policy string `json:"Policy"`
}

// ObjectView is an object in ListObjects' output.
type ObjectView struct {
	Key          string      `json:"Key"`
	Size         int64       `json:"Size"`
	LastModified awsapi.Time `json:"LastModified"`
	ETag         string      `json:"ETag"`
}

// ListObjectsResult is ListObjects' output. When IsTruncated, the next
// page starts after the last key.
type ListObjectsResult struct {
	Contents    []ObjectView `json:"Contents"`
	IsTruncated bool         `json:"IsTruncated"`
}

// GetObjectResult is GetObject's output; Body is base64 in JSON.
type GetObjectResult struct {
	Body            []byte            `json:"Body"`
	Metadata        map[string]string `json:"Metadata"`
	ContentType     string            `json:"ContentType,omitempty"`
	ContentEncoding string            `json:"ContentEncoding,omitempty"`
	ContentLength   int64             `json:"ContentLength"`
	ETag            string            `json:"ETag"`
	LastModified    awsapi.Time       `json:"LastModified"`
}

// Ops are cairn's bucket operations. Each acts on the call's account
// (c.AccountID): an administrator key sees another account's buckets only
// by acting on that account, never all at once.
func Ops(r *Registry) map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateBucket": {Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req CreateBucketRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if err := checkRetention(req.RetentionDays, req.ObjectLockEnabled); err != nil {
				return nil, err
			}
			// The administrator may register a bucket that is already on
			// the backend, for the account it acts on; to anyone else an
			// existing name is taken.
			b, err := r.Create(ctx, c.AccountID, req.Bucket, CreateOptions{
				Backend: req.Backend, ObjectLock: req.ObjectLockEnabled, Adopt: c.Principal.Admin,
			})
			if err == nil && req.RetentionDays > 0 {
				if err = r.SetRetention(req.Bucket, req.RetentionDays); err == nil {
					b.RetentionDays = req.RetentionDays
				}
			}
			switch {
			case errors.Is(err, ErrNoSuchBackend):
				return nil, awsapi.Errorf(awsapi.CodeValidation, "Backend %q is not available: this server has %s.", req.Backend, strings.Join(r.Backends(), " and "))
			case errors.Is(err, ErrInvalidBucketName):
				return nil, errInvalidName()
			case errors.Is(err, ErrBucketExists):
				return nil, awsapi.Errorf(awsapi.CodeBucketAlreadyExists, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
			case err != nil:
				return nil, err
			}
			return bucketView(b), nil
		}},
		"ListBuckets": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			out := ListBucketsResult{Buckets: []BucketView{}}
			for _, b := range r.List(c.AccountID) {
				out.Buckets = append(out.Buckets, bucketView(b))
			}
			return out, nil
		}},
		"PutBucketPolicy": {Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req PutBucketPolicyRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if _, err := owned(r, c, req.Bucket); err != nil {
				return nil, err
			}
			err := r.SetPolicy(req.Bucket, req.Policy)
			if errors.Is(err, ErrInvalidPolicy) {
				return nil, awsapi.Errorf(awsapi.CodeMalformedPolicy, "%v", err)
			}
			return nil, err
		}},
		"GetBucketPolicy": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req BucketRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			b, err := owned(r, c, req.Bucket)
			if err != nil {
				return nil, err
			}
			return GetBucketPolicyResult{Policy: b.Policy}, nil
		}},
		"PutBucketRetention": {Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req PutBucketRetentionRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			b, err := owned(r, c, req.Bucket)
			if err != nil {
				return nil, err
			}
			if err := checkRetention(req.RetentionDays, b.ObjectLock); err != nil {
				return nil, err
			}
			return nil, r.SetRetention(req.Bucket, req.RetentionDays)
		}},
		"AllowBucketAccount": {Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req AllowBucketAccountRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if _, err := owned(r, c, req.Bucket); err != nil {
				return nil, err
			}
			err := r.Allow(req.Bucket, req.AccountID)
			if errors.Is(err, ErrInvalidAccount) {
				return nil, awsapi.Errorf(awsapi.CodeValidation, "AccountId %q is not valid: an account ID is 12 digits.", req.AccountID)
			}
			return nil, err
		}},
		"ListObjects": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req ListObjectsRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if _, err := owned(r, c, req.Bucket); err != nil {
				return nil, err
			}
			st, err := r.Store(req.Bucket)
			if err != nil {
				return nil, err
			}
			limit := listLimit(req.MaxKeys)
			infos, err := st.List(ctx, req.Bucket, req.Prefix, req.StartAfter, limit)
			if err != nil {
				return nil, storeError(err)
			}
			truncated := false
			if len(infos) == limit {
				more, err := st.List(ctx, req.Bucket, req.Prefix, infos[len(infos)-1].Key, 1)
				if err != nil {
					return nil, storeError(err)
				}
				truncated = len(more) > 0
			}
			out := make([]ObjectView, len(infos))
			for i, o := range infos {
				out[i] = ObjectView{Key: o.Key, Size: o.Size, LastModified: awsapi.Time{Time: o.LastModified}, ETag: o.ETag}
			}
			return ListObjectsResult{Contents: out, IsTruncated: truncated}, nil
		}},
		// GetObject is read-only, so the audit record of the call keeps
		// the body out of responseElements.
		"GetObject": {ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			var req GetObjectRequest
			if err := c.Decode(&req); err != nil {
				return nil, err
			}
			if _, err := owned(r, c, req.Bucket); err != nil {
				return nil, err
			}
			st, err := r.Store(req.Bucket)
			if err != nil {
				return nil, err
			}
			obj, err := getBounded(ctx, st, req.Bucket, req.Key, MaxGetObjectBytes)
			if err != nil {
				return nil, err
			}
			meta := obj.Metadata
			if meta == nil {
				meta = map[string]string{}
			}
			return GetObjectResult{
				Body: obj.Body, Metadata: meta, ContentType: obj.ContentType, ContentEncoding: obj.ContentEncoding,
				ContentLength: obj.Size, ETag: obj.ETag, LastModified: awsapi.Time{Time: obj.LastModified},
			}, nil
		}},
	}
}

// MaxGetObjectBytes bounds what GetObject answers with: the object is held
// whole in the answer, and a bucket's objects may be of any size. It is
// the largest log file cairn reads.
const MaxGetObjectBytes = safeio.MaxLogFileCompressed

// getBounded reads an object of at most limit bytes; a larger one is
// refused, before its body is read when its listed size says so.
func getBounded(ctx context.Context, st Store, bucket, key string, limit int64) (*Object, error) {
	rd, err := st.Open(ctx, bucket, key)
	if err != nil {
		return nil, storeError(err)
	}
	obj, err := rd.readAll(bucket, limit)
	if errors.Is(err, errObjectTooLarge) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidRequest, "The object is larger than %d bytes; read it from the bucket itself.", limit)
	}
	if err != nil {
		return nil, storeError(err)
	}
	return obj, nil
}

// owned returns the bucket when the call's account owns it.
func owned(r *Registry, c *awsapi.Call, name string) (Bucket, error) {
	b, ok := r.Get(name)
	if !ok {
		if !ValidBucketName(name) {
			return Bucket{}, errInvalidName()
		}
		return Bucket{}, awsapi.Errorf(awsapi.CodeNoSuchBucket, "The specified bucket does not exist")
	}
	if b.Owner != c.AccountID {
		return Bucket{}, awsapi.Errorf(awsapi.CodeAccessDenied, "Access Denied")
	}
	return b, nil
}

// checkRetention answers a retention S3 would refuse, in S3's words.
func checkRetention(days int, objectLock bool) error {
	switch {
	case days < 0 || days > MaxRetentionDays:
		return awsapi.Errorf(awsapi.CodeInvalidArgument, "RetentionDays must be between 0 and %d.", MaxRetentionDays)
	case days > 0 && !objectLock:
		return awsapi.Errorf(awsapi.CodeInvalidRequest, "Bucket is missing Object Lock Configuration")
	}
	return nil
}

func errInvalidName() error {
	return awsapi.Errorf(awsapi.CodeInvalidBucketName, "The specified bucket is not valid.")
}

// storeError answers a backend's errors in S3's terms; others are cairn's
// failures and become InternalFailure.
func storeError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return awsapi.Errorf(awsapi.CodeNoSuchKey, "The specified key does not exist.")
	case errors.Is(err, ErrInvalidKey):
		return awsapi.Errorf(awsapi.CodeNoSuchKey, "The specified key does not exist.")
	case errors.Is(err, ErrNoSuchBucket):
		return awsapi.Errorf(awsapi.CodeNoSuchBucket, "The specified bucket does not exist")
	}
	return err
}

func bucketView(b Bucket) BucketView {
	return BucketView{Name: b.Name, Owner: b.Owner, Backend: b.Backend, CreationDate: awsapi.Time{Time: b.Created}, ObjectLockEnabled: b.ObjectLock, RetentionDays: b.RetentionDays}
}
