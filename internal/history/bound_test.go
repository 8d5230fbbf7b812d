package history

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
)

// hotSecond is the second most of hotEvents fall in.
var hotSecond = time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)

// hotEvents returns n events of one account, nine in ten within hotSecond
// (at every fraction of it), the rest in the seconds around it.
func hotEvents(rng *rand.Rand, n int) []*event.Envelope {
	events := make([]*event.Envelope, n)
	for i := range events {
		at := hotSecond.Add(time.Duration(rng.Int63n(int64(time.Second))))
		if rng.Intn(10) == 0 {
			at = at.Add(time.Duration(rng.Intn(5)-2) * time.Second)
		}
		events[i] = &event.Envelope{
			EventID:     fmt.Sprintf("hot-%06d", i),
			EventTime:   at,
			EventName:   []string{"RunInstances", "ConsoleLogin"}[rng.Intn(2)],
			EventSource: "ec2.amazonaws.com",
			AccountID:   "111111111111",
			Region:      "us-east-1",
			Category:    event.Management,
			Raw:         []byte(`{}`),
		}
	}
	return events
}

// hotFixture indexes hotEvents in batches of every size, from one event at
// a time (a tenant sending events one by one) to whole scans.
func hotFixture(t testing.TB, n int) *fixture {
	rng := rand.New(rand.NewSource(3))
	now := hotSecond.Add(time.Hour)
	return newFixtureOf(t, hotEvents(rng, n), 0, now, func() int {
		switch rng.Intn(3) {
		case 0:
			return 1
		case 1:
			return 1 + rng.Intn(200)
		}
		return scanBatch
	})
}

// pageBound is the most index entries a page of max events may decode:
// the page, one more to know whether a next page exists, and the part of
// the first chunk newer than the token's position.
func pageBound(max int) uint64 { return uint64(max + chunkSize) }

// TestPageWorkDoesNotGrowWithEventsPerSecond walks every page of queries
// over 20,000 events of one second, with windows that start and end within
// it: no page may decode more than pageBound entries, and the pages
// together must be exactly the matching events in order.
func TestPageWorkDoesNotGrowWithEventsPerSecond(t *testing.T) {
	f := hotFixture(t, 20000)
	mid := hotSecond.Add(400 * time.Millisecond)
	after := hotSecond.Add(2*time.Second + time.Millisecond)
	for _, c := range []struct {
		attr       AttrKey
		value      string
		start, end *time.Time
	}{
		{attr: AttrAll},
		{attr: AttrEventName, value: "ConsoleLogin"},
		{attr: AttrAll, end: &mid},
		{attr: AttrAll, start: &mid, end: &after},
		{attr: AttrEventName, value: "RunInstances", start: &hotSecond, end: &hotSecond},
	} {
		for _, max := range []int{1, 7, 50} {
			q := Query{AccountID: "111111111111", Region: "us-east-1", Attr: c.attr, Value: c.value, Start: c.start, End: c.end, MaxResults: max}
			var got []string
			for {
				before := f.search.decoded.Load()
				page, err := f.search.Lookup(q)
				if err != nil {
					t.Fatal(err)
				}
				if n := f.search.decoded.Load() - before; n > pageBound(max) {
					t.Fatalf("%+v: a page decoded %d index entries, bound %d", q, n, pageBound(max))
				}
				for _, e := range page.Events {
					got = append(got, e.EventID)
				}
				if page.NextToken == "" {
					break
				}
				q.NextToken = page.NextToken
			}
			q.NextToken = ""
			if want := f.want(q, time.Time{}); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%+v: got %d events %v, want %d %v", q, len(got), head(got), len(want), head(want))
			}
		}
	}
}

// TestForgedTokenWorkIsBounded: a NextToken is the caller's to write, so
// any position it names, inside a busy second or not, costs one page.
func TestForgedTokenWorkIsBounded(t *testing.T) {
	f := hotFixture(t, 5000)
	q := Query{AccountID: "111111111111", Region: "us-east-1", MaxResults: 5}
	sec := hotSecond.Unix()
	rng := rand.New(rand.NewSource(9))
	for _, pos := range []position{
		{sec, 0}, {sec, 1}, {sec, 2}, {sec, 2500}, {sec, 4999}, {sec, 5000}, {sec, 5001}, {sec, 1<<64 - 1},
		{sec + 1, 0}, {sec - 1, 1 << 63}, {1<<63 - 1, 0}, {-1 << 63, 1<<64 - 1}, {-1 << 63, 0},
		{sec, uint64(rng.Intn(5000))}, {sec, uint64(rng.Intn(5000))},
	} {
		q.NextToken = encodeToken(q.binding(), pos)
		before := f.search.decoded.Load()
		page, err := f.search.Lookup(q)
		if err != nil {
			t.Fatalf("%+v: %v", pos, err)
		}
		if n := f.search.decoded.Load() - before; n > pageBound(q.MaxResults) {
			t.Errorf("%+v: decoded %d index entries, bound %d", pos, n, pageBound(q.MaxResults))
		}
		if len(page.Events) > q.MaxResults {
			t.Errorf("%+v: %d events", pos, len(page.Events))
		}
	}
}

