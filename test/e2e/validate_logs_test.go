package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
)

// validateEnv is a trail with log file validation delivering into MinIO,
// and both validators pointed at it.
type validateEnv struct {
	t      *testing.T
	m      *miniotest.Server
	n      *node
	cli    *ctCLI
	st     objstore.Store
	bucket string
	arn    string
	start  string
}

// awsValidate runs `aws cloudtrail validate-logs` (AWS CLI v1), its
// CloudTrail calls going to cairn and its S3 calls to MinIO.
func (e *validateEnv) awsValidate() cliResult {
	e.t.Helper()
	return runClient(e.t, append(e.cli.env, "AWS_ENDPOINT_URL_S3="+e.m.Endpoint), nil, e.cli.bin,
		"--endpoint-url", e.n.endpoint, "cloudtrail", "validate-logs", "--trail-arn", e.arn, "--start-time", e.start, "--verbose")
}

// cairnValidate runs `cairn validate-logs`, reading MinIO directly.
func (e *validateEnv) cairnValidate(flags ...string) cliResult {
	e.t.Helper()
	cmd := exec.Command(cairnBin, append([]string{"validate-logs", "--trail-arn", e.arn, "--start-time", e.start, "--s3-endpoint", e.m.Endpoint, "--verbose"}, flags...)...)
	cmd.Env = append(append(withoutAWS(os.Environ()), e.n.env...), "CAIRN_S3_ACCESS_KEY_ID="+e.m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY="+e.m.SecretKey)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// summary returns validate-logs' two summary lines.
func summary(out string) (digests, logs string) {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "digest files valid") {
			digests = l
		}
		if strings.Contains(l, "log files valid") {
			logs = l
		}
	}
	return digests, logs
}

// waitFinalDigest waits for a stopped trail's last digest: a digest
// delivered after the stop, and then no new digest for three seconds.
func waitFinalDigest(t *testing.T, cli *ctCLI, trail string, stopped time.Time, st objstore.Store, bucket, prefix string) {
	t.Helper()
	count := func() int {
		n, after := 0, ""
		for {
			infos, err := st.List(ctxT(t), bucket, prefix, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range infos {
				if strings.Contains(o.Key, "/CloudTrail-Digest/") {
					n++
				}
			}
			if len(infos) < 1000 {
				return n
			}
			after = infos[len(infos)-1].Key
		}
	}
	last, since := -1, time.Now()
	waitFor(t, 60*time.Second, "the final digest of "+trail, func() bool {
		s := cli.ok("get-trail-status", "--name", trail)
		if !parseCLITime(s["LatestDigestDeliveryTime"]).After(stopped) || s["LatestDigestDeliveryError"] != nil {
			return false
		}
		if n := count(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 3*time.Second
	})
}

// parseCLITime reads a timestamp as the AWS CLI prints it.
func parseCLITime(v any) time.Time {
	switch v := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-07:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t
			}
		}
	case float64:
		return time.Unix(0, int64(v*1e9))
	}
	return time.Time{}
}

