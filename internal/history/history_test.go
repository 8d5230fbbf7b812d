package history

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/store"
)

type fixture struct {
	ledger  *ledger.Ledger
	indexer *Indexer
	search  *Searcher
	events  []*event.Envelope
	seqs    []uint64
	batch   func() int // the size of the next index batch
}

// newFixture stores n random envelopes over a few accounts, regions,
// names and users, with many events sharing a second, and indexes them.
func newFixture(t testing.TB, n int, retention time.Duration, now time.Time) *fixture {
	t.Helper()
	rng := rand.New(rand.NewSource(42))
	base := now.Add(-48 * time.Hour)
	events := make([]*event.Envelope, n)
	for i := range events {
		e := &event.Envelope{
			EventID:     fmt.Sprintf("id-%05d", i),
			EventTime:   base.Add(time.Duration(rng.Intn(48*3600)) * time.Second / 20 * 20), // clustered seconds
			EventName:   []string{"RunInstances", "DescribeInstances", "ConsoleLogin", "GetObject"}[rng.Intn(4)],
			EventSource: []string{"ec2.amazonaws.com", "signin.amazonaws.com"}[rng.Intn(2)],
			AccountID:   []string{"111111111111", "222222222222"}[rng.Intn(2)],
			Region:      []string{"us-east-1", "eu-west-1"}[rng.Intn(2)],
			ReadOnly:    rng.Intn(2) == 0,
			Category:    []event.Category{event.Management, event.Management, event.Management, event.Data, event.Insight}[rng.Intn(5)],
			Username:    fmt.Sprintf("user%d", rng.Intn(5)),
			AccessKeyID: fmt.Sprintf("AKIA%d", rng.Intn(7)),
			Raw:         []byte(`{}`),
		}
		if rng.Intn(4) == 0 {
			// Records from outside AWS may carry fractions of a second.
			e.EventTime = e.EventTime.Add(time.Duration(rng.Int63n(int64(time.Second))))
		}
		if rng.Intn(3) == 0 {
			e.Resources = []event.Resource{{Type: "AWS::EC2::Instance", Name: fmt.Sprintf("i-%d", rng.Intn(9))}, {Type: "AWS::EC2::Instance", Name: "i-shared\x00x"}}
		}
		events[i] = e
	}
	// Index in uneven batches, as a live indexer would.
	return newFixtureOf(t, events, retention, now, func() int { return 1 + rng.Intn(700) })
}

// newFixtureOf appends events to a new ledger and indexes them in batches
// whose sizes batch draws.
func newFixtureOf(t testing.TB, events []*event.Envelope, retention time.Duration, now time.Time, batch func() int) *fixture {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ldb, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hdb, err := store.Open(t.TempDir(), store.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hdb.Close(); ldb.Close() })
	ids, err := store.Open(t.TempDir(), store.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ids.Close() })
	l, err := ledger.New(ldb, ids, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	f := &fixture{ledger: l, batch: batch}
	f.indexer = NewIndexer(hdb, l, retention, quiet)
	f.indexer.now = func() time.Time { return now }
	f.search = NewSearcher(hdb, l, retention)
	f.search.now = func() time.Time { return now }
	f.appendAndIndex(t, events)
	return f
}

// appendAndIndex appends events to the fixture's ledger and indexes them.
func (f *fixture) appendAndIndex(t testing.TB, events []*event.Envelope) {
	t.Helper()
	const appendBatch = 8192
	for i := 0; i < len(events); i += appendBatch {
		var entries []ledger.Entry
		for _, e := range events[i:min(i+appendBatch, len(events))] {
			v, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, ledger.Entry{Account: e.AccountID, ID: e.EventID, Value: v})
		}
		res, err := f.ledger.Append(context.Background(), entries)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			f.seqs = append(f.seqs, r.Seq)
		}
	}
	f.events = append(f.events, events...)
	cur, err := f.indexer.Position()
	if err != nil {
		t.Fatal(err)
	}
	for cur++; cur <= f.ledger.Last(); {
		next, err := f.indexer.indexFrom(cur, f.batch())
		if err != nil {
			t.Fatal(err)
		}
		cur = next
	}
}

