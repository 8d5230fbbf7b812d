package history

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/synth"
)

// benchEvents is how many events each benchmark stores.
const benchEvents = 300_000

// BenchmarkLookupPage measures one LookupEvents page of 50, walking the
// pages of a query one after the other, over 300k events of one account:
// all within one second ("one-second"), or spread over two days
// ("spread"). A page's cost must not grow with the events of a second.
func BenchmarkLookupPage(b *testing.B) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		at   func(rng *rand.Rand) time.Time
	}{
		{"one-second", func(*rand.Rand) time.Time { return now.Add(-time.Hour) }},
		{"spread", func(rng *rand.Rand) time.Time {
			return now.Add(-time.Duration(rng.Int63n(int64(48 * time.Hour)))).Truncate(time.Second)
		}},
	} {
		rng := rand.New(rand.NewSource(1))
		events := make([]*event.Envelope, benchEvents)
		for i := range events {
			events[i] = &event.Envelope{
				EventID:     fmt.Sprintf("id-%07d", i),
				EventTime:   c.at(rng),
				EventName:   []string{"RunInstances", "DescribeInstances", "ConsoleLogin", "GetObject"}[rng.Intn(4)],
				EventSource: "ec2.amazonaws.com",
				AccountID:   "111111111111",
				Region:      "us-east-1",
				Category:    event.Management,
				Username:    fmt.Sprintf("user%d", rng.Intn(5)),
				Raw:         []byte(`{}`),
			}
		}
		f := newFixtureOf(b, events, 0, now, func() int { return scanBatch })
		for _, a := range []struct {
			name  string
			attr  AttrKey
			value string
		}{{"all", AttrAll, ""}, {"EventName", AttrEventName, "ConsoleLogin"}} {
			b.Run(c.name+"/"+a.name, func(b *testing.B) {
				q := Query{AccountID: "111111111111", Region: "us-east-1", Attr: a.attr, Value: a.value, MaxResults: 50}
				before := f.search.decoded.Load()
				for b.Loop() {
					page, err := f.search.Lookup(q)
					if err != nil {
						b.Fatal(err)
					}
					q.NextToken = page.NextToken
				}
				b.ReportMetric(float64(f.search.decoded.Load()-before)/float64(b.N), "decoded/page")
			})
		}
	}
}

// BenchmarkIndex measures the indexer on synthetic events arriving at
// 50,000 a second of eventTime (as `cairn bench ingest` sends them), one
// op being one scan of scanBatch ledger entries; keys/op is how many
// index keys the scan writes.
func BenchmarkIndex(b *testing.B) {
	g := synth.New(synth.Options{Seed: 1, Accounts: []string{"111111111111", "222222222222", "333333333333"},
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: 20 * time.Microsecond})
	events := make([]*event.Envelope, 4*scanBatch)
	var raw []byte
	for i := range events {
		raw = g.Next(raw[:0])
		e, err := event.Parse(append([]byte(nil), raw...), event.Defaults{})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = e
	}
	f := newFixtureOf(b, events, 0, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), func() int { return scanBatch })
	keys := func() int {
		it, err := f.indexer.db.NewIter(&pebble.IterOptions{LowerBound: []byte{0}, UpperBound: []byte{0xff}})
		if err != nil {
			b.Fatal(err)
		}
		defer it.Close()
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			if it.Key()[0] != store.PrefixCursor {
				n++
			}
		}
		return n
	}
	from := uint64(1)
	for b.Loop() {
		next, err := f.indexer.indexFrom(from, scanBatch)
		if err != nil {
			b.Fatal(err)
		}
		if from = next; from > f.ledger.Last() {
			from = 1
		}
	}
	b.ReportMetric(float64(keys())/float64(len(events)/scanBatch), "keys/op")
}
