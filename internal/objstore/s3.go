package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

var _ Store = (*S3)(nil)

// S3Config says where an S3-compatible service is and how to sign for it.
type S3Config struct {
	// Endpoint is the service's URL, e.g. a MinIO server's; empty for AWS.
	Endpoint string
	// Region defaults to us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials; when both
	// are empty, the usual AWS sources (environment, profile) are used.
	AccessKeyID     string
	SecretAccessKey string
}

// S3 is a Store on an S3-compatible service, addressed path-style so that
// any endpoint works without wildcard DNS.
type S3 struct {
	client *s3.Client
	region string
	now    func() time.Time
}

// NewS3 returns a client of the service; it makes no call.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	var creds aws.CredentialsProvider
	switch {
	case c.AccessKeyID != "" && c.SecretAccessKey != "":
		creds = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")
	case c.AccessKeyID != "" || c.SecretAccessKey != "":
		return nil, errors.New("S3: give both the access key ID and the secret access key, or neither")
	default:
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, fmt.Errorf("S3: load AWS configuration: %w", err)
		}
		creds = cfg.Credentials
	}
	o := s3.Options{
		Region:       region,
		Credentials:  creds,
		UsePathStyle: true,
		// Standard retries (3 attempts, jittered backoff) ride out a
		// service's brief hiccups; the delivery loop retries longer ones.
		Retryer: retry.NewStandard(),
	}
	if c.Endpoint != "" {
		o.BaseEndpoint = aws.String(c.Endpoint)
	}
	return &S3{client: s3.New(o), region: region, now: time.Now}, nil
}

// CreateBucket implements Store.
func (s *S3) CreateBucket(ctx context.Context, bucket string, objectLock bool) error {
	if !ValidBucketName(bucket) {
		return fmt.Errorf("%w: %q", ErrInvalidBucketName, bucket)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if s.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.region)}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		return mapS3Error("create bucket", bucket, "", err)
	}
	return nil
}

// BucketExists implements Store.
func (s *S3) BucketExists(ctx context.Context, bucket string) (bool, error) {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return true, nil
	}
	err = mapS3Error("head bucket", bucket, "", err)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoSuchBucket) {
		return false, nil
	}
	return false, err
}

// Put implements Store. S3 itself would accept a Put over a retained
// object in a versioned bucket, hiding the retained version behind a new
// one; cairn refuses instead, so that every backend behaves alike. The
// first PUT is conditional (If-None-Match: *), so that writing a new key
// (nearly every write) takes one round trip; only when the key exists does
// cairn look at the object there.
func (s *S3) Put(ctx context.Context, bucket, key string, body []byte, o PutOptions) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	sum := md5.Sum(body)
	in := &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		ContentLength: aws.Int64(int64(len(body))),
		// Object Lock PUTs need Content-MD5 or a checksum. The SDK adds a
		// CRC32 too, but some S3-compatible services only know MD5, and
		// it also checks the body end to end.
		ContentMD5:  aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		Metadata:    lowerKeys(o.Metadata),
		IfNoneMatch: aws.String("*"),
	}
	if o.ContentType != "" {
		in.ContentType = aws.String(o.ContentType)
	}
	if o.ContentEncoding != "" {
		in.ContentEncoding = aws.String(o.ContentEncoding)
	}
	if !o.RetainUntil.IsZero() {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(o.RetainUntil.UTC())
	}
	err := s.put(ctx, in, body)
	if !isPreconditionFailed(err) {
		return err
	}
	locked, etag, err := s.retained(ctx, bucket, key)
	if err != nil {
		return err
	}
	same := etag == ETag(body)
	if !same && locked && !isMD5ETag(etag) {
		// Multipart or encrypted objects have other ETags: compare bodies.
		obj, err := s.Get(ctx, bucket, key)
		if err != nil {
			return err
		}
		same = bytes.Equal(obj.Body, body)
	}
	switch {
	case same:
		return nil
	case locked:
		return fmt.Errorf("put %s/%s: %w", bucket, key, ErrObjectLocked)
	}
	in.IfNoneMatch = nil
	return s.put(ctx, in, body)
}

