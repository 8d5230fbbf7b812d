package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
)

// TestAWSCLIValidatesDigests runs `aws cloudtrail validate-logs` (AWS CLI
// v1), with its CloudTrail calls sent to cairn and its S3 calls to MinIO,
// over a trail with log file validation and one-minute digests: every
// digest and log file must be reported valid.
//
// The AWS CLI signs both services with one key, so cairn's administrator
// key is made MinIO's root key.
func TestAWSCLIValidatesDigests(t *testing.T) {
	m := miniotest.Start(t)
	env := []string{
		"CAIRN_S3_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY=" + m.SecretKey,
		"CAIRN_ROOT_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_ROOT_SECRET_ACCESS_KEY=" + m.SecretKey,
	}
	n := startNodeEnv(t, t.TempDir(), env, "--s3-endpoint", m.Endpoint, "--delivery-interval", "1s", "--digest-interval", "1m")
	n.mustRun("buckets", "create", "signed-logs")
	root := keyPair{AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey}
	cli := newCTCLI(t, n, root)
	created := cli.ok("create-trail", "--name", "signed", "--s3-bucket-name", "signed-logs", "--enable-log-file-validation")
	if created["LogFileValidationEnabled"] != true {
		t.Fatalf("create-trail: %v", created)
	}
	arn := created["TrailARN"].(string)
	start := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	cli.ok("start-logging", "--name", "signed")
	// Calls to log, over two digest periods and a bit.
	deadline := time.Now().Add(2*time.Minute + 15*time.Second)
	for time.Now().Before(deadline) {
		cli.ok("describe-trails")
		time.Sleep(5 * time.Second)
	}
	waitFor(t, 30*time.Second, "two digests", func() bool {
		s := cli.ok("get-trail-status", "--name", "signed")
		return s["LatestDigestDeliveryTime"] != nil
	})
	r := runClient(t, append(cli.env, "AWS_ENDPOINT_URL_S3="+m.Endpoint), nil, cli.bin,
		"--endpoint-url", n.endpoint, "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", start, "--verbose")
	out := r.stdout
	if r.code != 0 || strings.Contains(out, "INVALID") {
		t.Fatalf("validate-logs exit %d:\n%s%s", r.code, out, r.stderr)
	}
	var digests, logs string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, "digest files valid") {
			digests = l
		}
		if strings.HasSuffix(l, "log files valid") {
			logs = l
		}
	}
	if digests == "" || logs == "" || strings.HasPrefix(digests, "0/") || strings.HasPrefix(digests, "1/") || strings.HasPrefix(logs, "0/") {
		t.Fatalf("validate-logs found too little:\n%s", out)
	}
	t.Logf("%s; %s", digests, logs)

	// cairn's own validator reads the same bucket and says the same.
	cairnValidate := func() (string, int) {
		cmd := exec.Command(cairnBin, "validate-logs", "--trail-arn", arn, "--start-time", start, "--s3-endpoint", m.Endpoint, "--verbose")
		cmd.Env = append(append(withoutAWS(os.Environ()), n.env...), "CAIRN_S3_ACCESS_KEY_ID="+m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY="+m.SecretKey)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	own, code := cairnValidate()
	if code != 0 || !strings.Contains(own, digests) || !strings.Contains(own, logs) {
		t.Fatalf("cairn validate-logs exit %d:\n%s\nwant %q and %q", code, own, digests, logs)
	}

	// Delete one delivered log file: both validators name it.
	var victim string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Log file\ts3://signed-logs/") {
			victim = strings.TrimPrefix(strings.Split(l, "\t")[1], "s3://signed-logs/")
			break
		}
	}
	if err := m.Store(t).Delete(ctxT(t), "signed-logs", victim); err != nil {
		t.Fatal(err)
	}
	want := "Log file\ts3://signed-logs/" + victim + "\tINVALID: not found"
	r = runClient(t, append(cli.env, "AWS_ENDPOINT_URL_S3="+m.Endpoint), nil, cli.bin,
		"--endpoint-url", n.endpoint, "cloudtrail", "validate-logs", "--trail-arn", arn, "--start-time", start)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("the AWS CLI after a deletion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	own, code = cairnValidate()
	if code != 1 || !strings.Contains(own, want) {
		t.Fatalf("cairn validate-logs after a deletion: exit %d\n%s", code, own)
	}
}
