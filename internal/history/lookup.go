package history

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
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
}

// NewSearcher returns a searcher over the indexes in db (see Indexer).
func NewSearcher(db *pebble.DB, l *ledger.Ledger, retention time.Duration) *Searcher {
	return &Searcher{db: db, ledger: l, retention: retention, now: time.Now}
}

// Lookup runs a query.
func (s *Searcher) Lookup(q Query) (Page, error) {
	if q.Start != nil && q.End != nil && q.Start.After(*q.End) {
		return Page{}, ErrInvalidTimeRange
	}
	if q.MaxResults <= 0 {
		q.MaxResults = 50
	}
	binding := q.binding()
	var after []byte
	if q.NextToken != "" {
		pos, err := decodeToken(q.NextToken, binding)
		if err != nil {
			return Page{}, err
		}
		after = pos
	}
	start := q.Start
	if s.retention > 0 {
		cut := s.now().Add(-s.retention)
		if start == nil || start.Before(cut) {
			start = &cut
		}
	}
	if q.Attr == AttrEventID {
		return s.byEventID(q, start)
	}
	cat := event.Management
	if q.Insight {
		cat = event.Insight
	}
	var afterPos *posting
	if after != nil {
		p := posting{t: int64(binary.BigEndian.Uint64(after[:8])), seq: binary.BigEndian.Uint64(after[8:])}
		afterPos = &p
	}
	prefix := indexKey(nil, cat, q.AccountID, q.Region, q.Attr, q.Value)
	lower := append([]byte(nil), prefix...)
	newest := int64(1<<63 - 1)
	if q.End != nil {
		newest = q.End.UnixNano()
	}
	if afterPos != nil && afterPos.t < newest {
		newest = afterPos.t
	}
	if newest != 1<<63-1 {
		lower = appendBucket(lower, bucketOf(newest))
	}
	var upper []byte
	oldest := int64(-1 << 63)
	if start != nil {
		oldest = start.UnixNano()
		upper = appendBucket(append([]byte(nil), prefix...), bucketOf(oldest))
		upper = append(upper, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0)
	} else {
		upper = append(append([]byte(nil), prefix[:len(prefix)-1]...), prefix[len(prefix)-1]+1)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return Page{}, err
	}
	defer it.Close()

	// Walk second by second; within a second, merge the posting lists of
	// every batch and order them.
	var page Page
	var hits []posting
	var bucket []posting
	var curSec []byte
	// newest already holds EndTime and the token's position, whichever
	// comes first.
	flush := func() {
		sort.Slice(bucket, func(i, j int) bool { return bucket[i].newer(bucket[j]) })
		for _, p := range bucket {
			if p.t > newest || p.t < oldest {
				continue
			}
			if afterPos != nil && !afterPos.newer(p) {
				continue
			}
			hits = append(hits, p)
		}
		bucket = bucket[:0]
	}
	for ok := it.First(); ok && len(hits) <= q.MaxResults; ok = it.Next() {
		k := it.Key()
		sec := k[len(prefix) : len(prefix)+8]
		if curSec != nil && !bytes.Equal(sec, curSec) {
			flush()
		}
		curSec = append(curSec[:0], sec...)
		if bucket, err = decodePostings(bucket, it.Value()); err != nil {
			return Page{}, err
		}
	}
	if err := it.Error(); err != nil {
		return Page{}, err
	}
	if len(hits) <= q.MaxResults {
		flush()
	}
	if len(hits) > q.MaxResults {
		last := hits[q.MaxResults-1]
		var pos [16]byte
		binary.BigEndian.PutUint64(pos[:8], uint64(last.t))
		binary.BigEndian.PutUint64(pos[8:], last.seq)
		page.NextToken = encodeToken(binding, pos[:])
		hits = hits[:q.MaxResults]
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
	if e.Region != q.Region || e.Category != want ||
		(start != nil && e.EventTime.Before(*start)) || (q.End != nil && e.EventTime.After(*q.End)) {
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

const tokenVersion = 1

func encodeToken(binding, pos []byte) string {
	b := make([]byte, 0, 1+len(binding)+len(pos))
	b = append(b, tokenVersion)
	b = append(b, binding...)
	b = append(b, pos...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string, binding []byte) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 1+len(binding)+16 || b[0] != tokenVersion {
		return nil, ErrInvalidNextToken
	}
	if !bytes.Equal(b[1:1+len(binding)], binding) {
		return nil, ErrInvalidNextToken
	}
	return b[1+len(binding):], nil
}
