// Package ledger is cairn's append-only, sequence-numbered event log and the
// cursors of the consumers that read it.
//
// An entry is acknowledged only after it is synced to disk; concurrent
// appends share one sync (group commit). Each entry carries a dedupe key
// (account, ID): appending an entry whose key is already present returns the
// existing sequence number instead of adding a copy, so producers may retry
// freely. The ledger knows nothing of the events' contents.
//
// The log itself holds only keys that grow (sequence numbers), so its
// database never rewrites records in compactions. The dedupe keys, which are
// random, live in a second database without a write-ahead log, as a
// consumer of the log with its own cursor: after a crash it is caught up
// from the log before the first append.
package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/store"
)

// Entry is one value to append.
type Entry struct {
	Account string // dedupe scope
	ID      string // dedupe key within the account
	Value   []byte
}

// Result tells what became of one appended entry.
type Result struct {
	Seq       uint64 // the entry's sequence number (the earlier one for a duplicate)
	Duplicate bool   // the (account, ID) was already in the ledger
}

// ErrClosed is returned by Append once the ledger has stopped.
var ErrClosed = errors.New("ledger closed")

// maxGroup bounds the entries written by one sync, so that a flood of
// appends still acknowledges in small steps.
const maxGroup = 8192

// Ledger is the sequenced log in a Pebble database.
type Ledger struct {
	db     *pebble.DB
	idsDB  *pebble.DB
	log    *slog.Logger
	reqs   chan *appendReq
	last   atomic.Uint64
	done   chan struct{}
	mu     sync.Mutex
	change chan struct{}

	appended atomic.Uint64
	// recent holds the newest entries' values, so that consumers keeping up
	// with the ledger read them from memory rather than back from disk.
	recentMu sync.Mutex
	recent   [recentSize]recentEntry

	// filter and fatal are touched only by the appender goroutine (and New).
	filter *idFilter
	fatal  error
}

// recentSize is how many of the newest entries stay in memory (about
// 40 MB of events): more than an indexer keeping up lags behind.
const recentSize = 1 << 15

type recentEntry struct {
	seq uint64
	v   []byte
}

type appendReq struct {
	entries []Entry
	results []Result
	err     chan error
}

// New opens the ledger kept in db, with its dedupe index in idsDB (a
// database of its own, which may run without a write-ahead log). Call Run
// to start appending.
func New(db, idsDB *pebble.DB, log *slog.Logger) (*Ledger, error) {
	l := &Ledger{
		db:     db,
		idsDB:  idsDB,
		log:    log,
		reqs:   make(chan *appendReq, 1024),
		done:   make(chan struct{}),
		change: make(chan struct{}),
	}
	last, err := l.readLast()
	if err != nil {
		return nil, err
	}
	l.last.Store(last)
	if err := l.loadFilter(); err != nil {
		return nil, err
	}
	return l, nil
}

// idsCursor is the dedupe index's cursor in idsDB.
const idsCursor = "ids"

// loadFilter catches the dedupe index up with the log, then fills the
// in-memory filter with every key in it.
func (l *Ledger) loadFilter() error {
	cur, err := ReadCursor(l.idsDB, idsCursor)
	if err != nil {
		return err
	}
	for cur < l.last.Load() {
		b := l.idsDB.NewBatch()
		next, err := l.scanRaw(cur+1, 65536, func(seq uint64, v []byte) error {
			account, id, _, err := unframe(v)
			if err != nil {
				return fmt.Errorf("ledger entry %d: %w", seq, err)
			}
			return b.Set(dedupeKey(account, id), seqBytes(seq), nil)
		})
		if err == nil {
			err = SetCursor(b, idsCursor, next-1)
		}
		if err == nil {
			err = b.Commit(pebble.NoSync)
		}
		b.Close()
		if err != nil {
			return fmt.Errorf("catch up dedupe index: %w", err)
		}
		cur = next - 1
	}
	l.filter = newIDFilter(int(l.last.Load()) * 2)
	it, err := l.idsDB.NewIter(&pebble.IterOptions{
		LowerBound: []byte{store.PrefixDedupe},
		UpperBound: []byte{store.PrefixDedupe + 1},
	})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		l.filter.add(it.Key())
	}
	return it.Error()
}

func (l *Ledger) readLast() (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{store.PrefixLedger},
		UpperBound: []byte{store.PrefixLedger + 1},
	})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[1:]), nil
}

