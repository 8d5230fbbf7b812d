package digest

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/safeio/safeiotest"
)

// chain writes signed digests and their log files into a memory bucket,
// as a trail would: hour by hour, chained, with a restart in the middle.
type chain struct {
	t     *testing.T
	st    *objstore.Mem
	tr    Trail
	key   *SigningKey
	prev  *Digest
	pbody []byte
	psig  string
	logs  []string
	dkeys []string
	clock time.Time // when the Mem store says objects are written
}

const bucket = "logs"

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func (c *chain) put(key string, body []byte, meta map[string]string) {
	if err := c.st.Put(context.Background(), bucket, key, body, objstore.PutOptions{Metadata: meta}); err != nil {
		c.t.Fatal(err)
	}
}

// hour writes n log files and the digest of the hour ending at end; a
// starting digest when restart is set.
func (c *chain) hour(end time.Time, n int, restart bool) {
	d := &Digest{AWSAccountID: c.tr.Account, DigestStartTime: FormatTime(end.Add(-time.Hour)), DigestEndTime: FormatTime(end),
		DigestS3Bucket: bucket, DigestS3Object: Key(c.tr.Prefix, "", c.tr.Account, c.tr.Region, c.tr.Name, c.tr.HomeRegion, end),
		DigestPublicKeyFingerprint: c.key.Fingerprint(), DigestSignatureAlgorithm: SignatureAlgorithm}
	c.clock = end.Add(-time.Minute)
	for i := range n {
		body := []byte(`{"Records":[{"eventID":"` + end.Format("150405") + string(rune('a'+i)) + `"}]}`)
		k := "AWSLogs/" + c.tr.Account + "/CloudTrail/" + c.tr.Region + "/" + end.Format("2006/01/02") + "/f-" + end.Format("150405") + string(rune('a'+i)) + ".json.gz"
		c.put(k, gz(c.t, body), nil)
		at := FormatTime(end.Add(-time.Minute))
		d.LogFiles = append(d.LogFiles, LogFile{S3Bucket: bucket, S3Object: k, HashValue: Hash(body), HashAlgorithm: HashAlgorithm, NewestEventTime: &at, OldestEventTime: &at})
		c.logs = append(c.logs, k)
	}
	if c.prev != nil && !restart {
		b, o, h, a, s := c.prev.DigestS3Bucket, c.prev.DigestS3Object, Hash(c.pbody), HashAlgorithm, c.psig
		d.PreviousDigestS3Bucket, d.PreviousDigestS3Object, d.PreviousDigestHashValue, d.PreviousDigestHashAlgorithm, d.PreviousDigestSignature = &b, &o, &h, &a, &s
	}
	body, err := d.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	sig, err := c.key.Sign(SigningString(d, body))
	if err != nil {
		c.t.Fatal(err)
	}
	c.put(d.DigestS3Object, gz(c.t, body), map[string]string{"signature": sig, "signature-algorithm": SignatureAlgorithm})
	c.prev, c.pbody, c.psig = d, body, sig
	c.dkeys = append(c.dkeys, d.DigestS3Object)
}

