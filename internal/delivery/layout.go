package delivery

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"time"
)

// FileKey returns the object key of a log file, in CloudTrail's layout:
//
//	[prefix/]AWSLogs/[o-id/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
//
// The date folders and the timestamp are the delivery time, in UTC.
func FileKey(prefix, orgID, account, region string, at time.Time, unique string) string {
	at = at.UTC()
	var b strings.Builder
	b.Grow(160)
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	b.WriteString("AWSLogs/")
	if orgID != "" {
		b.WriteString(orgID)
		b.WriteByte('/')
	}
	b.WriteString(account)
	b.WriteString("/CloudTrail/")
	b.WriteString(region)
	b.WriteString(at.Format("/2006/01/02/"))
	b.WriteString(account)
	b.WriteString("_CloudTrail_")
	b.WriteString(region)
	b.WriteByte('_')
	b.WriteString(at.Format("20060102T1504Z"))
	b.WriteByte('_')
	b.WriteString(unique)
	b.WriteString(".json.gz")
	return b.String()
}

const uniqueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Unique returns the 16 alphanumerics that end a log file's name. AWS's are
// random; cairn derives them from what the file holds (trail, ledger
// range, account, Region, part), so that a replayed delivery writes the
// same key again instead of a second file.
func Unique(trailID string, from, to uint64, account, region string, part int) string {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(trailID))
	h.Write([]byte{0})
	binary.BigEndian.PutUint64(n[:], from)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], to)
	h.Write(n[:])
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(region))
	binary.BigEndian.PutUint64(n[:], uint64(part))
	h.Write(n[:])
	sum := h.Sum(nil)
	out := make([]byte, 16)
	for i := range out {
		out[i] = uniqueAlphabet[int(sum[i])%len(uniqueAlphabet)]
	}
	return string(out)
}