// want is the brute-force answer: matching events, newest second first,
// newest recorded first within a second; an event's time is its second's.
func (f *fixture) want(q Query, cutoff time.Time) []string {
	type hit struct {
		id  string
		sec time.Time
		seq uint64
	}
	var hits []hit
	for i, e := range f.events {
		cat := event.Management
		if q.Insight {
			cat = event.Insight
		}
		if e.AccountID != q.AccountID || e.Region != q.Region || e.Category != cat {
			continue
		}
		sec := e.EventTime.Truncate(time.Second)
		if q.Start != nil && sec.Before(*q.Start) || q.End != nil && sec.After(*q.End) || sec.Before(cutoff) {
			continue
		}
		if !matches(e, q.Attr, q.Value) {
			continue
		}
		hits = append(hits, hit{e.EventID, sec, f.seqs[i]})
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].sec.Equal(hits[j].sec) {
			return hits[i].sec.After(hits[j].sec)
		}
		return hits[i].seq > hits[j].seq
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out
}

func matches(e *event.Envelope, a AttrKey, v string) bool {
	switch a {
	case AttrAll:
		return true
	case AttrEventID:
		return e.EventID == v
	case AttrEventName:
		return e.EventName == v
	case AttrEventSource:
		return e.EventSource == v
	case AttrReadOnly:
		return fmt.Sprint(e.ReadOnly) == v
	case AttrUsername:
		return e.Username == v
	case AttrAccessKeyID:
		return e.AccessKeyID == v
	case AttrResourceType, AttrResourceName:
		for _, r := range e.Resources {
			if a == AttrResourceType && r.Type == v || a == AttrResourceName && r.Name == v {
				return true
			}
		}
	}
	return false
}

// all walks every page of q.
func (f *fixture) all(t *testing.T, q Query) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		page, err := f.search.Lookup(q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if len(page.Events) > q.MaxResults {
			t.Fatalf("page of %d, max %d", len(page.Events), q.MaxResults)
		}
		for _, e := range page.Events {
			ids = append(ids, e.EventID)
		}
		if page.NextToken == "" {
			return ids
		}
		if len(page.Events) == 0 {
			t.Fatalf("empty page with a NextToken")
		}
		q.NextToken = page.NextToken
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestLookupMatchesBruteForce(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, 3000, 0, now)
	rng := rand.New(rand.NewSource(7))
	values := map[AttrKey][]string{
		AttrAll:          {""},
		AttrEventName:    {"RunInstances", "ConsoleLogin", "Nope"},
		AttrEventSource:  {"ec2.amazonaws.com"},
		AttrReadOnly:     {"true", "false"},
		AttrUsername:     {"user0", "user4"},
		AttrAccessKeyID:  {"AKIA3"},
		AttrResourceType: {"AWS::EC2::Instance"},
		AttrResourceName: {"i-3", "i-shared\x00x"},
		AttrEventID:      {"id-00042", "id-02999"},
	}
	for a, vs := range values {
		for _, v := range vs {
			for _, acct := range []string{"111111111111", "222222222222"} {
				for _, insight := range []bool{false, true} {
					if insight && a != AttrAll && a != AttrEventID && a != AttrEventName && a != AttrEventSource {
						continue // LookupEvents refuses these for Insights events
					}
					for w := range 3 {
						q := Query{AccountID: acct, Region: "us-east-1", Attr: a, Value: v, Insight: insight, MaxResults: 1 + rng.Intn(50)}
						if w > 0 {
							s := now.Add(-time.Duration(rng.Intn(48)) * time.Hour)
							e := s.Add(time.Duration(rng.Intn(20)) * time.Hour)
							if w == 2 {
								e = s // a single instant: both bounds inclusive
								s = f.events[rng.Intn(len(f.events))].EventTime
								e = s
							}
							q.Start, q.End = &s, &e
						}
						got, want := f.all(t, q), f.want(q, time.Time{})
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("attr %d=%q acct %s insight %v window %d max %d:\n got %d %v\nwant %d %v", a, v, acct, insight, w, q.MaxResults, len(got), head(got), len(want), head(want))
						}
					}
				}
			}
		}
	}
}

