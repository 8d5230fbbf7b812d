package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TimeFormat is how digests write times: UTC, whole seconds.
const TimeFormat = "2006-01-02T15:04:05Z"

// Algorithms named in digests and their metadata.
const (
	SignatureAlgorithm = "SHA256withRSA"
	HashAlgorithm      = "SHA-256"
)

// LogFile is one log file a digest vouches for.
type LogFile struct {
	S3Bucket        string  `json:"s3Bucket"`
	S3Object        string  `json:"s3Object"`
	HashValue       string  `json:"hashValue"` // hex SHA-256 of the uncompressed file
	HashAlgorithm   string  `json:"hashAlgorithm"`
	NewestEventTime *string `json:"newestEventTime"`
	OldestEventTime *string `json:"oldestEventTime"`
}

// Digest is a digest file's body, its fields in AWS's order. Pointer
// fields are null where AWS writes null: the event times of a digest
// without log files, and the previousDigest* fields of a starting digest.
type Digest struct {
	AWSAccountID                string    `json:"awsAccountId"`
	DigestStartTime             string    `json:"digestStartTime"`
	DigestEndTime               string    `json:"digestEndTime"`
	DigestS3Bucket              string    `json:"digestS3Bucket"`
	DigestS3Object              string    `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string    `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string    `json:"digestSignatureAlgorithm"`
	NewestEventTime             *string   `json:"newestEventTime"`
	OldestEventTime             *string   `json:"oldestEventTime"`
	PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string   `json:"previousDigestSignature"`
	LogFiles                    []LogFile `json:"logFiles"`

	signature string // from the object's metadata, when read by a validator
}

// Parse reads a digest body (uncompressed JSON).
func Parse(body []byte) (*Digest, error) {
	var d Digest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	for _, f := range []struct{ name, v string }{
		{"digestStartTime", d.DigestStartTime}, {"digestEndTime", d.DigestEndTime},
		{"digestS3Bucket", d.DigestS3Bucket}, {"digestS3Object", d.DigestS3Object},
		{"digestPublicKeyFingerprint", d.DigestPublicKeyFingerprint},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("digest: %s is missing", f.name)
		}
	}
	return &d, nil
}

// Marshal writes a digest as AWS does: compact, fields in order, "/"
// escaped as "\/". An empty log file list is written as [].
func (d *Digest) Marshal() ([]byte, error) {
	c := *d
	if c.LogFiles == nil {
		c.LogFiles = []LogFile{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	// "/" occurs in JSON only inside strings, so escaping every one is safe.
	out := bytes.ReplaceAll(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("/"), []byte(`\/`))
	return out, nil
}

// Starting reports whether the digest starts a chain (no previous digest).
func (d *Digest) Starting() bool { return d.PreviousDigestSignature == nil }

// Hash is the hex SHA-256 that digests record for a file or digest body:
// always of the uncompressed bytes.
func Hash(uncompressed []byte) string {
	sum := sha256.Sum256(uncompressed)
	return hex.EncodeToString(sum[:])
}

// SigningString is what a digest's signature covers: its end time, its
// own location, the hash of its uncompressed body and the previous
// digest's signature ("null" for a starting digest), one per line.
func SigningString(d *Digest, body []byte) string {
	prev := "null"
	if d.PreviousDigestSignature != nil {
		prev = *d.PreviousDigestSignature
	}
	return strings.Join([]string{d.DigestEndTime, d.DigestS3Bucket + "/" + d.DigestS3Object, Hash(body), prev}, "\n")
}

// FormatTime writes t as digests do.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Key returns the object key of a digest file:
//
//	[prefix/]AWSLogs/[o-id/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz
//
// where the date and time are the digest's end time and REGION the Region
// whose log files it covers.
func Key(prefix, orgID, account, region, trailName, homeRegion string, end time.Time) string {
	end = end.UTC()
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix + "/")
	}
	b.WriteString("AWSLogs/")
	if orgID != "" {
		b.WriteString(orgID + "/")
	}
	fmt.Fprintf(&b, "%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		account, region, end.Format("2006/01/02"), account, region, trailName, homeRegion, end.Format("20060102T150405Z"))
	return b.String()
}
