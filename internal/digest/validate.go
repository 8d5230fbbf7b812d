package digest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/safeio"
)

// Result is the verdict on one digest or log file, in the words of
// `aws cloudtrail validate-logs`.
type Result struct {
	Digest bool // a digest file; else a log file
	Bucket string
	Key    string
	Valid  bool
	Reason string // why it is invalid: "not found", "hash value doesn't match", ...
}

// String is the line validate-logs prints for the result.
func (r Result) String() string {
	kind := "Log file"
	if r.Digest {
		kind = "Digest file"
	}
	status := "valid"
	if !r.Valid {
		status = "INVALID: " + r.Reason
	}
	return fmt.Sprintf("%s\ts3://%s/%s\t%s", kind, r.Bucket, r.Key, status)
}

// Gap is an hour range that no digest covers: the chain was started anew
// (validation or logging turned off and on).
type Gap struct{ From, To time.Time }

// Report sums up a validation.
type Report struct {
	ValidDigests, InvalidDigests int
	ValidLogs, InvalidLogs       int
	FoundStart, FoundEnd         time.Time // the span the valid digests cover
	Gaps                         []Gap
}

// OK reports whether nothing was found invalid.
func (r Report) OK() bool { return r.InvalidDigests == 0 && r.InvalidLogs == 0 }

// Trail names the digests to validate: a trail's, in one Region.
type Trail struct {
	Bucket, Prefix string
	OrgID, Account string
	Region         string // the Region whose digests are read
	Name           string
	HomeRegion     string
}

// digestPrefix is where a trail's digests of its Region are.
func (t Trail) digestPrefix() string {
	p := ""
	if t.Prefix != "" {
		p = t.Prefix + "/"
	}
	p += "AWSLogs/"
	if t.OrgID != "" {
		p += t.OrgID + "/"
	}
	return p + t.Account + "/CloudTrail-Digest/" + t.Region + "/"
}

// Validator checks a trail's digests and log files in a bucket, read
// directly (not through cairn), against public keys by fingerprint.
type Validator struct {
	Store objstore.Store
	// Keys maps fingerprints to PKCS#1 DER public keys.
	Keys map[string][]byte
	// Emit, if set, is told every result as it is found.
	Emit func(Result)
	// LogLimits and DigestLimits bound each file read; zero means
	// safeio.LogFile() and safeio.DigestFile(). A file over them is
	// invalid, with the limit as the reason.
	LogLimits, DigestLimits safeio.Limits
	// Unlisted also reports log files that the digests should name but
	// none does: files in the trail's log folders, written while a valid
	// chain was running, that no digest lists — a file inserted into the
	// bucket. Only for a trail whose key prefix no other trail shares,
	// since log file names do not say which trail wrote them.
	Unlisted bool
}

// UnlistedMargin is how far from the edges of the span a chain covers a
// file must have been written to be reported as unlisted: a file
// delivered just as a chain starts or ends may rightly be in none.
const UnlistedMargin = 5 * time.Second

// coverage is what a walk found the valid digests to cover.
type coverage struct {
	named map[string]bool // log files any readable digest lists
	spans [][2]time.Time  // [start, end] of each valid digest
}

var digestName = regexp.MustCompile(`_(\d{8}T\d{6}Z)\.json\.gz$`)

// Validate checks the digests of t whose end time lies in [start,
// end+1h], newest first along their chain, and every log file each valid
// digest names, as `aws cloudtrail validate-logs` does. It goes further
// than the AWS CLI in one respect: a digest's previousDigestHashValue and
// previousDigestSignature must match the digest it points to.
//
// With Unlisted, it then reports log files no digest lists.
func (v *Validator) Validate(ctx context.Context, t Trail, start, end time.Time) (Report, error) {
	cov := &coverage{named: map[string]bool{}}
	rep, err := v.walk(ctx, t, start, end, cov)
	if err != nil || !v.Unlisted {
		return rep, err
	}
	return rep, v.unlisted(ctx, t, &rep, cov)
}

