// Package history is Event history: the indexes behind LookupEvents and the
// lookups themselves.
//
// The indexer is a ledger consumer. For every management and insight event
// it adds the event's sequence number to a posting list per lookup attribute
// value and second of eventTime in its own Pebble database, together with
// its cursor in the same batch. That database runs without a write-ahead
// log: after a crash it comes back as a consistent earlier state and the
// indexer replays the ledger from its cursor, rewriting identical keys.
// Records themselves stay in the ledger; an index key only names sequence
// numbers.
//
// Event history orders and filters events by the second their eventTime
// falls in (CloudTrail writes whole seconds), and within a second newest
// recorded first. Under that order every posting list is a run of
// consecutive positions, so a page seeks to where it starts and reads at
// most one list it does not return: its cost does not depend on how many
// events share a second.
package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/store"
)

// AttrKey is a LookupEvents attribute key, as one byte in index keys.
type AttrKey byte

// The lookup attribute keys. Values are stable: they are written to disk.
const (
	AttrAll          AttrKey = 0
	AttrEventName    AttrKey = 1
	AttrReadOnly     AttrKey = 2
	AttrUsername     AttrKey = 3
	AttrResourceType AttrKey = 4
	AttrResourceName AttrKey = 5
	AttrEventSource  AttrKey = 6
	AttrAccessKeyID  AttrKey = 7
	AttrEventID      AttrKey = 8 // answered from the ledger's own ID index
)

// AttrKeys maps LookupEvents' AttributeKey names to keys.
var AttrKeys = map[string]AttrKey{
	"EventId":      AttrEventID,
	"EventName":    AttrEventName,
	"ReadOnly":     AttrReadOnly,
	"Username":     AttrUsername,
	"ResourceType": AttrResourceType,
	"ResourceName": AttrResourceName,
	"EventSource":  AttrEventSource,
	"AccessKeyId":  AttrAccessKeyID,
}

const (
	cursorName = "history"
	scanBatch  = 16384
)

// Indexer keeps the history indexes up to date with the ledger.
type Indexer struct {
	db        *pebble.DB
	ledger    *ledger.Ledger
	log       *slog.Logger
	retention time.Duration
	now       func() time.Time
	openErr   error // from NewIndexer's format check
}

// NewIndexer returns an indexer writing to db (a database of its own).
// retention 0 keeps events forever. An index of an older format is
// emptied here, before anything reads it, and Run rebuilds it from the
// ledger; if that fails, Run returns the error.
func NewIndexer(db *pebble.DB, l *ledger.Ledger, retention time.Duration, log *slog.Logger) *Indexer {
	x := &Indexer{db: db, ledger: l, log: log, retention: retention, now: time.Now}
	had, err := ledger.ReadCursor(db, cursorName)
	if err == nil {
		var reset bool
		if reset, err = ensureFormat(db); reset && had > 0 {
			log.Info("history index format changed; rebuilding it from the ledger", "indexed", had)
		}
	}
	x.openErr = err
	return x
}

// indexFormat is the layout of the index keys and values. The index is
// derived from the ledger, so a database of another format is emptied and
// rebuilt rather than converted.
const indexFormat = 2

// formatKey holds indexFormat; it sorts after every index and cursor key.
var formatKey = []byte("\xffformat")

// ensureFormat empties db unless it holds indexes of indexFormat, and
// reports whether it did.
func ensureFormat(db *pebble.DB) (bool, error) {
	v, c, err := db.Get(formatKey)
	switch {
	case err == nil:
		current := len(v) == 1 && v[0] == indexFormat
		c.Close()
		if current {
			return false, nil
		}
	case !errors.Is(err, pebble.ErrNotFound):
		return false, fmt.Errorf("history index format: %w", err)
	}
	b := db.NewBatch()
	defer b.Close()
	// The cursor goes too: the indexer starts again from the ledger's start.
	if err := b.DeleteRange([]byte{0}, []byte{0xff}, nil); err != nil {
		return false, err
	}
	if err := b.Set(formatKey, []byte{indexFormat}, nil); err != nil {
		return false, err
	}
	// Like every write here, unsynced: if a crash loses it, the old index
	// is still without formatKey and is emptied again at the next start.
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, fmt.Errorf("history index format: %w", err)
	}
	return true, nil
}

// Position returns the last ledger sequence number indexed.
func (x *Indexer) Position() (uint64, error) {
	return ledger.ReadCursor(x.db, cursorName)
}

