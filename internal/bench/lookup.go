package bench

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
)

// LookupOptions shape a lookup run.
type LookupOptions struct {
	Account  string
	Region   string
	Calls    int  // calls per attribute key (and per variant)
	Windowed bool // also measure with a one-hour time window
	Seed     int64
}

// LookupResult holds latencies per attribute key ("" = no attribute).
type LookupResult struct {
	ByKey       map[string]Percentiles
	Windowed    map[string]Percentiles
	Values      map[string]int // distinct values sampled per key
	MaxRSSBytes float64
}

var lookupKeys = []string{"", "EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"}

// Lookup measures LookupEvents latency (first page, 50 events) per
// attribute key, with values sampled from the stored events themselves.
func Lookup(ctx context.Context, c *client.Client, endpoint string, o LookupOptions) (LookupResult, error) {
	mem := &memWatcher{endpoint: endpoint}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	go mem.run(mctx)
	c = c.ForAccount(o.Account).InRegion(o.Region)
	rng := rand.New(rand.NewSource(o.Seed))

	values, lo, hi, err := sampleValues(ctx, c, rng)
	if err != nil {
		return LookupResult{}, err
	}
	res := LookupResult{ByKey: map[string]Percentiles{}, Windowed: map[string]Percentiles{}, Values: map[string]int{}}
	for _, key := range lookupKeys {
		vals := values[key]
		if key != "" {
			res.Values[key] = len(vals)
			if len(vals) == 0 {
				continue
			}
		}
		for _, windowed := range []bool{false, true} {
			if windowed && !o.Windowed {
				continue
			}
			var ds []time.Duration
			for range o.Calls {
				req := map[string]any{"MaxResults": 50}
				if key != "" {
					req["LookupAttributes"] = []map[string]string{{"AttributeKey": key, "AttributeValue": vals[rng.Intn(len(vals))]}}
				}
				if windowed {
					span := hi.Sub(lo)
					s := lo.Add(time.Duration(rng.Int63n(int64(span) + 1)))
					req["StartTime"] = s.Unix()
					req["EndTime"] = s.Add(time.Hour).Unix()
				}
				var out struct{ Events []struct{} }
				t0 := time.Now()
				if err := c.Call(ctx, client.CloudTrailTarget, "LookupEvents", req, &out); err != nil {
					return res, fmt.Errorf("LookupEvents %s: %w", key, err)
				}
				ds = append(ds, time.Since(t0))
			}
			name := key
			if name == "" {
				name = "(none)"
			}
			if windowed {
				res.Windowed[name] = percentiles(ds)
			} else {
				res.ByKey[name] = percentiles(ds)
			}
		}
	}
	mem.poll()
	res.MaxRSSBytes = mem.MaxRSS()
	return res, nil
}

// sampleValues walks some pages of the newest events and some at random
// points in time, collecting the values of every attribute.
func sampleValues(ctx context.Context, c *client.Client, rng *rand.Rand) (map[string][]string, time.Time, time.Time, error) {
	type ev struct {
		EventID     string `json:"EventId"`
		EventName   string
		ReadOnly    string
		AccessKeyID string `json:"AccessKeyId"`
		EventSource string
		Username    string
		EventTime   float64
		Resources   []struct{ ResourceType, ResourceName string }
	}
	seen := map[string]map[string]bool{}
	add := func(k, v string) {
		if v == "" {
			return
		}
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		seen[k][v] = true
	}
	var lo, hi time.Time
	sampled := 0
	page := func(req map[string]any) (string, error) {
		var out struct {
			Events    []ev
			NextToken string
		}
		if err := c.Call(ctx, client.CloudTrailTarget, "LookupEvents", req, &out); err != nil {
			return "", err
		}
		for _, e := range out.Events {
			t := time.UnixMilli(int64(e.EventTime * 1000))
			if lo.IsZero() || t.Before(lo) {
				lo = t
			}
			if t.After(hi) {
				hi = t
			}
			// Skip cairn's records of calls (this benchmark's own among
			// them): they are the newest events of the account.
			if e.EventSource == "cloudtrail.amazonaws.com" {
				continue
			}
			sampled++
			add("EventId", e.EventID)
			add("EventName", e.EventName)
			add("ReadOnly", e.ReadOnly)
			add("AccessKeyId", e.AccessKeyID)
			add("EventSource", e.EventSource)
			add("Username", e.Username)
			for _, r := range e.Resources {
				add("ResourceType", r.ResourceType)
				add("ResourceName", r.ResourceName)
			}
		}
		return out.NextToken, nil
	}
	// Walk back from the newest event until enough events that are not
	// cairn's own have been seen, then sample at random earlier times.
	req := map[string]any{}
	for pages := 0; sampled < 1000 && pages < 400; pages++ {
		tok, err := page(req)
		if err != nil {
			return nil, lo, hi, err
		}
		if tok == "" {
			break
		}
		req["NextToken"] = tok
	}
	newest := hi
	for range 20 {
		end := newest.Add(-time.Duration(rng.Int63n(int64(24 * time.Hour))))
		if _, err := page(map[string]any{"EndTime": end.Unix()}); err != nil {
			return nil, lo, hi, err
		}
	}
	out := map[string][]string{}
	for k, m := range seen {
		for v := range m {
			out[k] = append(out[k], v)
		}
		sort.Strings(out[k])
	}
	return out, lo, hi, nil
}