// TestNewEventsNeverShiftPages: events recorded between two pages, in the
// second the first page ended in and around it, neither repeat nor hide an
// event: the walk goes on exactly where the first page ended.
func TestNewEventsNeverShiftPages(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	events := hotEvents(rng, 3000)
	f := newFixtureOf(t, events, 0, hotSecond.Add(time.Hour), func() int { return 1 + rng.Intn(300) })
	q := Query{AccountID: "111111111111", Region: "us-east-1", MaxResults: 50}
	page, err := f.search.Lookup(q)
	if err != nil {
		t.Fatal(err)
	}
	first := ids(page.Events)
	if want := f.want(q, time.Time{})[:50]; fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("first page %v, want %v", head(first), head(want))
	}
	var got []string
	more := hotEvents(rand.New(rand.NewSource(5)), 500)
	for i, e := range more {
		e.EventID = fmt.Sprintf("new-%06d", i)
	}
	f.appendAndIndex(t, more)
	for page.NextToken != "" {
		q.NextToken = page.NextToken
		if page, err = f.search.Lookup(q); err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page.Events)...)
	}
	all := f.want(q, time.Time{})
	want := all[slices.Index(all, first[len(first)-1])+1:]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d events %v, want %d %v", len(got), head(got), len(want), head(want))
	}
}

func ids(es []*event.Envelope) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EventID
	}
	return out
}

// TestIndexOfAnOlderFormatIsRebuilt: an index written by an earlier
// release is never read as the current format; it is emptied at open and
// rebuilt from the ledger.
func TestIndexOfAnOlderFormatIsRebuilt(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, 500, 0, now)
	q := Query{AccountID: "111111111111", Region: "us-east-1", MaxResults: 50}
	want := f.want(q, time.Time{})
	// What format 1 left: posting lists of (eventTime, seq) pairs under
	// keys that end in a batch, and no format key.
	db := f.indexer.db
	old := appendChunkID(appendBucket(indexKey(nil, event.Management, q.AccountID, q.Region, AttrAll, ""), now.Unix()), ^uint64(1))
	if err := db.Set(old, []byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 7}, pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(formatKey, pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	x := NewIndexer(db, f.ledger, 0, f.indexer.log)
	if pos, err := x.Position(); err != nil || pos != 0 {
		t.Fatalf("after opening an old index: position %d, %v; want 0", pos, err)
	}
	s := NewSearcher(db, f.ledger, 0)
	if page, err := s.Lookup(q); err != nil || len(page.Events) != 0 {
		t.Fatalf("before the rebuild: %d events, %v; want none", len(page.Events), err)
	}
	for cur := uint64(1); cur <= f.ledger.Last(); {
		next, err := x.indexFrom(cur, 77)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
	}
	f.search = s
	if got := f.all(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rebuild: got %d, want %d", len(got), len(want))
	}
}

// TestVersion1TokensContinue: a NextToken issued before the upgrade names
// (eventTime, seq); for whole seconds it continues the same walk.
func TestVersion1TokensContinue(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, 800, 0, now)
	q := Query{AccountID: "222222222222", Region: "us-east-1", MaxResults: 10}
	want := f.want(q, time.Time{})
	for i := 15; i < len(want); i += 40 {
		k := indexOf(f.events, want[i-1])
		e := f.events[k]
		if e.EventTime.Nanosecond() != 0 {
			continue
		}
		var b []byte
		b = append(b, tokenV1)
		b = append(b, q.binding()...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.EventTime.UnixNano()))
		b = binary.BigEndian.AppendUint64(b, f.seqs[k])
		q.NextToken = base64.RawURLEncoding.EncodeToString(b)
		page, err := f.search.Lookup(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page.Events); fmt.Sprint(got) != fmt.Sprint(want[i:min(i+10, len(want))]) {
			t.Fatalf("after %s: got %v, want %v", want[i-1], got, want[i:min(i+10, len(want))])
		}
	}
}

func indexOf(es []*event.Envelope, id string) int {
	for i, e := range es {
		if e.EventID == id {
			return i
		}
	}
	panic(id)
}

// FuzzNextToken: whatever a caller puts in a NextToken, LookupEvents
// answers one page, at bounded cost, or InvalidNextToken.
func FuzzNextToken(f *testing.F) {
	fx := hotFixture(f, 2000)
	q := Query{AccountID: "111111111111", Region: "us-east-1", MaxResults: 3}
	sec := hotSecond.Unix()
	f.Add("", byte(tokenV2), sec, uint64(1000), false)
	f.Add("", byte(tokenV1), hotSecond.UnixNano(), uint64(0), false)
	f.Add("", byte(tokenV2), int64(-1<<63), uint64(1<<64-1), true)
	f.Add("AQ", byte(3), sec, uint64(5), false)
	f.Fuzz(func(t *testing.T, raw string, version byte, s int64, seq uint64, useRaw bool) {
		q := q
		if useRaw {
			q.NextToken = raw
		} else {
			b := append([]byte{version}, q.binding()...)
			b = binary.BigEndian.AppendUint64(b, uint64(s))
			b = binary.BigEndian.AppendUint64(b, seq)
			q.NextToken = base64.RawURLEncoding.EncodeToString(b)
		}
		before := fx.search.decoded.Load()
		page, err := fx.search.Lookup(q)
		if err != nil && err != ErrInvalidNextToken {
			t.Fatal(err)
		}
		if len(page.Events) > q.MaxResults {
			t.Fatalf("%d events", len(page.Events))
		}
		if n := fx.search.decoded.Load() - before; n > pageBound(q.MaxResults) {
			t.Fatalf("decoded %d index entries", n)
		}
	})
}
