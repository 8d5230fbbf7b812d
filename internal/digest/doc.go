// Package digest is CloudTrail's log file integrity format: digest files,
// their keys in a bucket, the string a digest's signature covers, and the
// RSA signing keys and their fingerprints. The digest writer, the
// validators (`cairn validate-logs`) and the tests share it.
//
// Formats follow AWS exactly, so that `aws cloudtrail validate-logs`
// accepts what cairn writes and cairn validates what AWS writes: field
// order, ISO 8601 times without fractions, nulls in a starting digest, and
// the Java-style escaping of "/" in strings.
package digest
