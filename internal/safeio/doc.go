// Package safeio reads files that someone else wrote — log files and
// digest files from a tenant's bucket, files given to `cairn ingest` —
// within fixed bounds: how many bytes are read from the source, how many
// a gzip stream inflates to, and how many records a file may hold. The
// limits live here, in one place, so that every reader of such files
// applies the same ones.
//
// A gzip file's own claim about its size (the trailer's ISIZE) is never
// used: it is written by whoever wrote the file. Readers stream; they do
// not size buffers from what a file says of itself, and a file over a
// limit fails with ErrTooLarge as soon as the limit is passed, having
// cost no more memory than the caller keeps of what it read.
//
// The package knows nothing of buckets or records; it wraps io.Readers.
package safeio
