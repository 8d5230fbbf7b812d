package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
)

// TestObjectLockKeepsDeliveredFiles runs cairn with --object-lock-days 1
// on MinIO, and gives one bucket two days of its own. Every log and
// digest file a trail delivers there is retained in COMPLIANCE mode for
// two days from its delivery, and the bucket's owner,
// with MinIO's root credentials, can neither delete the delivered version
// nor shorten or weaken its retention; a PUT over it only stacks a new
// version on top, which the validator then reports, while the delivered
// version stays readable unchanged. A bucket without Object Lock gets no
// files at all, and the trail's status says why. On fs buckets the
// delivered files are read-only.
func TestObjectLockKeepsDeliveredFiles(t *testing.T) {
	m := miniotest.Start(t)
	dir := t.TempDir()
	ctx := ctxT(t)
	env := []string{"CAIRN_S3_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY=" + m.SecretKey}

	// A bucket made before retention was asked for has no Object Lock.
	n := startNodeEnv(t, dir, env, "--s3-endpoint", m.Endpoint, "--delivery-interval", "1s")
	n.mustRun("buckets", "create", "plain-logs")
	n.stop()
	n = startNodeEnv(t, dir, env, "--s3-endpoint", m.Endpoint, "--delivery-interval", "1s", "--digest-interval", "2s", "--object-lock-days", "1")
	n.mustRun("buckets", "create", "locked-logs")
	n.mustRun("buckets", "create", "local-logs", "--backend", "fs")
	// The bucket's own period wins over the server's.
	n.mustRun("buckets", "retention", "locked-logs", "--days", "2")
	if out := n.mustRun("buckets", "list"); !regexp.MustCompile(`locked-logs .* true +2d `).MatchString(out) || !regexp.MustCompile(`plain-logs .* false +- `).MatchString(out) {
		t.Fatalf("buckets list:\n%s", out)
	}
	if _, err := n.run("buckets", "retention", "plain-logs", "--days", "2"); err == nil {
		t.Fatal("a retention was set on a bucket without Object Lock")
	}
	cli := newCTCLI(t, n, n.rootKey())
	cli.ok("create-trail", "--name", "locked", "--s3-bucket-name", "locked-logs", "--enable-log-file-validation")
	cli.ok("create-trail", "--name", "plain", "--s3-bucket-name", "plain-logs")
	cli.ok("create-trail", "--name", "local", "--s3-bucket-name", "local-logs")
	for _, name := range []string{"locked", "plain", "local"} {
		cli.ok("start-logging", "--name", name)
	}
	cli.ok("describe-trails")

	raw := s3.New(s3.Options{
		Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(m.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
	// A digest that names a log file: that log file is the one tampered
	// with below, so that the validator vouches for it.
	var logKey, digestKey string
	waitFor(t, 30*time.Second, "a digest naming a log file in the locked bucket", func() bool {
		out, err := raw.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("locked-logs")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			if !strings.Contains(*o.Key, "/CloudTrail-Digest/") {
				continue
			}
			var d struct {
				LogFiles []struct {
					S3Object string `json:"s3Object"`
				} `json:"logFiles"`
			}
			if err := json.Unmarshal(gunzipBody(t, m.Store(t), "locked-logs", *o.Key), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.LogFiles) > 0 {
				digestKey, logKey = *o.Key, d.LogFiles[0].S3Object
				return true
			}
		}
		return false
	})
	waitFor(t, 30*time.Second, "the plain trail's delivery error", func() bool {
		s := cli.ok("get-trail-status", "--name", "plain")
		return s["LatestDeliveryError"] == "InvalidRequest: Bucket is missing Object Lock Configuration"
	})
	if out, _ := raw.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("plain-logs")}); len(out.Contents) != 0 {
		t.Errorf("%d files delivered unretained into a bucket without Object Lock", len(out.Contents))
	}

	for _, key := range []string{logKey, digestKey} {
		h, err := raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		until := aws.ToTime(h.ObjectLockRetainUntilDate)
		if keep := until.Sub(aws.ToTime(h.LastModified)); h.ObjectLockMode != types.ObjectLockModeCompliance || keep < 48*time.Hour-time.Minute || keep > 48*time.Hour+time.Minute {
			t.Fatalf("%s: mode %q until %v, written %v; want COMPLIANCE for two days", key, h.ObjectLockMode, until, h.LastModified)
		}
		version := h.VersionId
		original := getVersion(t, raw, key, version)

		if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), VersionId: version}); err == nil {
			t.Errorf("%s: the owner deleted the retained version", key)
		}
		if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), VersionId: version, BypassGovernanceRetention: aws.Bool(true)}); err == nil {
			t.Errorf("%s: the owner deleted the retained version bypassing governance", key)
		}
		if _, err := raw.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), VersionId: version,
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(time.Minute))}}); err == nil {
			t.Errorf("%s: the owner shortened the retention", key)
		}
		if _, err := raw.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), VersionId: version, BypassGovernanceRetention: aws.Bool(true),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)}}); err == nil {
			t.Errorf("%s: the owner weakened the retention to GOVERNANCE", key)
		}
		// A PUT or a plain DELETE over the key adds a version or a delete
		// marker on top; the delivered version is untouched.
		if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), Body: bytes.NewReader(gzipBody(t, []byte(`{"Records":[]}`)))}); err != nil {
			t.Logf("%s: PUT over the key refused: %v", key, err)
		}
		if key == logKey {
			// The validator reads the newest version and notices.
			cmd := exec.Command(cairnBin, "validate-logs", "--trail-arn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/locked",
				"--start-time", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--s3-endpoint", m.Endpoint)
			cmd.Env = append(append(withoutAWS(os.Environ()), n.env...), env...)
			out, _ := cmd.CombinedOutput()
			if want := "Log file\ts3://locked-logs/" + key + "\tINVALID: hash value doesn't match"; !strings.Contains(string(out), want) {
				t.Errorf("validate-logs after a PUT over %s: want %q in\n%s", key, want, out)
			}
		}
		if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key)}); err != nil {
			t.Logf("%s: DELETE refused: %v", key, err)
		}
		if got := getVersion(t, raw, key, version); !bytes.Equal(got, original) {
			t.Errorf("%s: the delivered version changed", key)
		}
	}

	// fs buckets: the delivered files are read-only.
	var local []string
	waitFor(t, 30*time.Second, "a log file in the fs bucket", func() bool {
		local, _ = filepath.Glob(filepath.Join(dir, "buckets", "local-logs", "AWSLogs", "*", "CloudTrail", "*", "*", "*", "*", "*.json.gz"))
		return len(local) > 0
	})
	for _, f := range local {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", f, st.Mode())
		}
	}
}

func getVersion(t *testing.T, raw *s3.Client, key string, version *string) []byte {
	t.Helper()
	o, err := raw.GetObject(ctxT(t), &s3.GetObjectInput{Bucket: aws.String("locked-logs"), Key: aws.String(key), VersionId: version})
	if err != nil {
		t.Fatalf("%s version %s: %v", key, aws.ToString(version), err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
