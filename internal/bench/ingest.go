package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/synth"
)

// IngestOptions shape an ingest run.
type IngestOptions struct {
	Events   int           // total records to send
	Batch    int           // records per PutEvents call
	Workers  int           // calls in flight
	Accounts []string      // accounts the records belong to
	Seed     int64         // generator seed; each worker adds its index
	Start    time.Time     // eventTime of the first record of each worker
	Step     time.Duration // mean gap between a worker's eventTimes
	// Probe is how often to measure how soon an acknowledged event can be
	// found through the history indexes (0: never).
	Probe time.Duration
}

// IngestResult is what an ingest run measured.
type IngestResult struct {
	Events, Duplicates, Failed int
	Elapsed                    time.Duration
	EventsPerSecond            float64
	Ack                        Percentiles // per-call acknowledgement latency
	Searchable                 Percentiles // acknowledgement → found by LookupEvents
	MaxRSSBytes                float64
}

// Clients gives a client acting on an account.
type Clients func(account string) (*client.Client, error)

// Ingest sends synthetic records and measures the server.
func Ingest(ctx context.Context, clients Clients, endpoint string, o IngestOptions, progress io.Writer) (IngestResult, error) {
	if o.Batch <= 0 || o.Workers <= 0 || o.Events <= 0 || len(o.Accounts) == 0 {
		return IngestResult{}, fmt.Errorf("events, batch, workers and accounts must be positive")
	}
	mem := &memWatcher{endpoint: endpoint}
	mctx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	go mem.run(mctx)

	root, err := clients("")
	if err != nil {
		return IngestResult{}, err
	}
	var (
		sent       atomic.Int64
		dup, fail  atomic.Int64
		mu         sync.Mutex
		acks       []time.Duration
		probes     = make(chan probe, 64)
		searchable []time.Duration
		firstErr   error
	)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for p := range probes {
			d, err := p.wait(ctx, clients)
			if err != nil {
				continue
			}
			mu.Lock()
			searchable = append(searchable, d)
			mu.Unlock()
		}
	}()

	per := (o.Events + o.Workers - 1) / o.Workers
	start := time.Now()
	var lastProbe atomic.Int64
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := synth.New(synth.Options{Seed: o.Seed*1000 + int64(w), Accounts: o.Accounts, Start: o.Start, Step: o.Step})
			body := make([]byte, 0, o.Batch*1400)
			var rec []byte
			for done := 0; done < per && ctx.Err() == nil; {
				n := min(o.Batch, per-done)
				body = append(body[:0], `{"Records":[`...)
				var lastRec []byte
				for i := range n {
					if i > 0 {
						body = append(body, ',')
					}
					rec = g.Next(rec[:0])
					body = append(body, rec...)
					if i == n-1 {
						lastRec = append(lastRec[:0], rec...)
					}
				}
				body = append(body, `]}`...)
				t0 := time.Now()
				var resp ingest.PutEventsResponse
				if err := root.CallRaw(ctx, ingest.Target, "PutEvents", body, &resp); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				acked := time.Now()
				mu.Lock()
				acks = append(acks, acked.Sub(t0))
				mu.Unlock()
				sent.Add(int64(resp.Accepted))
				dup.Add(int64(resp.Duplicates))
				fail.Add(int64(len(resp.Failed)))
				done += n
				if o.Probe > 0 {
					if last := lastProbe.Load(); acked.UnixNano()-last >= int64(o.Probe) && lastProbe.CompareAndSwap(last, acked.UnixNano()) {
						if p, err := newProbe(lastRec, acked); err == nil {
							select {
							case probes <- p:
							default:
							}
						}
					}
				}
			}
		}()
	}
	if progress != nil {
		tick := time.NewTicker(5 * time.Second)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-tick.C:
					n := sent.Load()
					el := time.Since(start).Seconds()
					fmt.Fprintf(progress, "  %d events, %.0f events/s, server RSS %.0f MiB\n", n, float64(n)/el, mem.MaxRSS()/(1<<20))
				case <-stop:
					tick.Stop()
					return
				}
			}
		}()
		defer close(stop)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(probes)
	<-probeDone
	mem.poll()
	res := IngestResult{
		Events:          int(sent.Load()),
		Duplicates:      int(dup.Load()),
		Failed:          int(fail.Load()),
		Elapsed:         elapsed,
		EventsPerSecond: float64(sent.Load()) / elapsed.Seconds(),
		Ack:             percentiles(acks),
		Searchable:      percentiles(searchable),
		MaxRSSBytes:     mem.MaxRSS(),
	}
	return res, firstErr
}

// probe is one acknowledged event to find through the history indexes.
type probe struct {
	id, account, region, name string
	time                      time.Time
	acked                     time.Time
}

func newProbe(rec []byte, acked time.Time) (probe, error) {
	var r struct {
		EventID            string `json:"eventID"`
		EventName          string `json:"eventName"`
		EventTime          string `json:"eventTime"`
		AWSRegion          string `json:"awsRegion"`
		RecipientAccountID string `json:"recipientAccountId"`
		EventCategory      string `json:"eventCategory"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		return probe{}, err
	}
	if r.EventCategory != "Management" {
		return probe{}, fmt.Errorf("not a management event")
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return probe{}, err
	}
	return probe{id: r.EventID, account: r.RecipientAccountID, region: r.AWSRegion, name: r.EventName, time: t, acked: acked}, nil
}

// wait polls LookupEvents by EventName within the event's own second (so
// that the answer comes from the history indexes, not the ledger's ID
// index) until the event shows, and returns how long after its
// acknowledgement that was.
func (p probe) wait(ctx context.Context, clients Clients) (time.Duration, error) {
	c, err := clients(p.account)
	if err != nil {
		return 0, err
	}
	c = c.InRegion(p.region)
	req := map[string]any{
		"LookupAttributes": []map[string]string{{"AttributeKey": "EventName", "AttributeValue": p.name}},
		"StartTime":        p.time.Unix(),
		"EndTime":          p.time.Unix(),
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var out struct {
			Events []struct {
				EventID string `json:"EventId"`
			}
			NextToken string
		}
		delete(req, "NextToken")
		for {
			if err := c.Call(ctx, client.CloudTrailTarget, "LookupEvents", req, &out); err != nil {
				return 0, err
			}
			for _, e := range out.Events {
				if e.EventID == p.id {
					return time.Since(p.acked), nil
				}
			}
			if out.NextToken == "" {
				break
			}
			req["NextToken"] = out.NextToken
			out.NextToken = ""
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("event %s not found within 30s", p.id)
}
