package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/synth"
)

// ---- helpers shared by crash_test.go, isolation_test.go and audit_test.go ----

// keyClient returns cairn's own signed client for key k against endpoint,
// signing for region and, when account is set, acting on that account
// (X-Cairn-Account-Id). The client takes its credentials from the
// environment when it is made, so they are set for the test just for that.
func keyClient(t *testing.T, endpoint string, k keyPair, region, account string) *client.Client {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", k.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", k.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	c, err := client.New(context.Background(), client.Options{Endpoint: endpoint, Region: region, AccountID: account})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ctAttr is one LookupAttributes element.
type ctAttr struct {
	AttributeKey   string `json:"AttributeKey"`
	AttributeValue string `json:"AttributeValue"`
}

// ctQuery is a LookupEvents request body.
type ctQuery struct {
	LookupAttributes []ctAttr `json:"LookupAttributes,omitempty"`
	StartTime        *float64 `json:"StartTime,omitempty"`
	EndTime          *float64 `json:"EndTime,omitempty"`
	MaxResults       int      `json:"MaxResults,omitempty"`
	NextToken        string   `json:"NextToken,omitempty"`
}

func ctAttrQuery(key, value string) ctQuery {
	return ctQuery{LookupAttributes: []ctAttr{{key, value}}}
}

// epoch is a LookupEvents timestamp.
func epoch(t time.Time) *float64 {
	v := float64(t.UnixMilli()) / 1000
	return &v
}

// ctEvent is one element of LookupEvents' Events.
type ctEvent struct {
	EventID     string  `json:"EventId"`
	EventName   string  `json:"EventName"`
	ReadOnly    string  `json:"ReadOnly"`
	AccessKeyID string  `json:"AccessKeyId"`
	EventTime   float64 `json:"EventTime"`
	EventSource string  `json:"EventSource"`
	Username    string  `json:"Username"`
	Resources   []struct {
		ResourceType string `json:"ResourceType"`
		ResourceName string `json:"ResourceName"`
	} `json:"Resources"`
	CloudTrailEvent string `json:"CloudTrailEvent"`
}

// ctRecordHead is what the tests read of a CloudTrailEvent.
type ctRecordHead struct {
	EventID            string `json:"eventID"`
	EventName          string `json:"eventName"`
	EventSource        string `json:"eventSource"`
	AWSRegion          string `json:"awsRegion"`
	RecipientAccountID string `json:"recipientAccountId"`
	RequestID          string `json:"requestID"`
	UserIdentity       struct {
		Type        string `json:"type"`
		AccountID   string `json:"accountId"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
	} `json:"userIdentity"`
}

func (e ctEvent) head() (ctRecordHead, error) {
	var h ctRecordHead
	err := json.Unmarshal([]byte(e.CloudTrailEvent), &h)
	return h, err
}

type ctPage struct {
	Events    []ctEvent `json:"Events"`
	NextToken string    `json:"NextToken"`
}

// ctLookup makes one LookupEvents call.
func ctLookup(ctx context.Context, c *client.Client, q ctQuery) (ctPage, error) {
	var p ctPage
	err := c.Call(ctx, client.CloudTrailTarget, "LookupEvents", q, &p)
	return p, err
}

// ctLookupAll walks every page of q.
func ctLookupAll(ctx context.Context, c *client.Client, q ctQuery) ([]ctEvent, error) {
	var all []ctEvent
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100000 {
			return all, errors.New("LookupEvents never stops returning a NextToken")
		}
		p, err := ctLookup(ctx, c, q)
		if err != nil {
			return all, err
		}
		all = append(all, p.Events...)
		if p.NextToken == "" {
			return all, nil
		}
		if seen[p.NextToken] {
			return all, fmt.Errorf("LookupEvents returned NextToken %q twice", p.NextToken)
		}
		seen[p.NextToken] = true
		q.NextToken = p.NextToken
	}
}

// apiCode is the AWS error code of err, or "" if err is not an API error.
func apiCode(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// waitIndexed waits until the history index has caught up with the ledger
// (cairn_history_lag_entries is 0).
func waitIndexed(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := "never read"
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.endpoint + "/metrics")
		if err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "cairn_history_lag_entries "); ok {
					last = v
				}
			}
			resp.Body.Close()
			if f, err := strconv.ParseFloat(last, 64); err == nil && f == 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("history index did not catch up within 60s (cairn_history_lag_entries %s)", last)
}

// ---- TestCrashSafety ----

// crashRecord is one record the test sent.
type crashRecord struct {
	account, id, region string
	management          bool
	raw                 []byte
	acked               bool
}

type crashKey struct{ account, id string }

// crashTarget is the server the ingest workers talk to; it changes at every
// restart.
type crashTarget struct {
	mu  sync.Mutex
	gen int
	up  bool
	c   *client.Client
}

func (ct *crashTarget) set(c *client.Client) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.gen++
	ct.up = true
	ct.c = c
}

func (ct *crashTarget) down() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.up = false
}

// get waits for a running server of a generation after `after`, and
// returns its client and generation; nil once ctx ends.
func (ct *crashTarget) get(ctx context.Context, after int) (*client.Client, int) {
	for {
		ct.mu.Lock()
		c, gen, up := ct.c, ct.gen, ct.up
		ct.mu.Unlock()
		if up && gen > after {
			return c, gen
		}
		if ctx.Err() != nil {
			return nil, 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killedSince reports whether the server of generation gen has been (or is
// being) killed.
func (ct *crashTarget) killedSince(gen int) bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.gen != gen || !ct.up
}

type crashStats struct {
	batches, firstTry, retried, connErrors, accepted, duplicates atomic.Int64
}

// TestCrashSafety kills `cairn serve` with SIGKILL five times in the middle
// of sustained PutEvents traffic from several writers, restarting it on the
// same data directory each time; writers retry every batch that got no
// answer. Afterwards it proves that
//   - every acknowledged record is stored: each management event is found
//     by LookupEvents EventId with a key of its account in its region, and
//     re-sending every acknowledged record (data events included) yields
//     only Duplicates;
//   - nothing is stored twice: walking every page of LookupEvents per
//     account and region shows each event once, and exactly the
//     acknowledged management events of that scope (plus, at most, records
//     sent without an answer);
//   - a first attempt of a batch is never answered with duplicates, and a
//     retried one is answered with accepts and duplicates only.
func TestCrashSafety(t *testing.T) {
	const (
		writers   = 4
		batchSize = 200
		kills     = 5
		// batchRate caps the writers together, so that checking every
		// acknowledged record afterwards stays within the time budget;
		// in the last moments before each kill they go flat out, so that
		// the kill finds batches in flight.
		batchRate = 15
		burstTime = 150 * time.Millisecond
	)
	accounts := []string{"310000000001", "310000000002", "310000000003"}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(ctxT(t))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	testStart := time.Now()

	n := startNode(t, dir)
	target := &crashTarget{}
	target.set(keyClient(t, n.endpoint, n.rootKey(), "us-east-1", ""))

	var (
		mu      sync.Mutex
		records = map[crashKey]*crashRecord{}
		stats   crashStats
		stop    atomic.Bool
		burst   atomic.Bool
		wg      sync.WaitGroup
	)
	t.Cleanup(func() { // before the nodes' own cleanups: stop the writers first
		stop.Store(true)
		cancel()
		wg.Wait()
	})

	// send delivers one batch, retrying across restarts until it is
	// answered; it returns false if the batch was given up.
	send := func(w int, batch []*crashRecord) bool {
		raws := make([]json.RawMessage, len(batch))
		for i, r := range batch {
			raws[i] = r.raw
		}
		body, err := json.Marshal(ingest.PutEventsRequest{Records: raws})
		if err != nil {
			t.Error(err)
			return false
		}
		after, unexpected := -1, 0
		for attempt := 0; ; attempt++ {
			c, gen := target.get(ctx, after)
			if c == nil {
				return false
			}
			var resp ingest.PutEventsResponse
			err := c.CallRaw(ctx, ingest.Target, "PutEvents", body, &resp)
			if err == nil {
				stats.batches.Add(1)
				stats.accepted.Add(int64(resp.Accepted))
				stats.duplicates.Add(int64(resp.Duplicates))
				if len(resp.Failed) > 0 || resp.Accepted+resp.Duplicates != len(batch) {
					t.Errorf("writer %d: PutEvents of %d records answered %+v", w, len(batch), resp)
					return false
				}
				if attempt == 0 {
					stats.firstTry.Add(1)
					if resp.Duplicates != 0 {
						t.Errorf("writer %d: first attempt of a batch of new records answered %d duplicates", w, resp.Duplicates)
					}
				} else {
					stats.retried.Add(1)
				}
				mu.Lock()
				for _, r := range batch {
					r.acked = true
				}
				mu.Unlock()
				return true
			}
			if ctx.Err() != nil {
				return false
			}
			if code := apiCode(err); code != "" {
				t.Errorf("writer %d: PutEvents failed with an API error: %v", w, err)
				return false
			}
			stats.connErrors.Add(1)
			if target.killedSince(gen) {
				// Send the same batch again to the next server.
				after = gen
				continue
			}
			// The server is meant to be up: a few retries, then give up.
			unexpected++
			if unexpected > 5 {
				t.Errorf("writer %d: PutEvents failed while the server was up: %v", w, err)
				return false
			}
			after = -1
			time.Sleep(50 * time.Millisecond)
		}
	}

	pace := time.NewTicker(time.Second / batchRate)
	defer pace.Stop()
	for w := range writers {
		wg.Add(1)
		seed := rng.Int64() ^ int64(w) // drawn here: rng is not safe for the writers to share
		go func() {
			defer wg.Done()
			g := synth.New(synth.Options{
				Seed:     seed,
				Accounts: accounts,
				Start:    testStart.Add(-30 * time.Minute),
				Step:     200 * time.Microsecond,
			})
			var buf []byte
			for !stop.Load() && ctx.Err() == nil {
				batch := make([]*crashRecord, 0, batchSize)
				for len(batch) < batchSize {
					buf = g.Next(buf[:0])
					e, err := event.Parse(buf, event.Defaults{})
					if err != nil {
						t.Errorf("synthetic record does not parse: %v", err)
						return
					}
					r := &crashRecord{account: e.AccountID, id: e.EventID, region: e.Region,
						management: e.Category == event.Management, raw: append([]byte(nil), buf...)}
					k := crashKey{r.account, r.id}
					mu.Lock()
					_, dup := records[k]
					if !dup {
						records[k] = r
					}
					mu.Unlock()
					if !dup { // an ID drawn twice would blur the accounting
						batch = append(batch, r)
					}
				}
				if !burst.Load() {
					select {
					case <-pace.C:
					case <-ctx.Done():
						return
					}
				}
				if !send(w, batch) {
					return
				}
			}
		}()
	}

	for round := 1; round <= kills; round++ {
		wait := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		time.Sleep(wait - burstTime)
		burst.Store(true)
		time.Sleep(burstTime)
		before := stats.batches.Load()
		target.down()
		n.kill()
		burst.Store(false)
		t.Logf("kill %d after %v: %d batches answered so far", round, wait, before)
		n = startNode(t, dir)
		target.set(keyClient(t, n.endpoint, n.rootKey(), "us-east-1", ""))
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	mu.Lock()
	all := make([]*crashRecord, 0, len(records))
	for _, r := range records {
		all = append(all, r)
	}
	mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].account != all[j].account {
			return all[i].account < all[j].account
		}
		return all[i].id < all[j].id
	})
	type scope struct{ account, region string }
	acked := map[scope]map[string]bool{}   // acknowledged management events
	unacked := map[scope]map[string]bool{} // sent, never answered
	var nAcked, nMgmt int
	regions := map[string]bool{"us-east-1": true, "us-west-2": true, "eu-west-1": true}
	for _, r := range all {
		regions[r.region] = true
		if r.acked {
			nAcked++
		}
		if !r.management {
			continue
		}
		s := scope{r.account, r.region}
		m := acked
		if r.acked {
			nMgmt++
		} else {
			m = unacked
		}
		if m[s] == nil {
			m[s] = map[string]bool{}
		}
		m[s][r.id] = true
	}
	t.Logf("%d records sent, %d acknowledged (%d management events); %d batches answered (%d at the first attempt, %d after a retry); %d failed attempts; %d accepted, %d duplicates answered",
		len(all), nAcked, nMgmt, stats.batches.Load(), stats.firstTry.Load(), stats.retried.Load(), stats.connErrors.Load(), stats.accepted.Load(), stats.duplicates.Load())
	if nAcked == 0 {
		t.Fatal("no batch was acknowledged")
	}
	if got := stats.accepted.Load(); got > int64(len(all)) {
		t.Errorf("PutEvents answered %d accepts for %d distinct records: some record was accepted twice", got, len(all))
	}

	// Keys to read each account with, made after the last restart.
	readers := map[string]keyPair{}
	readerKeys := map[string]bool{}
	for _, a := range accounts {
		readers[a] = n.tenantKey(a, "verifier")
		readerKeys[readers[a].AccessKeyID] = true
	}

	// (b) Nothing twice: walk Event history per account and region.
	waitIndexed(t, n)
	walkStart := time.Now()
	seenAnywhere := map[crashKey]string{}
	for _, a := range accounts {
		for region := range regions {
			c := keyClient(t, n.endpoint, readers[a], region, "")
			events, err := ctLookupAll(ctx, c, ctQuery{})
			if err != nil {
				t.Fatalf("walk %s %s: %v", a, region, err)
			}
			s := scope{a, region}
			seen := map[string]int{}
			for _, e := range events {
				k := crashKey{a, e.EventID}
				if r, ok := records[k]; ok {
					seen[e.EventID]++
					if seen[e.EventID] == 2 {
						t.Errorf("account %s region %s: event %s listed more than once", a, region, e.EventID)
					}
					if r.region != region || !r.management {
						t.Errorf("account %s region %s: event %s (region %s, management %v) listed here", a, region, e.EventID, r.region, r.management)
					}
					if prev, ok := seenAnywhere[k]; ok && prev != region {
						t.Errorf("account %s: event %s listed in %s and %s", a, e.EventID, prev, region)
					}
					seenAnywhere[k] = region
					continue
				}
				h, err := e.head()
				if err != nil || h.EventSource != "cloudtrail.amazonaws.com" || !readerKeys[h.UserIdentity.AccessKeyID] || h.RecipientAccountID != a {
					t.Errorf("account %s region %s: unexpected event %s: %.300s", a, region, e.EventID, e.CloudTrailEvent)
				}
			}
			missing := 0
			for id := range acked[s] {
				if seen[id] == 0 {
					missing++
					if missing <= 5 {
						t.Errorf("account %s region %s: acknowledged event %s is not in Event history", a, region, id)
					}
				}
			}
			extra := len(seen) - (len(acked[s]) - missing)
			for id := range seen {
				if !acked[s][id] && !unacked[s][id] {
					t.Errorf("account %s region %s: event %s listed but never sent here", a, region, id)
				}
			}
			if missing > 0 {
				t.Errorf("account %s region %s: %d of %d acknowledged events missing from the walk", a, region, missing, len(acked[s]))
			}
			t.Logf("account %s region %s: %d events listed once each, %d acknowledged, %d sent without an answer (%d of those stored)",
				a, region, len(seen), len(acked[s]), len(unacked[s]), extra)
		}
	}
	t.Logf("walks took %v", time.Since(walkStart))

	// (a) Every acknowledged event is there: LookupEvents EventId for each.
	lookStart := time.Now()
	type job struct {
		r *crashRecord
	}
	jobs := make(chan job)
	var lwg sync.WaitGroup
	var looked, missing atomic.Int64
	sdks := map[scope]*cloudtrail.Client{}
	for _, a := range accounts {
		for region := range regions {
			sdks[scope{a, region}] = n.sdk(readers[a], region)
		}
	}
	for range 12 {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for j := range jobs {
				r := j.r
				out, err := sdks[scope{r.account, r.region}].LookupEvents(ctx, &cloudtrail.LookupEventsInput{
					LookupAttributes: []types.LookupAttribute{{AttributeKey: types.LookupAttributeKeyEventId, AttributeValue: aws.String(r.id)}},
				})
				looked.Add(1)
				if err != nil {
					t.Errorf("LookupEvents EventId %s (%s %s): %v", r.id, r.account, r.region, err)
					continue
				}
				if len(out.Events) != 1 || aws.ToString(out.Events[0].EventId) != r.id {
					if missing.Add(1) <= 10 {
						t.Errorf("LookupEvents EventId %s in account %s region %s: %d events", r.id, r.account, r.region, len(out.Events))
					}
					continue
				}
				var h ctRecordHead
				if err := json.Unmarshal([]byte(aws.ToString(out.Events[0].CloudTrailEvent)), &h); err != nil || h.EventID != r.id || h.RecipientAccountID != r.account || h.AWSRegion != r.region {
					t.Errorf("LookupEvents EventId %s: wrong record %.300s", r.id, aws.ToString(out.Events[0].CloudTrailEvent))
				}
			}
		}()
	}
	for _, r := range all {
		if r.acked && r.management {
			jobs <- job{r}
		}
	}
	close(jobs)
	lwg.Wait()
	if m := missing.Load(); m > 0 {
		t.Errorf("%d of %d acknowledged management events not found by EventId", m, looked.Load())
	}
	t.Logf("%d EventId lookups took %v", looked.Load(), time.Since(lookStart))

	// Re-sending every acknowledged record (data events too) adds nothing.
	root := keyClient(t, n.endpoint, n.rootKey(), "us-east-1", "")
	var batch []json.RawMessage
	resent, dups := 0, 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var resp ingest.PutEventsResponse
		if err := root.Call(ctx, ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: batch}, &resp); err != nil {
			t.Fatalf("re-send: %v", err)
		}
		if resp.Accepted != 0 || len(resp.Failed) != 0 || resp.Duplicates != len(batch) {
			t.Errorf("re-sending %d acknowledged records answered %d accepted, %d duplicates, %d failed", len(batch), resp.Accepted, resp.Duplicates, len(resp.Failed))
		}
		resent += len(batch)
		dups += resp.Duplicates
		batch = batch[:0]
	}
	for _, r := range all {
		if r.acked {
			batch = append(batch, r.raw)
			if len(batch) == 1000 {
				flush()
			}
		}
	}
	flush()
	t.Logf("re-sent %d acknowledged records: %d duplicates", resent, dups)
}
