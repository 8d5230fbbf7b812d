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
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
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
	timeIndex  = 'T' // time-ordered list of indexed events, for pruning
	scanBatch  = 4096
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
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	x.prune()
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
		case <-prune.C:
			x.prune()
		}
	}
}

// indexFrom indexes one batch of ledger entries starting at seq from and
// returns the sequence number to continue from.
func (x *Indexer) indexFrom(from uint64) (uint64, error) {
	b := x.db.NewBatch()
	defer b.Close()
	var e event.Envelope
	var key []byte
	cutoff := x.cutoff()
	next, err := x.ledger.Scan(from, scanBatch, func(seq uint64, v []byte) error {
		if err := e.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("ledger entry %d: %w", seq, err)
		}
		if !indexed(&e) || e.EventTime.Before(cutoff) {
			return nil
		}
		return eachKey(&e, seq, func(k []byte) error {
			key = append(key[:0], k...)
			return b.Set(key, nil, nil)
		})
	})
	if err != nil {
		return from, fmt.Errorf("index: %w", err)
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
		x.log.Info("history pruned", "events", n, "before", cutoff)
	}
}

func (x *Indexer) pruneBefore(cutoff time.Time) (int, error) {
	upper := append([]byte{timeIndex}, timeBytes(cutoff)...)
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: []byte{timeIndex}, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := x.db.NewBatch()
	defer b.Close()
	var e event.Envelope
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[9:])
		v, err := x.ledger.Get(seq)
		if err != nil {
			return n, err
		}
		if err := e.UnmarshalBinary(v); err != nil {
			return n, err
		}
		if err := eachKey(&e, seq, func(k []byte) error { return b.Delete(k, nil) }); err != nil {
			return n, err
		}
		n++
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

// eachKey calls fn with every index key of e. The key is reused between calls.
func eachKey(e *event.Envelope, seq uint64, fn func([]byte) error) error {
	var buf []byte
	emit := func(a AttrKey, v string) error {
		buf = indexKey(buf[:0], e.Category, e.AccountID, e.Region, a, v)
		buf = appendPosition(buf, e.EventTime, seq)
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
	if e.Category == event.Management {
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
	}
	buf = append(buf[:0], timeIndex)
	buf = append(buf, timeBytes(e.EventTime)...)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	return fn(buf)
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

// timeBytes orders times ascending as unsigned bytes, for any int64 nanos.
func timeBytes(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano())^(1<<63))
	return b[:]
}

// appendPosition appends the newest-first position of an event: inverted
// time, then inverted sequence number, so that ties keep the ledger's order
// reversed too.
func appendPosition(b []byte, t time.Time, seq uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, ^(uint64(t.UnixNano()) ^ (1 << 63)))
	return binary.BigEndian.AppendUint64(b, ^seq)
}