// TestValidateLogsEndToEnd runs a trail with log file validation and
// ten-second digests through a period with log files, a quiet period, a
// StopLogging/StartLogging and validation turned off and on again. The
// AWS CLI's `validate-logs` (v1, CloudTrail calls to cairn, S3 calls to
// MinIO) and `cairn validate-logs` must both find every digest and log
// file valid. Then the bucket is tampered with in each way the
// validation is there to catch, one at a time, and both validators must
// name the file and what is wrong with it.
//
// The AWS CLI signs both services with one key, so cairn's administrator
// key is made MinIO's root key.
func TestValidateLogsEndToEnd(t *testing.T) {
	m := miniotest.Start(t)
	env := []string{
		"CAIRN_S3_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY=" + m.SecretKey,
		"CAIRN_ROOT_ACCESS_KEY_ID=" + m.AccessKey, "CAIRN_ROOT_SECRET_ACCESS_KEY=" + m.SecretKey,
	}
	const interval = 10 * time.Second
	n := startNodeEnv(t, t.TempDir(), env, "--s3-endpoint", m.Endpoint, "--delivery-interval", "1s", "--digest-interval", interval.String())
	n.mustRun("buckets", "create", "signed-logs")
	cli := newCTCLI(t, n, keyPair{AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	e := &validateEnv{t: t, m: m, n: n, cli: cli, st: m.Store(t), bucket: "signed-logs"}
	created := cli.ok("create-trail", "--name", "signed", "--s3-bucket-name", e.bucket, "--enable-log-file-validation")
	if created["LogFileValidationEnabled"] != true {
		t.Fatalf("create-trail: %v", created)
	}
	e.arn = created["TrailARN"].(string)
	e.start = time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	calls := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			cli.ok("describe-trails")
			time.Sleep(time.Second)
		}
	}
	cli.ok("start-logging", "--name", "signed")
	calls(interval/2 + 2*time.Second)
	// Someone slips a log file of their own into the trail's folder while
	// the chain runs: no digest names it.
	now := time.Now().UTC()
	inserted := "AWSLogs/111122223333/CloudTrail/us-east-1/" + now.Format("2006/01/02") + "/111122223333_CloudTrail_us-east-1_" + now.Format("20060102T1504Z") + "_InsertedByHand01.json.gz"
	if err := e.st.Put(ctxT(t), e.bucket, inserted, gzipBody(t, []byte(`{"Records":[]}`)), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	calls(interval / 2)
	time.Sleep(2*interval + 2*time.Second) // at least one period without log files
	cli.ok("stop-logging", "--name", "signed")
	time.Sleep(3 * time.Second)
	cli.ok("start-logging", "--name", "signed")
	calls(interval)
	off := time.Now()
	cli.ok("update-trail", "--name", "signed", "--no-enable-log-file-validation")
	calls(3 * time.Second)
	cli.ok("update-trail", "--name", "signed", "--enable-log-file-validation")
	on := time.Now()
	calls(interval)
	stopped := time.Now()
	cli.ok("stop-logging", "--name", "signed")
	// The final digest comes once the files up to the StopLogging call are in.
	waitFinalDigest(t, cli, "signed", stopped, m.Store(t), "signed-logs", "")

	// What the bucket holds: the digests tell the periods apart.
	ctx := ctxT(t)
	infos, err := e.st.List(ctx, e.bucket, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var digestKeys, logKeys []string
	delivered := map[string]time.Time{}
	for _, o := range infos {
		if strings.Contains(o.Key, "/CloudTrail-Digest/") {
			digestKeys = append(digestKeys, o.Key)
		} else {
			logKeys = append(logKeys, o.Key)
			delivered[o.Key] = o.LastModified
		}
	}
	var empty, starts int
	named := map[string]bool{}
	for _, k := range digestKeys {
		var d struct {
			LogFiles []struct {
				S3Object string `json:"s3Object"`
			} `json:"logFiles"`
			PreviousDigestSignature *string `json:"previousDigestSignature"`
		}
		if err := json.Unmarshal(gunzipBody(t, e.st, e.bucket, k), &d); err != nil {
			t.Fatal(err)
		}
		for _, f := range d.LogFiles {
			if named[f.S3Object] {
				t.Errorf("%s is in two digests", f.S3Object)
			}
			named[f.S3Object] = true
		}
		if len(d.LogFiles) == 0 {
			empty++
		}
		if d.PreviousDigestSignature == nil {
			starts++
		}
	}
	// Every log file is in a digest but those delivered while validation
	// was off.
	for k, at := range delivered {
		if !named[k] && k != inserted && (at.Before(off.Add(-time.Second)) || at.After(on.Add(2*time.Second))) {
			t.Errorf("%s, delivered at %v while validation was on, is in no digest", k, at)
		}
	}
	if empty == 0 || starts != 3 || len(named) == 0 {
		t.Fatalf("%d digests: %d without log files, %d chain starts (want 3), %d log files named",
			len(digestKeys), empty, starts, len(named))
	}
	t.Logf("%d digests (%d without log files, %d chains), %d log files (%d delivered while validation was off)",
		len(digestKeys), empty, starts, len(logKeys), len(logKeys)-len(named))

	wantDigests := fmt.Sprintf("%d/%d digest files valid", len(digestKeys), len(digestKeys))
	wantLogs := fmt.Sprintf("%d/%d log files valid", len(named), len(named))
	for name, r := range map[string]cliResult{"aws": e.awsValidate(), "cairn": e.cairnValidate()} {
		d, l := summary(r.stdout)
		if r.code != 0 || strings.Contains(r.stdout, "INVALID") || d != wantDigests || l != wantLogs {
			t.Fatalf("%s validate-logs: exit %d, %q and %q, want %q and %q\n%s%s", name, r.code, d, l, wantDigests, wantLogs, r.stdout, r.stderr)
		}
	}

	// Only `cairn validate-logs --unlisted` reports the inserted file, and
	// nothing else.
	r := e.cairnValidate("--unlisted")
	want := "Log file\ts3://" + e.bucket + "/" + inserted + "\tINVALID: not in any digest"
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stdout+r.stderr, "INVALID") != 2 {
		t.Fatalf("cairn validate-logs --unlisted: exit %d, want only %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}

	sort.Strings(digestKeys)
	var covered []string
	for k := range named {
		covered = append(covered, k)
	}
	sort.Strings(covered)
	e.mutations(digestKeys, covered)
}

func gunzipBody(t *testing.T, st objstore.Store, bucket, key string) []byte {
	t.Helper()
	o, err := st.Get(ctxT(t), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(o.Body))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBody(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var digestStamp = regexp.MustCompile(`_(\d{8}T\d{6}Z)\.json\.gz$`)

// mutations tampers with the bucket in each way integrity validation is
// there to catch, one at a time, and checks that both validators name
// the file and the fault; the bucket is put back after each.
func (e *validateEnv) mutations(digestKeys, logKeys []string) {
	t, ctx, st, b := e.t, ctxT(e.t), e.st, e.bucket
	get := func(key string) *objstore.Object {
		o, err := st.Get(ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// put replaces an object: a Put of the same body would keep the old
	// metadata.
	put := func(key string, body []byte, meta map[string]string) {
		if err := st.Delete(ctx, b, key); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, b, key, body, objstore.PutOptions{ContentType: "application/json", ContentEncoding: "gzip", Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(key string) {
		if err := st.Delete(ctx, b, key); err != nil {
			t.Fatal(err)
		}
	}
	newest := digestKeys[len(digestKeys)-1]
	for _, k := range digestKeys { // the newest by the time in the key
		if digestStamp.FindStringSubmatch(k)[1] > digestStamp.FindStringSubmatch(newest)[1] {
			newest = k
		}
	}
	// The digest tampered with is one a newer digest points at: the last
	// digest of a chain that a restart ended has nothing after it that
	// names it, so its loss looks like the gap between chains.
	pointed := map[string]bool{}
	for _, k := range digestKeys {
		var d struct {
			PreviousDigestS3Object *string `json:"previousDigestS3Object"`
		}
		if err := json.Unmarshal(gunzipBody(t, st, b, k), &d); err != nil {
			t.Fatal(err)
		}
		if d.PreviousDigestS3Object != nil {
			pointed[*d.PreviousDigestS3Object] = true
		}
	}
	middle := ""
	for _, k := range digestKeys {
		if k != newest && pointed[k] {
			middle = k
		}
	}
	if middle == "" {
		t.Fatal("no digest is pointed at by a newer one")
	}
	log0, log1 := logKeys[0], logKeys[len(logKeys)/2]
	forger, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	forgeKey, err := forger.Current("us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	moved := digestStamp.ReplaceAllStringFunc(newest, func(s string) string {
		ts, _ := time.Parse("20060102T150405Z", digestStamp.FindStringSubmatch(s)[1])
		return "_" + ts.Add(time.Second).Format("20060102T150405Z") + ".json.gz"
	})

	for _, c := range []struct {
		name   string
		mutate func()
		want   string
	}{
		{"one byte of a log file changed", func() {
			body := gunzipBody(t, st, b, log0)
			i := bytes.Index(body, []byte(`"eventID":"`)) + len(`"eventID":"`)
			body[i] ^= 1
			put(log0, gzipBody(t, body), nil)
		}, "Log file\ts3://" + b + "/" + log0 + "\tINVALID: hash value doesn't match"},
		{"a log file deleted", func() { del(log1) },
			"Log file\ts3://" + b + "/" + log1 + "\tINVALID: not found"},
		{"a log file moved to another key", func() {
			o := get(log1)
			del(log1)
			put(strings.Replace(log1, "/CloudTrail/", "/CloudTrail/moved/", 1), o.Body, nil)
		}, "Log file\ts3://" + b + "/" + log1 + "\tINVALID: not found"},
		{"a digest deleted", func() { del(middle) },
			"Digest file\ts3://" + b + "/" + middle + "\tINVALID: not found"},
		{"a digest changed", func() {
			o := get(middle)
			body := bytes.Replace(gunzipBody(t, st, b, middle), []byte(`"logFiles":[`), []byte(`"logFiles": [`), 1)
			put(middle, gzipBody(t, body), o.Metadata)
		}, "Digest file\ts3://" + b + "/" + middle + "\tINVALID: signature verification failed"},
		{"a digest signed with another key", func() {
			body := gunzipBody(t, st, b, middle)
			d, err := digest.Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := forgeKey.Sign(digest.SigningString(d, body))
			if err != nil {
				t.Fatal(err)
			}
			put(middle, get(middle).Body, map[string]string{"signature": sig, "signature-algorithm": digest.SignatureAlgorithm})
		}, "Digest file\ts3://" + b + "/" + middle + "\tINVALID: signature verification failed"},
		{"a digest naming a key cairn never had", func() {
			o := get(middle)
			body := gunzipBody(t, st, b, middle)
			d, _ := digest.Parse(body)
			body = bytes.Replace(body, []byte(d.DigestPublicKeyFingerprint), []byte(forgeKey.Fingerprint()), 1)
			d, _ = digest.Parse(body)
			sig, _ := forgeKey.Sign(digest.SigningString(d, body))
			o.Metadata["signature"] = sig
			put(middle, gzipBody(t, body), o.Metadata)
		}, "Digest file\ts3://" + b + "/" + middle + "\tINVALID: public key not found in region us-east-1 for fingerprint " + forgeKey.Fingerprint()},
		{"a digest moved to another key", func() {
			o := get(newest)
			del(newest)
			put(moved, o.Body, o.Metadata)
		}, "Digest file\ts3://" + b + "/" + moved + "\tINVALID: has been moved from its original location"},
		{"a digest without its metadata", func() { put(middle, get(middle).Body, nil) },
			"Digest file\ts3://" + b + "/" + middle + "\tINVALID: signature verification failed"},
	} {
		var after []objstore.ObjectInfo
		before, err := st.List(ctx, b, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		saved := map[string]*objstore.Object{}
		for _, o := range before {
			saved[o.Key] = get(o.Key)
		}
		c.mutate()
		for name, r := range map[string]cliResult{"aws": e.awsValidate(), "cairn": e.cairnValidate()} {
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, c.want) {
				t.Errorf("%s: %s validate-logs exit %d, want the line %q in\n%s%s", c.name, name, r.code, c.want, r.stdout, r.stderr)
			}
		}
		// Put the bucket back as it was.
		after, err = st.List(ctx, b, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range after {
			if saved[o.Key] == nil {
				del(o.Key)
			}
		}
		for k, o := range saved {
			put(k, o.Body, o.Metadata)
		}
	}
	if r := e.cairnValidate(); r.code != 0 {
		t.Fatalf("the restored bucket does not validate:\n%s", r.stdout)
	}
}