func (v *Validator) walk(ctx context.Context, t Trail, start, end time.Time, cov *coverage) (Report, error) {
	var rep Report
	keys, err := v.listDigests(ctx, t, start, end)
	if err != nil {
		return rep, err
	}
	done := map[string]bool{}
	// next is the digest expected to follow (older than) the one just
	// checked: its key, and what the newer one says of it.
	type expect struct {
		key, hash, sig string
	}
	var pending *expect
	i := len(keys) - 1
	for {
		var key string
		var want *expect
		switch {
		case pending != nil:
			key, want, pending = pending.key, pending, nil
		default:
			for i >= 0 && done[keys[i]] {
				i--
			}
			if i < 0 {
				return rep, nil
			}
			key = keys[i]
		}
		done[key] = true
		d, body, res := v.checkDigest(ctx, t, key)
		if res.Valid && want != nil && want.hash != "" && (Hash(body) != want.hash || d.DigestSignature() != want.sig) {
			res.Valid, res.Reason = false, "does not match the previous digest recorded in the next digest"
		}
		v.emit(res)
		if !res.Valid {
			rep.InvalidDigests++
			continue
		}
		rep.ValidDigests++
		ds, _ := time.Parse(TimeFormat, d.DigestStartTime)
		de, _ := time.Parse(TimeFormat, d.DigestEndTime)
		if rep.FoundEnd.IsZero() || de.After(rep.FoundEnd) {
			rep.FoundEnd = de
		}
		if rep.FoundStart.IsZero() || ds.Before(rep.FoundStart) {
			rep.FoundStart = ds
		}
		cov.spans = append(cov.spans, [2]time.Time{ds, de})
		for _, lf := range d.LogFiles {
			cov.named[lf.S3Bucket+"/"+lf.S3Object] = true
			r := v.checkLog(ctx, lf)
			v.emit(r)
			if r.Valid {
				rep.ValidLogs++
			} else {
				rep.InvalidLogs++
			}
		}
		if ds.Before(start) {
			return rep, nil
		}
		if d.PreviousDigestS3Object != nil && d.PreviousDigestS3Bucket != nil {
			if *d.PreviousDigestS3Bucket == t.Bucket && !done[*d.PreviousDigestS3Object] {
				pending = &expect{key: *d.PreviousDigestS3Object, hash: deref(d.PreviousDigestHashValue), sig: deref(d.PreviousDigestSignature)}
			}
			continue
		}
		// A starting digest: the chain began here. Whatever is older
		// belongs to an earlier chain.
		if i >= 0 {
			for j := i; j >= 0; j-- {
				if !done[keys[j]] {
					if m := digestName.FindStringSubmatch(keys[j]); m != nil {
						older, _ := time.Parse("20060102T150405Z", m[1])
						rep.Gaps = append(rep.Gaps, Gap{From: older, To: ds})
					}
					break
				}
			}
		}
	}
}

// unlisted reports the log files in t's folders that were written well
// inside a span the valid digests cover and that no digest lists.
func (v *Validator) unlisted(ctx context.Context, t Trail, rep *Report, cov *coverage) error {
	if len(cov.spans) == 0 {
		return nil
	}
	// Merge the spans of consecutive digests into the runs of each chain.
	sort.Slice(cov.spans, func(i, j int) bool { return cov.spans[i][0].Before(cov.spans[j][0]) })
	runs := [][2]time.Time{cov.spans[0]}
	for _, s := range cov.spans[1:] {
		last := &runs[len(runs)-1]
		if !s[0].After(last[1]) {
			if s[1].After(last[1]) {
				last[1] = s[1]
			}
			continue
		}
		runs = append(runs, s)
	}
	inRun := func(at time.Time) bool {
		for _, r := range runs {
			if !at.Before(r[0].Add(UnlistedMargin)) && !at.After(r[1].Add(-UnlistedMargin)) {
				return true
			}
		}
		return false
	}
	base := strings.TrimSuffix(t.digestPrefix(), "CloudTrail-Digest/"+t.Region+"/") + "CloudTrail/" + t.Region + "/"
	first, last := runs[0][0].UTC().Truncate(24*time.Hour), runs[len(runs)-1][1].UTC()
	for day := first; !day.After(last); day = day.Add(24 * time.Hour) {
		prefix := base + day.Format("2006/01/02/")
		after := ""
		for {
			infos, err := v.Store.List(ctx, t.Bucket, prefix, after, 1000)
			if err != nil {
				return fmt.Errorf("list log files: %w", err)
			}
			for _, info := range infos {
				after = info.Key
				if cov.named[t.Bucket+"/"+info.Key] || !inRun(info.LastModified) {
					continue
				}
				r := Result{Bucket: t.Bucket, Key: info.Key, Reason: "not in any digest"}
				v.emit(r)
				rep.InvalidLogs++
			}
			if len(infos) < 1000 {
				break
			}
		}
	}
	return nil
}

// DigestSignature is what the digest says of itself in the next digest:
// it is set by the validator from the object's metadata.
func (d *Digest) DigestSignature() string { return d.signature }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (v *Validator) emit(r Result) {
	if v.Emit != nil {
		v.Emit(r)
	}
}

