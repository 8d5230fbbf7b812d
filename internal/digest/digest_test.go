package digest

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestRealDigestRoundTrip reads a digest AWS wrote and writes it back byte
// for byte: the same fields, order, formats and escaping.
func TestRealDigestRoundTrip(t *testing.T) {
	body, err := os.ReadFile("testdata/aws-digest.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if d.AWSAccountID != "327878933619" || len(d.LogFiles) != 5 || d.Starting() || d.DigestSignatureAlgorithm != SignatureAlgorithm {
		t.Fatalf("parsed %+v", d)
	}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, body) {
		t.Fatalf("written back differently:\n%s\nwant\n%s", out, body)
	}
	start, _ := time.Parse(TimeFormat, d.DigestStartTime)
	end, _ := time.Parse(TimeFormat, d.DigestEndTime)
	if end.Sub(start) != time.Hour {
		t.Fatalf("AWS's digest covers %v", end.Sub(start))
	}
	if got := Key("", "", d.AWSAccountID, "ap-northeast-1", "llm-guard-trail", "us-west-2", end); got != d.DigestS3Object {
		t.Fatalf("Key = %s, want %s", got, d.DigestS3Object)
	}
	if got := Key("", "", d.AWSAccountID, "ap-northeast-1", "llm-guard-trail", "us-west-2", start); got != *d.PreviousDigestS3Object {
		t.Fatalf("the previous digest's key = %s, want %s", got, *d.PreviousDigestS3Object)
	}
}

func TestStartingDigestWritesNulls(t *testing.T) {
	d := &Digest{AWSAccountID: "111122223333", DigestStartTime: "2026-11-22T09:00:00Z", DigestEndTime: "2026-11-22T10:00:00Z",
		DigestS3Bucket: "b", DigestS3Object: "AWSLogs/111122223333/x.json.gz", DigestPublicKeyFingerprint: "00", DigestSignatureAlgorithm: SignatureAlgorithm}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"awsAccountId":"111122223333","digestStartTime":"2026-11-22T09:00:00Z","digestEndTime":"2026-11-22T10:00:00Z","digestS3Bucket":"b","digestS3Object":"AWSLogs\/111122223333\/x.json.gz","digestPublicKeyFingerprint":"00","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if s := SigningString(d, out); s != fmt.Sprintf("2026-11-22T10:00:00Z\nb/AWSLogs/111122223333/x.json.gz\n%s\nnull", Hash(out)) {
		t.Fatalf("signing string %q", s)
	}
}

func ExampleKey() {
	end := time.Date(2015, 8, 17, 15, 1, 31, 0, time.UTC)
	fmt.Println(Key("", "", "111122223333", "us-east-2", "my-trail", "us-east-1", end))
	fmt.Println(Key("logs", "o-exampleorgid", "111122223333", "eu-west-1", "org-trail", "us-east-1", end))
	// Output:
	// AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my-trail_us-east-1_20150817T150131Z.json.gz
	// logs/AWSLogs/o-exampleorgid/111122223333/CloudTrail-Digest/eu-west-1/2015/08/17/111122223333_CloudTrail-Digest_eu-west-1_org-trail_us-east-1_20150817T150131Z.json.gz
}

// BenchmarkSignDigest is the whole cost of one digest of an hour with a
// log file every second (3,600 files): marshal, hash, sign.
func BenchmarkSignDigest(b *testing.B) {
	r, err := OpenKeyring(b.TempDir(), 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	k, err := r.Current("us-east-1", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	end := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	d := &Digest{AWSAccountID: "111122223333", DigestStartTime: FormatTime(end.Add(-time.Hour)), DigestEndTime: FormatTime(end),
		DigestS3Bucket: "logs", DigestS3Object: Key("", "", "111122223333", "us-east-1", "my-trail", "us-east-1", end),
		DigestPublicKeyFingerprint: k.Fingerprint(), DigestSignatureAlgorithm: SignatureAlgorithm}
	for i := range 3600 {
		at := FormatTime(end.Add(time.Duration(i-3600) * time.Second))
		d.LogFiles = append(d.LogFiles, LogFile{S3Bucket: "logs", HashAlgorithm: HashAlgorithm, NewestEventTime: &at, OldestEventTime: &at,
			S3Object:  "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/111122223333_CloudTrail_us-east-1_20261122T1100Z_abcdefghijklmnop.json.gz",
			HashValue: Hash([]byte{byte(i), byte(i >> 8)})})
	}
	b.ReportAllocs()
	for b.Loop() {
		body, err := d.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Sign(SigningString(d, body)); err != nil {
			b.Fatal(err)
		}
	}
}