// Last returns the highest sequence number written so far (0: none).
func (l *Ledger) Last() uint64 { return l.last.Load() }

// Appended returns how many entries this process has appended (not
// counting duplicates); for metrics.
func (l *Ledger) Appended() uint64 { return l.appended.Load() }

// Changed returns a channel that is closed when Last next advances.
func (l *Ledger) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.change
}

// Append writes entries durably and returns one result per entry, in order.
// When it returns without error every entry is on disk.
func (l *Ledger) Append(ctx context.Context, entries []Entry) ([]Result, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	r := &appendReq{entries: entries, err: make(chan error, 1)}
	select {
	case l.reqs <- r:
	case <-l.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued the request is written whatever the caller's context
	// says, so wait for the outcome: an error here must mean "not written".
	// Run answers every request it takes before it closes done, so a
	// request still unanswered after done was never taken.
	var err error
	select {
	case err = <-r.err:
	case <-l.done:
		select {
		case err = <-r.err:
		default:
			err = ErrClosed
		}
	}
	if err != nil {
		return nil, err
	}
	return r.results, nil
}

// Run appends queued entries until ctx ends, then fails what is still
// queued. It returns early, with the error, if the ledger can no longer
// append safely.
func (l *Ledger) Run(ctx context.Context) error {
	defer func() {
		close(l.done)
		for {
			select {
			case r := <-l.reqs:
				r.err <- ErrClosed
			default:
				return
			}
		}
	}()
	group := make([]*appendReq, 0, 64)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-l.reqs:
			group = append(group[:0], r)
			n := len(r.entries)
		more:
			for n < maxGroup {
				select {
				case r := <-l.reqs:
					group = append(group, r)
					n += len(r.entries)
				default:
					break more
				}
			}
			err := l.commit(group)
			for _, r := range group {
				r.err <- err
			}
			if l.fatal != nil {
				return l.fatal
			}
		}
	}
}

