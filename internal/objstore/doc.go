// Package objstore owns the buckets cairn delivers trail logs into: the
// small Store interface every backend implements (a directory tree, memory
// for tests, any S3-compatible service), the registry of which buckets exist
// in cairn, who owns them and who may deliver into them, and cairn's own
// bucket operations on the API.
//
// It does not know what is written: log file names, digest chains and
// delivery schedules belong to the trail and delivery packages, which see a
// bucket only through Store and Registry.CanDeliver.
package objstore