func (s *S3) put(ctx context.Context, in *s3.PutObjectInput, body []byte) error {
	in.Body = bytes.NewReader(body)
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return mapS3Error("put", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
	return nil
}

// isPreconditionFailed reports a conditional write refused because the key
// exists (S3 answers 412; a write racing another may get 409).
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	return false
}

// retained reports whether the current version of an object is protected
// by retention or a legal hold, and its ETag.
func (s *S3) retained(ctx context.Context, bucket, key string) (locked bool, etag string, err error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		err = mapS3Error("head", bucket, key, err)
		if errors.Is(err, ErrNotFound) {
			return false, "", nil
		}
		return false, "", err
	}
	locked = h.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn ||
		h.ObjectLockMode != "" && h.ObjectLockRetainUntilDate != nil && s.now().Before(*h.ObjectLockRetainUntilDate)
	return locked, aws.ToString(h.ETag), nil
}

func isMD5ETag(etag string) bool {
	if len(etag) != 34 || etag[0] != '"' || etag[33] != '"' {
		return false
	}
	return strings.Trim(etag[1:33], "0123456789abcdef") == ""
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, bucket, key string) (*Object, error) {
	r, err := s.Open(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return r.readAll(bucket, 0)
}

// Head implements Store.
func (s *S3) Head(ctx context.Context, bucket, key string) (ObjectInfo, map[string]string, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, nil, err
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		err = mapS3Error("head", bucket, key, err)
		// A HEAD answer has no body to say which of the two is missing.
		if errors.Is(err, ErrNotFound) {
			if ok, berr := s.BucketExists(ctx, bucket); berr == nil && !ok {
				return ObjectInfo{}, nil, fmt.Errorf("head %s/%s: %w", bucket, key, ErrNoSuchBucket)
			}
		}
		return ObjectInfo{}, nil, err
	}
	return ObjectInfo{
		Key: key, Size: aws.ToInt64(h.ContentLength),
		LastModified: aws.ToTime(h.LastModified).UTC(), ETag: aws.ToString(h.ETag),
	}, lowerKeys(h.Metadata), nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(int32(listLimit(max)))}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, mapS3Error("list", bucket, "", err)
	}
	infos := make([]ObjectInfo, 0, len(out.Contents))
	for _, o := range out.Contents {
		infos = append(infos, ObjectInfo{
			Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
			LastModified: aws.ToTime(o.LastModified).UTC(), ETag: aws.ToString(o.ETag),
		})
	}
	return infos, nil
}

// Delete implements Store. In a versioned bucket S3 would add a delete
// marker over a retained object; cairn refuses instead, as fs does.
func (s *S3) Delete(ctx context.Context, bucket, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	locked, _, err := s.retained(ctx, bucket, key)
	if err != nil {
		return err
	}
	if locked {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, ErrObjectLocked)
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return mapS3Error("delete", bucket, key, err)
	}
	return nil
}

// mapS3Error turns the service's error codes into this package's errors,
// keeping the service's error in the chain for the log.
func mapS3Error(op, bucket, key string, err error) error {
	where := bucket
	if key != "" {
		where += "/" + key
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		var sentinel error
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			sentinel = ErrNotFound
		case "NoSuchBucket":
			sentinel = ErrNoSuchBucket
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			sentinel = ErrBucketExists
		case "InvalidBucketName":
			sentinel = ErrInvalidBucketName
		case "AccessDenied", "Forbidden":
			sentinel = ErrAccessDenied
		case "InvalidRequest":
			if m := strings.ToLower(ae.ErrorMessage()); strings.Contains(m, "object lock") || strings.Contains(m, "objectlock") {
				sentinel = ErrNoObjectLock
			}
		}
		if sentinel != nil {
			return fmt.Errorf("%s %s: %w: %w", op, where, sentinel, err)
		}
	}
	return fmt.Errorf("%s %s: %w", op, where, err)
}