func head(s []string) []string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func TestNextTokenIsBoundToItsQuery(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, 500, 0, now)
	q := Query{AccountID: "111111111111", Region: "us-east-1", MaxResults: 5}
	page, err := f.search.Lookup(q)
	if err != nil || page.NextToken == "" {
		t.Fatalf("first page: %v %q", err, page.NextToken)
	}
	for name, change := range map[string]func(*Query){
		"attribute": func(q *Query) { q.Attr, q.Value = AttrEventName, "RunInstances" },
		"account":   func(q *Query) { q.AccountID = "222222222222" },
		"region":    func(q *Query) { q.Region = "eu-west-1" },
		"start":     func(q *Query) { s := now.Add(-time.Hour); q.Start = &s },
		"category":  func(q *Query) { q.Insight = true },
		"garbage":   func(q *Query) { q.NextToken = "not-a-token" },
	} {
		q2 := q
		q2.NextToken = page.NextToken
		change(&q2)
		if _, err := f.search.Lookup(q2); err != ErrInvalidNextToken {
			t.Errorf("%s changed: err = %v, want ErrInvalidNextToken", name, err)
		}
	}
	q2 := q
	q2.NextToken, q2.MaxResults = page.NextToken, 50
	if _, err := f.search.Lookup(q2); err != nil {
		t.Errorf("changing only MaxResults: %v", err)
	}
}

func TestRetentionHidesAndPrunesOldEvents(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, 2000, 24*time.Hour, now)
	q := Query{AccountID: "111111111111", Region: "eu-west-1", MaxResults: 50}
	cut := now.Add(-24 * time.Hour)
	got, want := f.all(t, q), f.want(q, cut)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
		t.Fatalf("before prune: got %d, want %d", len(got), len(want))
	}
	// A day later, the pruner removes what fell out of the window.
	later := now.Add(12 * time.Hour)
	f.indexer.now = func() time.Time { return later }
	f.search.now = func() time.Time { return later }
	n, err := f.indexer.pruneBefore(later.Add(-24 * time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("prune: %d keys, %v", n, err)
	}
	got, want = f.all(t, q), f.want(q, later.Add(-24*time.Hour))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after prune: got %d, want %d", len(got), len(want))
	}
}

func TestChunkRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for range 200 {
		seqs := make([]uint64, 1+rng.Intn(chunkSize))
		next := 1 + uint64(rng.Int63n(1<<40))
		for i := range seqs {
			seqs[i] = next
			next += 1 + uint64(rng.Intn(3000))
		}
		r := newChunkReader(encodeChunk(nil, seqs))
		for i := len(seqs) - 1; i >= 0; i-- {
			got, ok := r.next()
			if !ok || got != seqs[i] {
				t.Fatalf("entry %d: got %d %v, want %d (err %v)", i, got, ok, seqs[i], r.err)
			}
		}
		if _, ok := r.next(); ok || r.err != nil {
			t.Fatalf("past the end: %v %v", ok, r.err)
		}
	}
	for name, v := range map[string][]byte{
		"empty":       {},
		"no entries":  {0},
		"truncated":   {5, 1},
		"zero seq":    {1, 0},
		"zero step":   {2, 9, 0},
		"step past 1": {2, 9, 9},
		"huge count":  {0xff, 0xff, 0xff, 0xff, 0x0f, 1},
	} {
		r := newChunkReader(v)
		for {
			if _, ok := r.next(); !ok {
				break
			}
		}
		if r.err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestBucketOf(t *testing.T) {
	for _, c := range []struct{ ns, sec int64 }{{0, 0}, {999_999_999, 0}, {1e9, 1}, {-1, -1}, {-1e9, -1}, {-1e9 - 1, -2}} {
		if got := bucketOf(c.ns); got != c.sec {
			t.Errorf("bucketOf(%d) = %d, want %d", c.ns, got, c.sec)
		}
	}
}
