package history

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
)

// Query is one LookupEvents call, already validated for shape.
type Query struct {
	AccountID  string
	Region     string
	Attr       AttrKey // AttrAll: no attribute
	Value      string
	Start, End *time.Time // inclusive; nil: unbounded
	Insight    bool       // EventCategory=insight: insight events instead of management
	MaxResults int
	NextToken  string
}

// Page is one page of results, newest first.
type Page struct {
	Events    []*event.Envelope
	NextToken string // empty on the last page
}

// Errors a query can fail with.
var (
	ErrInvalidTimeRange = errors.New("invalid time range")
	ErrInvalidNextToken = errors.New("invalid next token")
)

// Searcher answers LookupEvents from the indexes and the ledger.
type Searcher struct {
	db        *pebble.DB
	ledger    *ledger.Ledger
	retention time.Duration
	now       func() time.Time
	openErr   error // from NewSearcher's format check

	// decoded counts the index entries decoded, which is what a page's cost
	// must stay proportional to.
	decoded atomic.Uint64
}

// NewSearcher returns a searcher over the indexes in db (see Indexer). An
// index of an older format is emptied first, so it is never misread.
func NewSearcher(db *pebble.DB, l *ledger.Ledger, retention time.Duration) *Searcher {
	_, err := ensureFormat(db)
	return &Searcher{db: db, ledger: l, retention: retention, now: time.Now, openErr: err}
}

// position is an event's place in Event history's order: newest second
// first, and within a second newest sequence number first.
type position struct {
	sec int64
	seq uint64
}

// Lookup runs a query.
//
// Events are ordered and filtered by the second their eventTime falls in:
// an event is in the window when the start of its second is. CloudTrail's
// eventTime has whole seconds, for which this is the exact time.
func (s *Searcher) Lookup(q Query) (Page, error) {
	if s.openErr != nil {
		return Page{}, s.openErr
	}
	if q.Start != nil && q.End != nil && q.Start.After(*q.End) {
		return Page{}, ErrInvalidTimeRange
	}
	if q.MaxResults <= 0 {
		q.MaxResults = 50
	}
	binding := q.binding()
	var after *position
	if q.NextToken != "" {
		pos, err := decodeToken(q.NextToken, binding)
		if err != nil {
			return Page{}, err
		}
		after = &pos
	}
	start := s.windowStart(q)
	if q.Attr == AttrEventID {
		return s.byEventID(q, start)
	}
	cat := event.Management
	if q.Insight {
		cat = event.Insight
	}
	prefix := indexKey(nil, cat, q.AccountID, q.Region, q.Attr, q.Value)
	newest, oldest := int64(math.MaxInt64), int64(math.MinInt64)
	if q.End != nil {
		newest = bucketOf(q.End.UnixNano())
	}
	if start != nil {
		oldest = ceilSecond(start.UnixNano())
	}
	if after != nil && after.sec < newest {
		newest = after.sec
	}
	if oldest > newest {
		return Page{}, nil
	}
	// The walk starts at the token's position, or at the window's newest
	// second, and ends after the window's oldest one.
	lower := append([]byte(nil), prefix...)
	skipFrom := uint64(0) // within the token's second, skip seq >= skipFrom
	switch {
	case after != nil && after.sec == newest:
		lower = appendBucket(lower, newest)
		if after.seq == 0 {
			lower = afterSecond(lower)
		} else {
			lower = appendChunkID(lower, after.seq-1)
			skipFrom = after.seq
		}
	case newest != math.MaxInt64:
		lower = appendBucket(lower, newest)
	}
	var upper []byte
	if oldest != math.MinInt64 {
		upper = afterSecond(appendBucket(append([]byte(nil), prefix...), oldest))
	} else {
		upper = append(append([]byte(nil), prefix[:len(prefix)-1]...), prefix[len(prefix)-1]+1)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return Page{}, err
	}
	defer it.Close()

	// Every chunk past the first is read only as far as the page needs, and
	// all it yields belongs to the page: the key bounds did the filtering.
	var hits []position
	for ok := it.First(); ok && len(hits) <= q.MaxResults; ok = it.Next() {
		k := it.Key()
		if len(k) != len(prefix)+16 {
			return Page{}, errCorruptIndex
		}
		sec := int64(^binary.BigEndian.Uint64(k[len(prefix):]) ^ (1 << 63))
		r := newChunkReader(it.Value())
		for len(hits) <= q.MaxResults {
			seq, ok := r.next()
			if !ok {
				break
			}
			s.decoded.Add(1)
			if skipFrom != 0 && sec == newest && seq >= skipFrom {
				continue
			}
			hits = append(hits, position{sec: sec, seq: seq})
		}
		if r.err != nil {
			return Page{}, r.err
		}
	}
	if err := it.Error(); err != nil {
		return Page{}, err
	}
	var page Page
	if len(hits) > q.MaxResults {
		hits = hits[:q.MaxResults]
		page.NextToken = encodeToken(binding, hits[len(hits)-1])
	}
	page.Events = make([]*event.Envelope, len(hits))
	seqs := make([]uint64, len(hits))
	for i, p := range hits {
		seqs[i] = p.seq
	}
	if err := s.fetch(seqs, page.Events); err != nil {
		return Page{}, err
	}
	return page, nil
}