func (l *Ledger) commit(group []*appendReq) error {
	b := l.db.NewBatch()
	defer b.Close()
	next := l.last.Load()
	seen := make(map[string]uint64)
	var val []byte
	var added []recentEntry
	for _, r := range group {
		r.results = make([]Result, len(r.entries))
		for i, e := range r.entries {
			dk := dedupeKey(e.Account, e.ID)
			if seq, ok := seen[string(dk)]; ok {
				r.results[i] = Result{Seq: seq, Duplicate: true}
				continue
			}
			if l.filter.mayContain(dk) {
				seq, ok, err := l.lookup(dk)
				if err != nil {
					return fmt.Errorf("dedupe lookup: %w", err)
				}
				if ok {
					r.results[i] = Result{Seq: seq, Duplicate: true}
					continue
				}
			}
			next++
			seen[string(dk)] = next
			val = frame(val[:0], e)
			if err := b.Set(seqKey(next), val, nil); err != nil {
				return err
			}
			r.results[i] = Result{Seq: next}
			added = append(added, recentEntry{next, e.Value})
		}
	}
	if len(seen) == 0 {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// The entries are durable: the dedupe index follows. Should this write
	// be lost to a crash, loadFilter redoes it from the log.
	ib := l.idsDB.NewBatch()
	defer ib.Close()
	for k, seq := range seen {
		if err := ib.Set([]byte(k), seqBytes(seq), nil); err != nil {
			return err
		}
		l.filter.add([]byte(k))
	}
	if err := SetCursor(ib, idsCursor, next); err != nil {
		return err
	}
	l.recentMu.Lock()
	for _, a := range added {
		l.recent[a.seq%recentSize] = a
	}
	l.recentMu.Unlock()
	l.last.Store(next)
	if err := ib.Commit(pebble.NoSync); err != nil {
		// The entries are durable, so they are acknowledged; but the
		// index may lack them, so stop appending rather than risk a
		// duplicate. A restart catches the index up.
		l.fatal = fmt.Errorf("dedupe index: %w", err)
	}
	l.appended.Add(uint64(len(seen)))
	l.mu.Lock()
	close(l.change)
	l.change = make(chan struct{})
	l.mu.Unlock()
	return nil
}

func (l *Ledger) lookup(dk []byte) (uint64, bool, error) {
	v, c, err := l.idsDB.Get(dk)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	return binary.BigEndian.Uint64(v), true, nil
}

// Lookup returns the sequence number of the entry with this dedupe key.
func (l *Ledger) Lookup(account, id string) (uint64, bool, error) {
	return l.lookup(dedupeKey(account, id))
}

// Get returns a copy of the entry with sequence number seq.
func (l *Ledger) Get(seq uint64) ([]byte, error) {
	v, c, err := l.db.Get(seqKey(seq))
	if err != nil {
		return nil, fmt.Errorf("get %d: %w", seq, err)
	}
	defer c.Close()
	_, _, payload, err := unframe(v)
	if err != nil {
		return nil, fmt.Errorf("get %d: %w", seq, err)
	}
	return append([]byte(nil), payload...), nil
}

// Scan calls fn for entries from sequence number from (inclusive), in order,
// at most limit of them, and returns the sequence number to continue from.
// The value passed to fn is only valid during the call.
func (l *Ledger) Scan(from uint64, limit int, fn func(seq uint64, value []byte) error) (uint64, error) {
	if hit := l.fromRecent(from, limit); len(hit) > 0 {
		for _, e := range hit {
			if err := fn(e.seq, e.v); err != nil {
				return e.seq, err
			}
		}
		return hit[len(hit)-1].seq + 1, nil
	}
	return l.scanRaw(from, limit, func(seq uint64, v []byte) error {
		_, _, payload, err := unframe(v)
		if err != nil {
			return fmt.Errorf("ledger entry %d: %w", seq, err)
		}
		return fn(seq, payload)
	})
}

// fromRecent returns entries from sequence number from on, at most limit,
// if the newest entries in memory still hold from; else nothing.
func (l *Ledger) fromRecent(from uint64, limit int) []recentEntry {
	last := l.last.Load()
	l.recentMu.Lock()
	defer l.recentMu.Unlock()
	var out []recentEntry
	for seq := from; seq <= last && len(out) < limit; seq++ {
		e := l.recent[seq%recentSize]
		if e.seq != seq {
			break
		}
		out = append(out, e)
	}
	return out
}

func (l *Ledger) scanRaw(from uint64, limit int, fn func(seq uint64, value []byte) error) (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: seqKey(from),
		UpperBound: []byte{store.PrefixLedger + 1},
	})
	if err != nil {
		return from, err
	}
	defer it.Close()
	next := from
	for ok := it.First(); ok && limit > 0; ok = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[1:])
		if err := fn(seq, it.Value()); err != nil {
			return next, err
		}
		next = seq + 1
		limit--
	}
	return next, it.Error()
}

// ReadCursor reads a consumer's cursor (0 when never set). A consumer keeps
// its cursor in its own database, written with SetCursor in the same batch
// as its output.
func ReadCursor(db *pebble.DB, name string) (uint64, error) {
	v, c, err := db.Get(cursorKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return binary.BigEndian.Uint64(v), nil
}

// SetCursor records the cursor in b, so that it commits with the consumer's output.
func SetCursor(b *pebble.Batch, name string, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return b.Set(cursorKey(name), v[:], nil)
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = store.PrefixLedger
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func dedupeKey(account, id string) []byte {
	k := make([]byte, 0, 2+len(account)+len(id))
	k = append(k, store.PrefixDedupe)
	k = append(k, account...)
	k = append(k, 0)
	return append(k, id...)
}

func cursorKey(name string) []byte {
	return append([]byte{store.PrefixCursor}, name...)
}

func seqBytes(seq uint64) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return v[:]
}

// ErrCorrupt is returned for a stored entry that cannot be read.
var ErrCorrupt = errors.New("corrupt ledger entry")

// frame stores an entry with its dedupe key, so that the dedupe index can
// be rebuilt from the log alone.
func frame(b []byte, e Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.Account)))
	b = append(b, e.Account...)
	b = binary.AppendUvarint(b, uint64(len(e.ID)))
	b = append(b, e.ID...)
	return append(b, e.Value...)
}

func unframe(v []byte) (account, id string, payload []byte, err error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return "", "", nil, ErrCorrupt
	}
	account, v = string(v[k:k+int(n)]), v[k+int(n):]
	n, k = binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return "", "", nil, ErrCorrupt
	}
	id, v = string(v[k:k+int(n)]), v[k+int(n):]
	return account, id, v, nil
}
