package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
)

// fileEvent is a record as the test reads it straight from the files.
type fileEvent struct {
	id, account, region string
	time                time.Time
	attrs               map[types.LookupAttributeKey][]string
	management          bool
}

// readDataSet reads every record of the S3-layout data set without going
// through cairn's ingest path: names, sources, times, accounts and regions
// come from the raw JSON; readOnly, Username and Resources come from the
// event package's derivations, which have tests of their own against AWS's
// answers.
func readDataSet(t *testing.T, root string) []fileEvent {
	t.Helper()
	files, err := ingest.Files([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	var out []fileEvent
	for _, path := range files {
		f, err := ingest.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range f.Records {
			var m struct {
				EventID            string `json:"eventID"`
				EventName          string `json:"eventName"`
				EventSource        string `json:"eventSource"`
				EventTime          string `json:"eventTime"`
				AWSRegion          string `json:"awsRegion"`
				RecipientAccountID string `json:"recipientAccountId"`
				UserIdentity       struct {
					AccessKeyID string `json:"accessKeyId"`
				} `json:"userIdentity"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			var rec event.Record
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			tm, err := time.Parse(time.RFC3339, m.EventTime)
			if err != nil {
				t.Fatal(err)
			}
			account := m.RecipientAccountID
			if account == "" {
				account = ingest.PathAccount(path)
			}
			ro := "false"
			if rec.ReadOnly != nil && bool(*rec.ReadOnly) || rec.ReadOnly == nil && event.InferReadOnly(m.EventSource, m.EventName) {
				ro = "true"
			}
			fe := fileEvent{
				id: m.EventID, account: account, region: m.AWSRegion, time: tm,
				management: event.Classify(&rec) == event.Management,
				attrs: map[types.LookupAttributeKey][]string{
					types.LookupAttributeKeyEventId:     {m.EventID},
					types.LookupAttributeKeyEventName:   {m.EventName},
					types.LookupAttributeKeyEventSource: {m.EventSource},
					types.LookupAttributeKeyReadOnly:    {ro},
				},
			}
			if m.UserIdentity.AccessKeyID != "" {
				fe.attrs[types.LookupAttributeKeyAccessKeyId] = []string{m.UserIdentity.AccessKeyID}
			}
			if u := event.LookupUsername(&rec); u != "" {
				fe.attrs[types.LookupAttributeKeyUsername] = []string{u}
			}
			for _, r := range event.LookupResources(&rec) {
				if r.Type != "" {
					fe.attrs[types.LookupAttributeKeyResourceType] = appendUnique(fe.attrs[types.LookupAttributeKeyResourceType], r.Type)
				}
				if r.Name != "" {
					fe.attrs[types.LookupAttributeKeyResourceName] = appendUnique(fe.attrs[types.LookupAttributeKeyResourceName], r.Name)
				}
			}
			out = append(out, fe)
		}
	}
	return out
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// TestLookupMatchesDirectFilter ingests the real data set with `cairn
// ingest` and checks, for every attribute key and many values in every
// account and region, with and without time windows, that LookupEvents
// (walked page by page with the AWS SDK's paginator) returns exactly the
// management events a direct filter over the files finds, newest first.
func TestLookupMatchesDirectFilter(t *testing.T) {
	data := sharedData(t)
	root := filepath.Join(data, "s3-layout")
	n := startNode(t, t.TempDir(), "--history-retention", "0")
	out := n.mustRun("ingest", root)
	if !strings.Contains(out, "20498 added, 0 already present, 0 failed") {
		t.Fatalf("ingest: %s", out)
	}
	// Ingesting again adds nothing.
	if out := n.mustRun("ingest", root); !strings.Contains(out, "0 added, 20498 already present, 0 failed") {
		t.Fatalf("second ingest: %s", out)
	}
	testStart := time.Now().Add(-time.Second)
	events := readDataSet(t, root)

	type scope struct{ account, region string }
	byScope := map[scope][]fileEvent{}
	for _, e := range events {
		if e.management {
			byScope[scope{e.account, e.region}] = append(byScope[scope{e.account, e.region}], e)
		}
	}
	if len(byScope) < 3 {
		t.Fatalf("expected at least 3 account/region scopes in the data set, got %d", len(byScope))
	}
	rng := rand.New(rand.NewSource(1))
	ctx := ctxT(t)
	keys := map[string]keyPair{}
	calls, checked := 0, 0
	valuesPerKey := map[types.LookupAttributeKey]int{}
	for sc, evs := range byScope {
		k, ok := keys[sc.account]
		if !ok {
			k = n.tenantKey(sc.account, "")
			keys[sc.account] = k
		}
		client := n.sdk(k, sc.region)
		lo, hi := evs[0].time, evs[0].time
		for _, e := range evs {
			if e.time.Before(lo) {
				lo = e.time
			}
			if e.time.After(hi) {
				hi = e.time
			}
		}
		for _, key := range types.LookupAttributeKey("").Values() {
			values := sampleValues(evs, key, rng, 25)
			valuesPerKey[key] += len(values)
			for _, v := range values {
				windows := [][2]*time.Time{{nil, nil}}
				for range 2 {
					a := lo.Add(time.Duration(rng.Int63n(int64(hi.Sub(lo)) + 1)))
					b := a.Add(time.Duration(rng.Int63n(int64(hi.Sub(a)) + 1)))
					windows = append(windows, [2]*time.Time{&a, &b})
				}
				// One window whose bounds are exactly an event's time: both ends inclusive.
				pick := evs[rng.Intn(len(evs))].time
				windows = append(windows, [2]*time.Time{&pick, &pick})
				for _, w := range windows {
					want := directFilter(evs, key, v, w[0], w[1])
					got, pages := lookupAll(t, ctx, client, key, v, w[0], w[1], testStart)
					calls += pages
					checked++
					if !sameOrder(got, want) {
						t.Fatalf("%v %s=%q window %v: LookupEvents returned %d events, the files have %d\n got %v\nwant %v",
							sc, key, v, fmtWindow(w), len(got), len(want), head(got), head(want))
					}
				}
			}
		}
	}
	for _, key := range types.LookupAttributeKey("").Values() {
		if valuesPerKey[key] == 0 {
			t.Errorf("the data set gave no values to check for %s", key)
		}
	}
	t.Logf("%d queries checked with %d LookupEvents calls", checked, calls)
}

func fmtWindow(w [2]*time.Time) string {
	if w[0] == nil {
		return "none"
	}
	return w[0].Format(time.RFC3339) + ".." + w[1].Format(time.RFC3339)
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// sampleValues picks up to n values of key: the most frequent ones and a
// random spread of the rest.
func sampleValues(evs []fileEvent, key types.LookupAttributeKey, rng *rand.Rand, n int) []string {
	count := map[string]int{}
	for _, e := range evs {
		for _, v := range e.attrs[key] {
			count[v]++
		}
	}
	all := make([]string, 0, len(count))
	for v := range count {
		all = append(all, v)
	}
	sort.Slice(all, func(i, j int) bool {
		if count[all[i]] != count[all[j]] {
			return count[all[i]] > count[all[j]]
		}
		return all[i] < all[j]
	})
	if len(all) <= n {
		return all
	}
	out := append([]string(nil), all[:n/3]...)
	rest := all[n/3:]
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(out, rest[:n-len(out)]...)
}

// directFilter returns the IDs of matching events, newest first. Events of
// the same second keep no particular order in AWS either, so ties sort by ID
// on both sides (see sameOrder).
func directFilter(evs []fileEvent, key types.LookupAttributeKey, v string, start, end *time.Time) []string {
	type hit struct {
		id string
		t  time.Time
	}
	var hits []hit
	for _, e := range evs {
		if start != nil && e.time.Before(*start) || end != nil && e.time.After(*end) {
			continue
		}
		for _, x := range e.attrs[key] {
			if x == v {
				hits = append(hits, hit{e.id, e.time})
				break
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].t.Equal(hits[j].t) {
			return hits[i].t.After(hits[j].t)
		}
		return hits[i].id < hits[j].id
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprintf("%s@%d", h.id, h.t.Unix())
	}
	return out
}

// lookupAll walks every page. Events cairn recorded of the test's own calls
// (eventTime after testStart) are checked and set aside.
func lookupAll(t *testing.T, ctx context.Context, c *cloudtrail.Client, key types.LookupAttributeKey, v string, start, end *time.Time, testStart time.Time) ([]string, int) {
	t.Helper()
	in := &cloudtrail.LookupEventsInput{
		LookupAttributes: []types.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(v)}},
		StartTime:        start,
		EndTime:          end,
	}
	p := cloudtrail.NewLookupEventsPaginator(c, in)
	var ids []string
	pages := 0
	var prev time.Time
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("LookupEvents %s=%q page %d: %v", key, v, pages+1, err)
		}
		pages++
		if len(page.Events) > 50 {
			t.Fatalf("page of %d events", len(page.Events))
		}
		for _, e := range page.Events {
			if !prev.IsZero() && e.EventTime.After(prev) {
				t.Fatalf("events not newest first: %v after %v", *e.EventTime, prev)
			}
			prev = *e.EventTime
			if !e.EventTime.Before(testStart) {
				if aws.ToString(e.EventSource) != "cloudtrail.amazonaws.com" {
					t.Fatalf("unexpected new event %s from %s", aws.ToString(e.EventName), aws.ToString(e.EventSource))
				}
				continue
			}
			ids = append(ids, fmt.Sprintf("%s@%d", aws.ToString(e.EventId), e.EventTime.Unix()))
		}
	}
	return ids, pages
}

// sameOrder compares two newest-first lists, allowing any order within one second.
func sameOrder(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	g := append([]string(nil), got...)
	sortTies(g)
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

func sortTies(s []string) {
	sec := func(x string) string { return x[strings.LastIndexByte(x, '@')+1:] }
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && sec(s[j]) == sec(s[i]) {
			j++
		}
		sort.Strings(s[i:j])
		i = j
	}
}