// windowStart is the query's StartTime, moved up to the retention's start.
func (s *Searcher) windowStart(q Query) *time.Time {
	start := q.Start
	if s.retention > 0 {
		cut := s.now().Add(-s.retention)
		if start == nil || start.Before(cut) {
			start = &cut
		}
	}
	return start
}

// ceilSecond is the first second starting at or after ns.
func ceilSecond(ns int64) int64 {
	s := bucketOf(ns)
	if ns%1e9 != 0 {
		s++
	}
	return s
}

// afterSecond appends to a key ending in a second what sorts after every
// chunk of that second.
func afterSecond(b []byte) []byte {
	return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0)
}

// fetchers is how many reads of one page run at once: the records of a
// rare value lie far apart in the ledger, and each read is mostly a block
// to decompress, so they go faster side by side.
const fetchers = 4

// fetch reads the records with sequence numbers seqs into out.
func (s *Searcher) fetch(seqs []uint64, out []*event.Envelope) error {
	n := min(fetchers, len(seqs))
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(seqs); i += n {
				v, err := s.ledger.Get(seqs[i])
				if err != nil {
					errs[w] = err
					return
				}
				e := new(event.Envelope)
				if err := e.UnmarshalBinary(v); err != nil {
					errs[w] = fmt.Errorf("ledger entry %d: %w", seqs[i], err)
					return
				}
				out[i] = e
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Searcher) byEventID(q Query, start *time.Time) (Page, error) {
	seq, ok, err := s.ledger.Lookup(q.AccountID, q.Value)
	if err != nil || !ok {
		return Page{}, err
	}
	found := make([]*event.Envelope, 1)
	if err := s.fetch([]uint64{seq}, found); err != nil {
		return Page{}, err
	}
	e := found[0]
	want := event.Management
	if q.Insight {
		want = event.Insight
	}
	sec := bucketOf(e.EventTime.UnixNano())
	if e.Region != q.Region || e.Category != want ||
		(start != nil && sec < ceilSecond(start.UnixNano())) || (q.End != nil && sec > bucketOf(q.End.UnixNano())) {
		return Page{}, nil
	}
	return Page{Events: []*event.Envelope{e}}, nil
}

// binding is a digest of every parameter a NextToken must be reused with.
// MaxResults is left out: changing the page size between pages is harmless.
func (q Query) binding() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00%v\x00", q.AccountID, q.Region, q.Attr, q.Value, q.Insight)
	for _, t := range []*time.Time{q.Start, q.End} {
		if t == nil {
			h.Write([]byte("-\x00"))
		} else {
			fmt.Fprintf(h, "%d\x00", t.UnixNano())
		}
	}
	return h.Sum(nil)[:12]
}

// Token versions: 1 named (eventTime in nanoseconds, sequence number),
// from before events were ordered by the second; 2 names (second, sequence
// number). Both continue the same place for events of whole seconds.
const (
	tokenV1 = 1
	tokenV2 = 2
)

func encodeToken(binding []byte, pos position) string {
	b := make([]byte, 0, 1+len(binding)+16)
	b = append(b, tokenV2)
	b = append(b, binding...)
	b = binary.BigEndian.AppendUint64(b, uint64(pos.sec))
	b = binary.BigEndian.AppendUint64(b, pos.seq)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string, binding []byte) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 1+len(binding)+16 || (b[0] != tokenV1 && b[0] != tokenV2) {
		return position{}, ErrInvalidNextToken
	}
	if !bytes.Equal(b[1:1+len(binding)], binding) {
		return position{}, ErrInvalidNextToken
	}
	pos := b[1+len(binding):]
	p := position{sec: int64(binary.BigEndian.Uint64(pos[:8])), seq: binary.BigEndian.Uint64(pos[8:])}
	if b[0] == tokenV1 {
		p.sec = bucketOf(p.sec)
	}
	return p, nil
}