func newChain(t *testing.T) (*chain, time.Time) {
	r, err := OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	k, err := r.Current("us-east-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	c := &chain{t: t, st: objstore.NewMem(), key: k, tr: Trail{Bucket: bucket, Account: "111122223333", Region: "us-east-1", Name: "my-trail", HomeRegion: "us-east-1"}}
	c.st.CreateBucket(context.Background(), bucket, false)
	c.st.SetClock(func() time.Time { return c.clock })
	c.hour(t0.Add(1*time.Hour), 2, true)
	c.hour(t0.Add(2*time.Hour), 1, false)
	c.hour(t0.Add(3*time.Hour), 0, false) // an hour without log files
	// Logging stopped for two hours, then started again: a new chain.
	c.hour(t0.Add(6*time.Hour), 1, true)
	c.hour(t0.Add(7*time.Hour), 2, false)
	return c, t0
}

func (c *chain) validate(t0 time.Time) (Report, []Result) {
	var results []Result
	v := &Validator{Store: c.st, Keys: map[string][]byte{c.key.Fingerprint(): c.key.DER}, Emit: func(r Result) { results = append(results, r) },
		LogLimits: testLogLimits, DigestLimits: testDigestLimits}
	rep, err := v.Validate(context.Background(), c.tr, t0, t0.Add(8*time.Hour))
	if err != nil {
		c.t.Fatal(err)
	}
	return rep, results
}

// The limits of the tests: small, so that a bomb passes them at once.
var (
	testLogLimits    = safeio.Limits{Compressed: 512 << 10, Inflated: 2 * safeiotest.Chunk, Records: 1000}
	testDigestLimits = safeio.Limits{Compressed: 64 << 10, Inflated: safeiotest.Chunk, Records: 1}
)

func TestValidChain(t *testing.T) {
	c, t0 := newChain(t)
	rep, results := c.validate(t0)
	if !rep.OK() || rep.ValidDigests != 5 || rep.ValidLogs != 6 || len(rep.Gaps) != 1 {
		t.Fatalf("report %+v\n%v", rep, results)
	}
	if rep.FoundStart != t0 || rep.FoundEnd != t0.Add(7*time.Hour) {
		t.Fatalf("found %v to %v", rep.FoundStart, rep.FoundEnd)
	}
	if g := rep.Gaps[0]; g.From != t0.Add(3*time.Hour) || g.To != t0.Add(5*time.Hour) {
		t.Fatalf("gap %v to %v", g.From, g.To)
	}
	if got := results[0].String(); got != "Digest file\ts3://logs/"+c.dkeys[4]+"\tvalid" {
		t.Fatalf("first line %q", got)
	}
}

// TestMutations changes a valid bucket in every way the integrity
// validation must detect, and checks the exact verdict each time.
func TestMutations(t *testing.T) {
	for _, m := range []struct {
		name   string
		mutate func(c *chain)
		want   string // a line validate-logs must print
	}{
		{"one byte of a log file", func(c *chain) {
			c.put(c.logs[0], gz(c.t, []byte(`{"Records":[{"eventID":"020000b"}]}`)), nil)
		}, "Log file\ts3://logs/{log0}\tINVALID: hash value doesn't match"},
		{"a deleted log file", func(c *chain) {
			c.st.Delete(context.Background(), bucket, c.logs[2])
		}, "Log file\ts3://logs/{log2}\tINVALID: not found"},
		{"a deleted digest", func(c *chain) {
			c.st.Delete(context.Background(), bucket, c.dkeys[1])
		}, "Digest file\ts3://logs/{digest1}\tINVALID: not found"},
		{"a changed digest", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.dkeys[3])
			body := mustGunzip(c.t, o.Body)
			c.put(c.dkeys[3], gz(c.t, bytes.Replace(body, []byte(`"logFiles":[{`), []byte(`"logFiles":[ {`), 1)), o.Metadata)
		}, "Digest file\ts3://logs/{digest3}\tINVALID: signature verification failed"},
		{"a forged signature", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.dkeys[2])
			other, _ := OpenKeyring(c.t.TempDir(), 0, 0)
			k, _ := other.Current("us-east-1", time.Now())
			d, _ := Parse(mustGunzip(c.t, o.Body))
			sig, _ := k.Sign(SigningString(d, mustGunzip(c.t, o.Body)))
			c.put(c.dkeys[2], o.Body, map[string]string{"signature": sig, "signature-algorithm": SignatureAlgorithm})
		}, "Digest file\ts3://logs/{digest2}\tINVALID: signature verification failed"},
		{"a digest moved to another key", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.dkeys[4])
			moved := strings.Replace(c.dkeys[4], "T080000Z", "T080500Z", 1)
			c.st.Delete(context.Background(), bucket, c.dkeys[4])
			c.put(moved, o.Body, o.Metadata)
		}, "Digest file\ts3://logs/{moved4}\tINVALID: has been moved from its original location"},
		{"a log file moved to another key", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.logs[5])
			c.st.Delete(context.Background(), bucket, c.logs[5])
			c.put(c.logs[5]+".moved", o.Body, nil)
		}, "Log file\ts3://logs/{log5}\tINVALID: not found"},
		{"a digest without its metadata", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.dkeys[0])
			c.put(c.dkeys[0], o.Body, nil)
		}, "Digest file\ts3://logs/{digest0}\tINVALID: signature verification failed"},
		{"extra bytes after the gzip member of a log file", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.logs[1])
			c.put(c.logs[1], append(o.Body, o.Body...), nil)
		}, "Log file\ts3://logs/{log1}\tINVALID: invalid format"},
		// Bombs are invalid files, found so without inflating them: their
		// trailers claim a few bytes.
		{"a log file replaced by a gzip bomb", func(c *chain) {
			c.put(c.logs[3], safeiotest.LyingBomb(64, 500), nil)
		}, "Log file\ts3://logs/{log3}\tINVALID: file too large: inflates to more than 2 MiB"},
		{"a log file larger than log files are", func(c *chain) {
			c.put(c.logs[4], make([]byte, testLogLimits.Compressed+1), nil)
		}, "Log file\ts3://logs/{log4}\tINVALID: file too large: more than 512 KiB as stored"},
		{"a digest replaced by a gzip bomb", func(c *chain) {
			o, _ := c.st.Get(context.Background(), bucket, c.dkeys[2])
			c.put(c.dkeys[2], safeiotest.LyingBomb(16, 900), o.Metadata)
		}, "Digest file\ts3://logs/{digest2}\tINVALID: file too large: inflates to more than 1 MiB"},
	} {
		t.Run(m.name, func(t *testing.T) {
			c, t0 := newChain(t)
			m.mutate(c)
			rep, results := c.validate(t0)
			want := m.want
			for i, k := range c.logs {
				want = strings.ReplaceAll(want, "{log"+string(rune('0'+i))+"}", k)
			}
			for i, k := range c.dkeys {
				want = strings.ReplaceAll(want, "{digest"+string(rune('0'+i))+"}", k)
			}
			want = strings.ReplaceAll(want, "{moved4}", strings.Replace(c.dkeys[4], "T080000Z", "T080500Z", 1))
			var lines []string
			found := false
			for _, r := range results {
				lines = append(lines, r.String())
				found = found || r.String() == want
			}
			if !found || rep.OK() {
				t.Fatalf("want %q among\n%s", want, strings.Join(lines, "\n"))
			}
		})
	}
}

