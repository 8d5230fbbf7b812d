// Package history is Event history: the indexes behind LookupEvents and the
// lookups themselves.
//
// The indexer is a ledger consumer. For every management and insight event
// it writes one key per lookup attribute value into its own Pebble database,
// ordered newest first, together with its cursor in the same batch. That
// database runs without a write-ahead log: after a crash it comes back as a
// consistent earlier state and the indexer replays the ledger from its
// cursor, rewriting identical keys. Records themselves stay in the ledger;
// an index key only names a sequence number.
package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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
}

// NewIndexer returns an indexer writing to db (a database of its own).
// retention 0 keeps events forever.
func NewIndexer(db *pebble.DB, l *ledger.Ledger, retention time.Duration, log *slog.Logger) *Indexer {
	return &Indexer{db: db, ledger: l, log: log, retention: retention, now: time.Now}
}

// Position returns the last ledger sequence number indexed.
func (x *Indexer) Position() (uint64, error) {
	return ledger.ReadCursor(x.db, cursorName)
}

// Run indexes new ledger entries as they arrive, and prunes expired ones,
// until ctx ends.
func (x *Indexer) Run(ctx context.Context) error {
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
			next, err := x.indexFrom(cursor + 1)
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

// indexFrom indexes one batch of ledger entries starting at seq from and
// returns the sequence number to continue from.
//
// Index keys are posting lists: one key per (attribute value, second of
// eventTime, batch) holding every event of the batch with that value in that
// second. A busy value thus costs one key per second instead of one per
// event, which is most of the indexer's write volume.
func (x *Indexer) indexFrom(from uint64) (uint64, error) {
	var e event.Envelope
	cutoff := x.cutoff()
	lists := map[string][]posting{}
	next, err := x.ledger.Scan(from, scanBatch, func(seq uint64, v []byte) error {
		if err := e.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("ledger entry %d: %w", seq, err)
		}
		if !indexed(&e) || e.EventTime.Before(cutoff) {
			return nil
		}
		p := posting{t: e.EventTime.UnixNano(), seq: seq}
		sec := bucketOf(p.t)
		return eachPrefix(&e, func(prefix []byte) error {
			k := string(appendBucket(prefix, sec))
			lists[k] = append(lists[k], p)
			return nil
		})
	})
	if err != nil {
		return from, fmt.Errorf("index: %w", err)
	}
	b := x.db.NewBatch()
	defer b.Close()
	var key, val []byte
	batchID := ^from
	for k, ps := range lists {
		key = binary.BigEndian.AppendUint64(append(key[:0], k...), batchID)
		val = encodePostings(val[:0], ps)
		if err := b.Set(key, val, nil); err != nil {
			return from, err
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

// posting is one event in a posting list.
type posting struct {
	t   int64 // eventTime, Unix nanoseconds
	seq uint64
}

// newer reports whether p comes before q in newest-first order.
func (p posting) newer(q posting) bool {
	if p.t != q.t {
		return p.t > q.t
	}
	return p.seq > q.seq
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

// encodePostings writes ps newest first: the first time and sequence in
// full, then differences, which are small within one second.
func encodePostings(b []byte, ps []posting) []byte {
	sort.Slice(ps, func(i, j int) bool { return ps[i].newer(ps[j]) })
	b = binary.AppendUvarint(b, uint64(len(ps)))
	var prev posting
	for i, p := range ps {
		if i == 0 {
			b = binary.AppendVarint(b, p.t)
			b = binary.AppendUvarint(b, p.seq)
		} else {
			b = binary.AppendUvarint(b, uint64(prev.t-p.t))
			b = binary.AppendVarint(b, int64(prev.seq-p.seq))
		}
		prev = p
	}
	return b
}

// decodePostings appends the postings in v to ps.
func decodePostings(ps []posting, v []byte) ([]posting, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)) {
		return ps, errCorruptIndex
	}
	v = v[k:]
	var prev posting
	for i := uint64(0); i < n; i++ {
		var p posting
		if i == 0 {
			t, k1 := binary.Varint(v)
			if k1 <= 0 {
				return ps, errCorruptIndex
			}
			seq, k2 := binary.Uvarint(v[k1:])
			if k2 <= 0 {
				return ps, errCorruptIndex
			}
			p, v = posting{t: t, seq: seq}, v[k1+k2:]
		} else {
			dt, k1 := binary.Uvarint(v)
			if k1 <= 0 {
				return ps, errCorruptIndex
			}
			ds, k2 := binary.Varint(v[k1:])
			if k2 <= 0 {
				return ps, errCorruptIndex
			}
			p, v = posting{t: prev.t - int64(dt), seq: prev.seq - uint64(ds)}, v[k1+k2:]
		}
		ps = append(ps, p)
		prev = p
	}
	return ps, nil
}

var errCorruptIndex = errors.New("corrupt history index entry")
