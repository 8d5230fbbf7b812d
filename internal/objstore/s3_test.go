package objstore_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
	"github.com/cairn-audit/cairn/internal/objstore/objstoretest"
)

func TestS3Contract(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.Store(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return st })
}

// rawClient reaches MinIO without cairn's checks, to see what S3 itself
// recorded.
func rawClient(srv *miniotest.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		UsePathStyle: true,
		BaseEndpoint: aws.String(srv.Endpoint),
	})
}

// A retained Put must reach S3 as COMPLIANCE retention, so that S3 itself
// refuses to remove the version, not only cairn.
func TestS3RetentionIsObjectLock(t *testing.T) {
	ctx := t.Context()
	srv := miniotest.Start(t)
	st := srv.Store(t)
	if err := st.CreateBucket(ctx, "locked", true); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := st.Put(ctx, "locked", "f.json.gz", []byte("log"), objstore.PutOptions{RetainUntil: until}); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(srv)
	h, err := raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("f.json.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if h.ObjectLockMode != types.ObjectLockModeCompliance || h.ObjectLockRetainUntilDate == nil || !h.ObjectLockRetainUntilDate.Equal(until) {
		t.Errorf("S3 recorded mode %q until %v, want COMPLIANCE until %v", h.ObjectLockMode, h.ObjectLockRetainUntilDate, until)
	}
	if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked"), Key: aws.String("f.json.gz"), VersionId: h.VersionId}); err == nil {
		t.Error("S3 deleted a retained version")
	}
	// A replay of the same bytes leaves the one version there; a different
	// body is refused before it reaches S3.
	if err := st.Put(ctx, "locked", "f.json.gz", []byte("log"), objstore.PutOptions{RetainUntil: until.Add(time.Hour)}); err != nil {
		t.Fatalf("identical replay: %v", err)
	}
	if err := st.Put(ctx, "locked", "f.json.gz", []byte("forged"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrObjectLocked) {
		t.Fatalf("different body over a retained object: %v, want ErrObjectLocked", err)
	}
	vs, err := raw.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("locked"), Prefix: aws.String("f.json.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 1 || aws.ToString(vs.Versions[0].VersionId) != aws.ToString(h.VersionId) || len(vs.DeleteMarkers) != 0 {
		t.Errorf("versions after replays: %d versions, %d delete markers; want only the first", len(vs.Versions), len(vs.DeleteMarkers))
	}
}

// An outage is an error, not a hang, and the store works again once the
// service is back: what delivery relies on to retry.
func TestS3Outage(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.Store(t)
	if err := st.CreateBucket(t.Context(), "logs", false); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := st.Put(ctx, "logs", "k", []byte("x"), objstore.PutOptions{})
	if err == nil {
		t.Fatal("Put succeeded with the service down")
	}
	if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrNoSuchBucket) {
		t.Errorf("outage reported as %v", err)
	}
	srv.Restart(t)
	if err := st.Put(t.Context(), "logs", "k", []byte("x"), objstore.PutOptions{}); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if obj, err := st.Get(t.Context(), "logs", "k"); err != nil || string(obj.Body) != "x" {
		t.Errorf("Get after restart: %v", err)
	}
}

// A bucket on the S3 endpoint that cairn did not make (here one holding
// another service's secret) is not a tenant's to take: creating its name
// is ErrBucketExists and registers nothing. The administrator may adopt it.
func TestS3ExistingBucketIsOnlyTheAdministratorsToAdopt(t *testing.T) {
	ctx := t.Context()
	srv := miniotest.Start(t)
	raw := rawClient(srv)
	if _, err := raw.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("unrelated")}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("unrelated"), Key: aws.String("config/secret.txt"), Body: strings.NewReader("hunter2")}); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := objstore.OpenRegistry(db, map[string]objstore.Store{"s3": srv.Store(t)}, "s3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "222222222222", "unrelated", objstore.CreateOptions{}); !errors.Is(err, objstore.ErrBucketExists) {
		t.Fatalf("a tenant's create: %v, want ErrBucketExists", err)
	}
	if _, ok := r.Get("unrelated"); ok {
		t.Fatal("the refused create registered the bucket")
	}
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("unrelated"), Key: aws.String("config/secret.txt")})
	if err != nil {
		t.Fatalf("the bucket's object after the refusal: %v", err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "hunter2" {
		t.Fatalf("the bucket's object after the refusal: %q", body)
	}
	b, err := r.Create(ctx, "333333333333", "unrelated", objstore.CreateOptions{Adopt: true})
	if err != nil || b.Owner != "333333333333" {
		t.Fatalf("the administrator's adoption: %+v, %v", b, err)
	}
}

// testLogger keeps Pebble's start-up chatter out of test output.
type testLogger struct{ t *testing.T }

func (testLogger) Infof(string, ...any)             {}
func (l testLogger) Errorf(format string, a ...any) { l.t.Logf(format, a...) }
func (l testLogger) Fatalf(format string, a ...any) { l.t.Fatalf(format, a...) }