// TestUnlisted: with Unlisted, a log file written into the trail's
// folders while a chain ran, but named by no digest, is reported; files
// written while no chain ran are not, and without Unlisted nothing is, as
// with the AWS CLI.
func TestUnlisted(t *testing.T) {
	c, t0 := newChain(t)
	inserted := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/inserted.json.gz"
	c.clock = t0.Add(90 * time.Minute)
	c.put(inserted, gz(t, []byte(`{"Records":[]}`)), nil)
	c.clock = t0.Add(4*time.Hour + 30*time.Minute) // logging was stopped
	c.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/while-stopped.json.gz", gz(t, []byte(`{"Records":[]}`)), nil)

	rep, results := c.validate(t0)
	if !rep.OK() {
		t.Fatalf("without Unlisted: %+v %v", rep, results)
	}
	var lines []string
	v := &Validator{Store: c.st, Keys: map[string][]byte{c.key.Fingerprint(): c.key.DER}, Unlisted: true,
		Emit: func(r Result) {
			if !r.Valid {
				lines = append(lines, r.String())
			}
		}}
	rep, err := v.Validate(context.Background(), c.tr, t0, t0.Add(8*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := "Log file\ts3://logs/" + inserted + "\tINVALID: not in any digest"
	if rep.InvalidLogs != 1 || rep.ValidLogs != 6 || len(lines) != 1 || lines[0] != want {
		t.Fatalf("with Unlisted: %+v\n%q", rep, lines)
	}
}

func mustGunzip(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