// Run indexes new ledger entries as they arrive, and prunes expired ones,
// until ctx ends.
func (x *Indexer) Run(ctx context.Context) error {
	if x.openErr != nil {
		return x.openErr
	}
	cursor, err := ledger.ReadCursor(x.db, cursorName)
	if err != nil {
		return fmt.Errorf("history cursor: %w", err)
	}
	// Pruning reads the whole index, so it runs beside the indexer rather
	// than in its way: new events must stay searchable within a second.
	pruneDone := make(chan struct{})
	go func() {
		defer close(pruneDone)
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			x.prune()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { <-pruneDone }()
	for {
		changed := x.ledger.Changed()
		for cursor < x.ledger.Last() {
			next, err := x.indexFrom(cursor+1, scanBatch)
			if err != nil {
				return err
			}
			cursor = next - 1
		}
		select {
		case <-ctx.Done():
			return x.db.Flush()
		case <-changed:
		}
	}
}

// indexFrom indexes one batch of at most limit ledger entries starting at
// seq from and returns the sequence number to continue from.
//
// Index keys are posting lists: one key per (attribute value, second of
// eventTime, chunk) holding at most chunkSize sequence numbers of events
// with that value in that second. A busy value thus costs one key per
// chunkSize events instead of one per event, which is most of the
// indexer's write volume, and a reader never decodes more than one chunk
// it does not return.
func (x *Indexer) indexFrom(from uint64, limit int) (uint64, error) {
	var e event.Envelope
	cutoff := x.cutoff()
	lists := map[string][]uint64{}
	next, err := x.ledger.Scan(from, limit, func(seq uint64, v []byte) error {
		if err := e.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("ledger entry %d: %w", seq, err)
		}
		if !indexed(&e) || e.EventTime.Before(cutoff) {
			return nil
		}
		sec := bucketOf(e.EventTime.UnixNano())
		return eachPrefix(&e, func(prefix []byte) error {
			k := string(appendBucket(prefix, sec))
			lists[k] = append(lists[k], seq)
			return nil
		})
	})
	if err != nil {
		return from, fmt.Errorf("index: %w", err)
	}
	b := x.db.NewBatch()
	defer b.Close()
	var key, val []byte
	for k, seqs := range lists {
		// seqs ascend; batches never overlap, so chunks of one key never
		// overlap either, and their keys order them newest first.
		for len(seqs) > 0 {
			n := min(len(seqs), chunkSize)
			chunk := seqs[:n]
			seqs = seqs[n:]
			key = appendChunkID(append(key[:0], k...), chunk[0])
			val = encodeChunk(val[:0], chunk)
			if err := b.Set(key, val, nil); err != nil {
				return from, err
			}
		}
	}
	if err := ledger.SetCursor(b, cursorName, next-1); err != nil {
		return from, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return from, fmt.Errorf("index commit: %w", err)
	}
	return next, nil
}

// cutoff is the oldest eventTime still kept; the zero time keeps all.
func (x *Indexer) cutoff() time.Time {
	if x.retention <= 0 {
		return time.Time{}
	}
	return x.now().Add(-x.retention)
}

// prune deletes the index keys of events older than the retention.
func (x *Indexer) prune() {
	cutoff := x.cutoff()
	if cutoff.IsZero() {
		return
	}
	n, err := x.pruneBefore(cutoff)
	if err != nil {
		x.log.Error("history prune", "err", err)
		return
	}
	if n > 0 {
		x.log.Info("history pruned", "keys", n, "before", cutoff)
	}
}

// pruneBefore deletes every posting list of a second before cutoff. It reads
// the whole index once: posting lists keep it small, and retention is
// coarse (days), so an hourly pass is plenty.
func (x *Indexer) pruneBefore(cutoff time.Time) (int, error) {
	limit := bucketOf(cutoff.UnixNano())
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: []byte{0}, UpperBound: []byte{0xff}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := x.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if k[0] == store.PrefixCursor || len(k) < 17 {
			continue
		}
		sec := int64(^binary.BigEndian.Uint64(k[len(k)-16:]) ^ (1 << 63))
		if sec < limit {
			if err := b.Delete(k, nil); err != nil {
				return n, err
			}
			n++
		}
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	return n, b.Commit(pebble.NoSync)
}

// indexed reports whether Event history shows this event at all: it keeps
// management events and, on request, insight events.
func indexed(e *event.Envelope) bool {
	return e.Category == event.Management || e.Category == event.Insight
}

