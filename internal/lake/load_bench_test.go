package lake

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkNeighbourLoad times a small query of tenant B (SELECT count(*)
// over its store of 20,000 events, from StartQuery to the query's end)
// while B is alone, and while tenant A keeps 9 heavy queries going: each
// a cross join of A's own 20,000 events, 400 million pairs, each hashed.
// It reports B's median and 90th percentile in milliseconds.
//
// "own-database" is cairn's layout: a database per account, each with
// its share of the cores. "one-database" puts B's store beside A's in one
// database with every core and no limit of running queries, as a single
// database shared by every account was.
//
//	go test -run '^$' -bench NeighbourLoad -benchtime 100x ./internal/lake
func BenchmarkNeighbourLoad(b *testing.B) {
	own := newLoad(b, DefaultDBOptions(), tenantAccount, victimAccount)
	b.Run("own-database/idle", own.timeSmall)
	b.Run("own-database/neighbour-busy", func(b *testing.B) { own.busy(b, own.timeSmall) })

	shared := DefaultDBOptions()
	shared.Threads, shared.RunningQueries = runtime.NumCPU(), MaxConcurrentQueries
	one := newLoad(b, shared, tenantAccount, tenantAccount)
	b.Run("one-database/idle", one.timeSmall)
	b.Run("one-database/neighbour-busy", func(b *testing.B) { one.busy(b, one.timeSmall) })
}

// loadFixture is a Lake with a store of 20,000 events for the heavy
// queries and one for the small query.
type loadFixture struct {
	*lakeFixture
	heavyAccount, smallAccount string
	heavy, small               string // the queries
}

func newLoad(b *testing.B, o DBOptions, heavyAccount, smallAccount string) *loadFixture {
	x := newLake(b)
	x.dbs.opts = o
	ctx := context.Background()
	store := func(account, name string) string {
		out, code := x.call(account, "us-east-1", "CreateEventDataStore", map[string]any{"Name": name})
		if code != "" {
			b.Fatal(code)
		}
		id, _, _, _ := ParseRef(out["EventDataStoreArn"].(string))
		db, err := x.dbs.For(ctx, account)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Ensure(ctx, TableOf(id)); err != nil {
			b.Fatal(err)
		}
		when := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		recs := make([]json.RawMessage, 20000)
		for i := range recs {
			recs[i] = json.RawMessage(x.record(account, "us-east-1", "s3.amazonaws.com", "GetObject", true, "", when.Add(time.Duration(i)*time.Second)))
		}
		if err := db.Append(ctx, TableOf(id), recs); err != nil {
			b.Fatal(err)
		}
		return id
	}
	h, s := store(heavyAccount, "heavy"), store(smallAccount, "small")
	return &loadFixture{lakeFixture: x, heavyAccount: heavyAccount, smallAccount: smallAccount,
		heavy: "SELECT count(*) FROM " + h + " a CROSS JOIN " + h + " b WHERE hash(a.eventid, b.eventid) % 7 = 0",
		small: "SELECT count(*) FROM " + s}
}

// timeSmall runs the small query b.N times and reports its percentiles.
func (x *loadFixture) timeSmall(b *testing.B) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		r, code := x.startAs(x.smallAccount, x.small)
		if code != "" {
			b.Fatal(code)
		}
		<-r.done
		took = append(took, time.Since(start))
		if st := r.state(); st != QueryFinished {
			b.Fatalf("the small query: %s", st)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*9/10].Microseconds())/1000, "p90-ms")
}

// busy runs measure while the heavy account keeps 9 heavy queries
// queued or running: with the small query, as many as Lake lets one
// account run at once.
func (x *loadFixture) busy(b *testing.B, measure func(*testing.B)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var started []*query
	var mu sync.Mutex
	for range MaxConcurrentQueries - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r, code := x.startAs(x.heavyAccount, x.heavy)
				if code != "" {
					b.Error(code)
					return
				}
				mu.Lock()
				started = append(started, r)
				mu.Unlock()
				select {
				case <-stop:
					x.call(x.heavyAccount, "us-east-1", "CancelQuery", map[string]any{"QueryId": r.ID})
					<-r.done
					return
				case <-r.done:
				}
			}
		}()
	}
	for running := false; !running; time.Sleep(time.Millisecond) {
		mu.Lock()
		for _, r := range started {
			running = running || r.state() == QueryRunning
		}
		mu.Unlock()
	}
	measure(b)
	close(stop)
	wg.Wait()
}
