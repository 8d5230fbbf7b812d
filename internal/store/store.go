// Package store opens the Pebble databases of the embedded backend with the
// options cairn needs. It owns no keys: each package that keeps data in a
// database names its own key prefix, listed here so that they never collide.
package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Key prefixes in the ledger database.
const (
	PrefixLedger     = 'L' // ledger records by sequence number
	PrefixDedupe     = 'D' // (account, eventID) → sequence number
	PrefixCursor     = 'C' // consumer cursors
	PrefixAccount    = 'A' // accounts
	PrefixKey        = 'K' // access keys
	PrefixBucket     = 'S' // buckets: owner, backend, policy
	PrefixTopic      = 'N' // notification topics
	PrefixOrg        = 'O' // organizations
	PrefixTrail      = 'T' // trails and their selectors
	PrefixDeliver    = 'V' // delivery cursors, pending batches and status
	PrefixLake       = 'E' // event data stores
	PrefixChannel    = 'H' // Lake channels
	PrefixQuarantine = 'Q' // records delivery could not place, by trail ID and sequence number
)

// Options tune one database.
type Options struct {
	// CacheBytes is the block cache size.
	CacheBytes int64
	// MemTableBytes is the size of one memtable.
	MemTableBytes uint64
	// L0Files is how many files level 0 gathers before they are compacted
	// (default 4). Databases of random keys rewrite less with more: each
	// compaction into the next level then carries more new data per byte
	// of old data it rewrites.
	L0Files int
	// NoWAL skips the write-ahead log. Only for databases whose writers keep
	// their own cursor in the same database: after a crash the database is a
	// consistent earlier state, and the writer replays from its cursor.
	NoWAL bool
	// SeparateValues stores large values in blob files.
	SeparateValues bool
	// BlockBytes is the target size of a data block (default 32 KiB).
	// Point reads decompress one block: smaller blocks read faster.
	BlockBytes int
}

// Open opens (creating if needed) the Pebble database in dir.
func Open(dir string, o Options) (*pebble.DB, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 128 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 32 << 20
	}
	if o.L0Files == 0 {
		o.L0Files = 4
	}
	if o.BlockBytes == 0 {
		o.BlockBytes = 32 << 10
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:        cache,
		MemTableSize: o.MemTableBytes,
		// Two memtables at most: one filling, one flushing. Writers wait
		// rather than memory growing when flushes fall behind.
		MemTableStopWritesThreshold: 2,
		L0CompactionThreshold:       o.L0Files,
		L0StopWritesThreshold:       max(24, 4*o.L0Files),
		DisableWAL:                  o.NoWAL,
		CompactionConcurrencyRange:  func() (int, int) { return 1, 2 },
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      quietLogger{},
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].BlockSize = o.BlockBytes
	}
	if o.SeparateValues {
		// Keep large values (event records) out of compactions: they are
		// written once to blob files and only their references move.
		opts.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
			return pebble.ValueSeparationPolicy{
				Enabled:               true,
				MinimumSize:           256,
				MaxBlobReferenceDepth: 10,
				RewriteMinimumAge:     5 * time.Minute,
				TargetGarbageRatio:    0.2,
			}
		}
	}
	// The fastest codec on every level: compactions are most of the
	// write path's CPU, and records compress well enough with it.
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionFastest })
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return db, nil
}

// quietLogger keeps Pebble's informational chatter out of cairn's logs;
// fatal errors still stop the process.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	slog.Error("pebble", "msg", fmt.Sprintf(format, args...))
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