// listDigests returns the keys of t's digests whose timestamps lie in
// [start, end+1h], oldest first.
func (v *Validator) listDigests(ctx context.Context, t Trail, start, end time.Time) ([]string, error) {
	prefix := t.digestPrefix()
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `\d{4}/\d{2}/\d{2}/` +
		regexp.QuoteMeta(t.Account+"_CloudTrail-Digest_"+t.Region+"_"+t.Name+"_"+t.HomeRegion+"_") + `\d{8}T\d{6}Z\.json\.gz$`)
	lo, hi := start.UTC().Format("20060102T150405Z"), end.Add(time.Hour).UTC().Format("20060102T150405Z")
	var out []string
	after := ""
	for {
		infos, err := v.Store.List(ctx, t.Bucket, prefix, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("list digests: %w", err)
		}
		for _, info := range infos {
			after = info.Key
			m := digestName.FindStringSubmatch(info.Key)
			if m == nil || !name.MatchString(info.Key) || m[1] < lo || m[1] > hi {
				continue
			}
			out = append(out, info.Key)
		}
		if len(infos) < 1000 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return digestName.FindStringSubmatch(out[i])[1] < digestName.FindStringSubmatch(out[j])[1]
	})
	return out, nil
}

// checkDigest reads and verifies one digest file.
func (v *Validator) checkDigest(ctx context.Context, t Trail, key string) (*Digest, []byte, Result) {
	res := Result{Digest: true, Bucket: t.Bucket, Key: key}
	bad := func(reason string) (*Digest, []byte, Result) {
		res.Reason = reason
		return nil, nil, res
	}
	obj, err := v.Store.Open(ctx, t.Bucket, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return bad("not found")
	}
	if err != nil {
		return bad(err.Error())
	}
	defer obj.Body.Close()
	sig, alg := obj.Metadata["signature"], obj.Metadata["signature-algorithm"]
	if sig == "" || alg == "" {
		return bad("signature verification failed")
	}
	body, err := readOne(obj, v.DigestLimits.Or(safeio.DigestFile()), io.ReadAll)
	if errors.Is(err, safeio.ErrTooLarge) {
		return bad(err.Error())
	}
	if err != nil {
		return bad("invalid format")
	}
	d, err := Parse(body)
	if err != nil || d.PreviousDigestSignature == nil && !bytes.Contains(body, []byte(`"previousDigestSignature":null`)) {
		return bad("invalid format")
	}
	d.signature = sig
	if d.DigestS3Bucket != t.Bucket || d.DigestS3Object != key {
		return bad("has been moved from its original location")
	}
	der, ok := v.Keys[d.DigestPublicKeyFingerprint]
	if !ok {
		return bad(fmt.Sprintf("public key not found in region %s for fingerprint %s", t.HomeRegion, d.DigestPublicKeyFingerprint))
	}
	if alg != SignatureAlgorithm || Verify(der, SigningString(d, body), sig) != nil {
		return bad("signature verification failed")
	}
	res.Valid = true
	return d, body, res
}

// checkLog reads a log file a digest names and compares its hash. The
// hash is of the inflated content, taken as it streams: the file is not
// held in memory.
func (v *Validator) checkLog(ctx context.Context, lf LogFile) Result {
	res := Result{Bucket: lf.S3Bucket, Key: lf.S3Object}
	obj, err := v.Store.Open(ctx, lf.S3Bucket, lf.S3Object)
	if errors.Is(err, objstore.ErrNotFound) {
		res.Reason = "not found"
		return res
	}
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	defer obj.Body.Close()
	sum, err := readOne(obj, v.LogLimits.Or(safeio.LogFile()), func(r io.Reader) (string, error) {
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	})
	switch {
	case errors.Is(err, safeio.ErrTooLarge):
		res.Reason = err.Error()
	case err != nil:
		res.Reason = "invalid format"
	case sum != lf.HashValue:
		res.Reason = "hash value doesn't match"
	default:
		res.Valid = true
	}
	return res
}

// readOne reads an object that must be exactly one gzip member, as the
// AWS CLI reads digest and log files, within lim, with read.
func readOne[T any](obj *objstore.Reader, lim safeio.Limits, read func(io.Reader) (T, error)) (T, error) {
	var zero T
	if err := lim.CheckSize(obj.Size); err != nil {
		return zero, err
	}
	r, err := safeio.NewGzipMember(obj.Body, lim)
	if err != nil {
		return zero, err
	}
	return read(r)
}