// eachPrefix calls fn with the key prefix of every attribute value of e.
// The prefix is reused between calls.
func eachPrefix(e *event.Envelope, fn func([]byte) error) error {
	var buf []byte
	emit := func(a AttrKey, v string) error {
		buf = indexKey(buf[:0], e.Category, e.AccountID, e.Region, a, v)
		return fn(buf)
	}
	if err := emit(AttrAll, ""); err != nil {
		return err
	}
	if err := emit(AttrEventName, e.EventName); err != nil {
		return err
	}
	if err := emit(AttrEventSource, e.EventSource); err != nil {
		return err
	}
	if e.Category != event.Management {
		return nil
	}
	ro := "false"
	if e.ReadOnly {
		ro = "true"
	}
	if err := emit(AttrReadOnly, ro); err != nil {
		return err
	}
	if e.Username != "" {
		if err := emit(AttrUsername, e.Username); err != nil {
			return err
		}
	}
	if e.AccessKeyID != "" {
		if err := emit(AttrAccessKeyID, e.AccessKeyID); err != nil {
			return err
		}
	}
	for i, r := range e.Resources {
		if r.Type != "" && !seenBefore(e.Resources[:i], func(p event.Resource) bool { return p.Type == r.Type }) {
			if err := emit(AttrResourceType, r.Type); err != nil {
				return err
			}
		}
		if r.Name != "" && !seenBefore(e.Resources[:i], func(p event.Resource) bool { return p.Name == r.Name }) {
			if err := emit(AttrResourceName, r.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func seenBefore(rs []event.Resource, same func(event.Resource) bool) bool {
	for _, r := range rs {
		if same(r) {
			return true
		}
	}
	return false
}

// indexKey appends the prefix shared by all keys of one (category, account,
// region, attribute, value): the value is escaped so that no value's key is
// a prefix of another's.
func indexKey(b []byte, c event.Category, account, region string, a AttrKey, value string) []byte {
	b = append(b, byte(c))
	b = append(b, account...)
	b = append(b, 0)
	b = append(b, region...)
	b = append(b, 0, byte(a))
	for i := 0; i < len(value); i++ {
		if value[i] == 0 {
			b = append(b, 0, 0xff)
		} else {
			b = append(b, value[i])
		}
	}
	return append(b, 0, 1)
}

// bucketOf is the second a time falls in.
func bucketOf(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		s--
	}
	return s
}

// appendBucket appends a second so that newer seconds sort first.
func appendBucket(b []byte, sec int64) []byte {
	return binary.BigEndian.AppendUint64(b, ^(uint64(sec) ^ (1 << 63)))
}

// chunkSize is the most sequence numbers one index key holds: large enough
// that a busy value's key overhead stays small, small enough that the one
// chunk a page may read past its start costs little.
const chunkSize = 64

// appendChunkID appends the key suffix of a chunk whose oldest entry is
// minSeq, so that newer chunks of a second sort first. A seek to
// appendChunkID(s-1) lands on the first chunk holding anything older than
// s: chunks of one key never overlap.
func appendChunkID(b []byte, minSeq uint64) []byte {
	return binary.BigEndian.AppendUint64(b, ^minSeq)
}

// encodeChunk writes ascending sequence numbers newest first: a count, the
// newest in full, then the differences, which are small within a batch.
func encodeChunk(b []byte, seqs []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(seqs)))
	for i := len(seqs) - 1; i >= 0; i-- {
		if i == len(seqs)-1 {
			b = binary.AppendUvarint(b, seqs[i])
		} else {
			b = binary.AppendUvarint(b, seqs[i+1]-seqs[i])
		}
	}
	return b
}

// chunkReader decodes a chunk one sequence number at a time, newest first,
// so that a page decodes only what it reads.
type chunkReader struct {
	v    []byte
	left uint64
	prev uint64
	err  error
}

func newChunkReader(v []byte) chunkReader {
	n, k := binary.Uvarint(v)
	if k <= 0 || n == 0 || n > uint64(len(v)) {
		return chunkReader{err: errCorruptIndex}
	}
	return chunkReader{v: v[k:], left: n}
}

// next returns the next sequence number; false at the end or on an error,
// which err then holds.
func (r *chunkReader) next() (uint64, bool) {
	if r.left == 0 || r.err != nil {
		return 0, false
	}
	d, k := binary.Uvarint(r.v)
	if k <= 0 {
		r.err = errCorruptIndex
		return 0, false
	}
	r.v = r.v[k:]
	seq := d
	if r.prev != 0 {
		if d == 0 || d >= r.prev {
			r.err = errCorruptIndex
			return 0, false
		}
		seq = r.prev - d
	} else if d == 0 {
		r.err = errCorruptIndex
		return 0, false
	}
	r.left--
	r.prev = seq
	return seq, true
}

var errCorruptIndex = errors.New("corrupt history index entry")
