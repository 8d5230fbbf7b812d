// Package bench measures a running cairn from the outside, as a client:
// ingest throughput with durable acknowledgement, how soon an acknowledged
// event can be looked up, LookupEvents latency per attribute key, and the
// server's memory. It sends only to the endpoint it is given.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Percentiles summarises a set of durations.
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentiles{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// String prints milliseconds.
func (p Percentiles) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	return fmt.Sprintf("n=%d p50=%sms p90=%sms p99=%sms max=%sms", p.N, ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
}

// memWatcher polls the server's /metrics for its resident memory.
type memWatcher struct {
	endpoint string
	mu       sync.Mutex
	max      float64
	last     float64
}

func (m *memWatcher) run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		m.poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *memWatcher) poll() {
	resp, err := http.Get(m.endpoint + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				m.mu.Lock()
				m.last = f
				m.max = max(m.max, f)
				m.mu.Unlock()
			}
		}
	}
}

// MaxRSS returns the highest resident memory seen, in bytes.
func (m *memWatcher) MaxRSS() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.max
}
