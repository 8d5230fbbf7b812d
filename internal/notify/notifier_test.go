package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// webhook is a test server that records what it receives and answers with
// the statuses of answer, in turn, then 200.
type webhook struct {
	*httptest.Server
	hits atomic.Int32

	mu      sync.Mutex
	answer  []int
	bodies  []string
	headers []http.Header
}

func newWebhook(t *testing.T, answer ...int) *webhook {
	w := &webhook{answer: answer}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.hits.Add(1)
		w.mu.Lock()
		w.bodies = append(w.bodies, string(b))
		w.headers = append(w.headers, r.Header.Clone())
		status := http.StatusOK
		if len(w.answer) > 0 {
			status, w.answer = w.answer[0], w.answer[1:]
		}
		w.mu.Unlock()
		if status == http.StatusFound {
			http.Redirect(rw, r, "/elsewhere", status)
			return
		}
		rw.WriteHeader(status)
	}))
	t.Cleanup(w.Close)
	return w
}

// hang holds a request until the client gives up on it or release is
// closed. The server notices a client gone only once it has read the body.
func hang(r *http.Request, release <-chan struct{}) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-release:
	case <-r.Context().Done():
	}
}

// setup returns a notifier with millisecond backoffs, not yet running, and
// a topic "t" whose webhook is url. Webhooks may reach loopback, where the
// test servers are, and what allow adds.
func setup(t *testing.T, url string, allow ...string) (*Notifier, *Topics, string) {
	t.Helper()
	topics := openTopics(t, append([]string{"127.0.0.0/8"}, allow...)...)
	tp, err := topics.Create(acct, "us-east-1", "t", url)
	if err != nil {
		t.Fatal(err)
	}
	n := New(topics, nil)
	n.backoff, n.maxBackoff, n.timeout = time.Millisecond, 4*time.Millisecond, 5*time.Second
	return n, topics, tp.ARN
}

// run runs n until the test ends and returns a function that stops it and
// returns Run's result.
func run(t *testing.T, n *Notifier) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(5 * time.Second):
				err = errors.New("Run did not return within 5s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// notify calls Notify and returns a channel that receives done's error.
func notify(n *Notifier, arn, bucket string, keys ...string) <-chan error {
	ch := make(chan error, 1)
	n.Notify(arn, bucket, keys, func(err error) { ch <- err })
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("done was not called within 10s")
		return nil
	}
}

func TestNotifyPostsCloudTrailMessage(t *testing.T) {
	w := newWebhook(t)
	n, _, arn := setup(t, w.URL+"/hook")
	run(t, n)
	keys := []string{
		"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T1200Z_abc.json.gz",
		"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T1200Z_def.json.gz",
	}
	if err := wait(t, notify(n, arn, "audit-logs", keys...)); err != nil {
		t.Fatal(err)
	}
	want := `{"s3Bucket":"audit-logs","s3ObjectKey":["` + keys[0] + `","` + keys[1] + `"]}`
	if w.bodies[0] != want {
		t.Errorf("body\n%s\nwant\n%s", w.bodies[0], want)
	}
	h := w.headers[0]
	for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "cairn", "X-Cairn-Topic-Arn": arn} {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}

	if err := wait(t, notify(n, arn, "audit-logs")); err != nil {
		t.Fatal(err)
	}
	if want := `{"s3Bucket":"audit-logs","s3ObjectKey":[]}`; w.bodies[1] != want {
		t.Errorf("without keys: %s, want %s", w.bodies[1], want)
	}
}

func TestNotifyRetries(t *testing.T) {
	for _, tc := range []struct {
		answers []int
		hits    int32
		ok      bool
	}{
		{[]int{500, 503}, 3, true},
		{[]int{408, 429}, 3, true},
		{[]int{204}, 1, true},
		{[]int{400}, 1, false},
		{[]int{403}, 1, false},
		{[]int{404}, 1, false},
		{[]int{302}, 1, false}, // not followed: the POST would become a GET
		{[]int{500, 400}, 2, false},
	} {
		t.Run(fmt.Sprint(tc.answers), func(t *testing.T) {
			w := newWebhook(t, tc.answers...)
			n, _, arn := setup(t, w.URL)
			run(t, n)
			err := wait(t, notify(n, arn, "b", "k"))
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want success %v", err, tc.ok)
			}
			if got := w.hits.Load(); got != tc.hits {
				t.Errorf("%d requests, want %d", got, tc.hits)
			}
			var se *StatusError
			if err != nil && (!errors.As(err, &se) || se.Code != tc.answers[len(tc.answers)-1]) {
				t.Errorf("err = %#v, want the last status", err)
			}
		})
	}
}

func TestNotifyGivesUp(t *testing.T) {
	w := newWebhook(t, 500, 500, 500, 500, 500, 500, 500, 500)
	n, _, arn := setup(t, w.URL)
	run(t, n)
	err := wait(t, notify(n, arn, "b", "k"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 || !strings.Contains(err.Error(), "6 attempts") {
		t.Errorf("err = %v, want a 500 after 6 attempts", err)
	}
	if got := w.hits.Load(); got != Attempts {
		t.Errorf("%d requests, want %d", got, Attempts)
	}
}

func TestNotifyUnreachable(t *testing.T) {
	w := newWebhook(t)
	w.Close() // nothing listens there any more
	n, _, arn := setup(t, w.URL)
	n.attempts = 2
	run(t, n)
	if err := wait(t, notify(n, arn, "b", "k")); err == nil || !strings.Contains(err.Error(), "2 attempts") {
		t.Errorf("err = %v, want a connection error after 2 attempts", err)
	}
}

func TestNotifyTimeout(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if slow.Swap(false) {
			hang(r, nil)
		}
	}))
	t.Cleanup(srv.Close)
	n, _, arn := setup(t, srv.URL)
	n.timeout = 50 * time.Millisecond
	run(t, n)
	if err := wait(t, notify(n, arn, "b", "k")); err != nil {
		t.Errorf("err = %v, want success on the attempt after the timeout", err)
	}
}

func TestNotifyUnknownTopic(t *testing.T) {
	w := newWebhook(t)
	n, topics, arn := setup(t, w.URL)
	run(t, n)
	if err := topics.Delete(acct, "us-east-1", "t"); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, notify(n, arn, "b", "k")); !errors.Is(err, ErrNoSuchTopic) {
		t.Errorf("err = %v, want ErrNoSuchTopic", err)
	}
	if w.hits.Load() != 0 {
		t.Error("posted for a deleted topic")
	}
}

func TestNotifyKeepsTopicOrder(t *testing.T) {
	w := newWebhook(t, 500, 500) // the first notification is retried; the rest must wait
	n, _, arn := setup(t, w.URL)
	run(t, n)
	var chans []<-chan error
	for i := range 20 {
		chans = append(chans, notify(n, arn, "b", fmt.Sprint(i)))
	}
	for _, ch := range chans {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, b := range w.bodies {
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(b, `{"s3Bucket":"b","s3ObjectKey":["`), `"]}`))
	}
	if want := "0 0 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

func TestSlowTopicDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hang(r, release)
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(release) })
	w := newWebhook(t)
	n, topics, slowARN := setup(t, stuck.URL)
	fast, err := topics.Create(acct, "us-east-1", "fast", w.URL)
	if err != nil {
		t.Fatal(err)
	}
	run(t, n)
	slow := notify(n, slowARN, "b", "k")
	for range 3 {
		if err := wait(t, notify(n, fast.ARN, "b", "k")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("the stuck topic's notification ended: %v", err)
	default:
	}
}

func TestNotifyQueueFull(t *testing.T) {
	n, topics, arn := setup(t, "http://127.0.0.1:1/")
	second, err := topics.Create(acct, "us-east-1", "second", hook)
	if err != nil {
		t.Fatal(err)
	}
	n.capacity, n.perTopic = 3, 2
	// Not running: nothing leaves the queue.
	var refused []error
	for _, a := range []string{arn, arn, arn, second.ARN, second.ARN} {
		select {
		case err := <-notify(n, a, "b", "k"):
			refused = append(refused, err)
		default:
			refused = append(refused, nil)
		}
	}
	want := []string{"<nil>", "<nil>", "topic", "<nil>", "queue"} // per topic, then in all
	for i, err := range refused {
		if (err == nil) != (want[i] == "<nil>") || (err != nil && !errors.Is(err, ErrQueueFull)) {
			t.Errorf("notification %d: %v, want %s", i, err, want[i])
		}
	}
	if err := refused[2]; err == nil || !strings.Contains(err.Error(), arn) {
		t.Errorf("per-topic refusal %v does not name the topic", err)
	}
}

func TestNotifyStopsOnCancel(t *testing.T) {
	arrived := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		hang(r, nil)
	}))
	t.Cleanup(srv.Close)
	n, _, arn := setup(t, srv.URL)
	stop := run(t, n)
	var chans []<-chan error
	for i := range 3 {
		chans = append(chans, notify(n, arn, "b", fmt.Sprint(i)))
	}
	<-arrived
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	for i, ch := range chans {
		if err := wait(t, ch); !errors.Is(err, context.Canceled) {
			t.Errorf("notification %d: %v, want context.Canceled", i, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping took %v", d)
	}
	err := wait(t, notify(n, arn, "b", "late"))
	if !errors.Is(err, ErrNotifierClosed) || !errors.Is(err, context.Canceled) {
		t.Errorf("Notify after Run ended: %v, want ErrNotifierClosed", err)
	}
	if err := n.Run(t.Context()); err == nil {
		t.Error("second Run accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "0": 0, "-1": 0, "soon": 0, "Wed, 21 Oct 2015 07:28:00 GMT": -1} {
		got := retryAfter(in)
		if want < 0 && got >= 0 || want >= 0 && got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestErrorsKeepNoWebhookCredential: what the log says of a failed post
// names the webhook's host, never its path or query, where webhook
// services keep their tokens.
func TestErrorsKeepNoWebhookCredential(t *testing.T) {
	const hook = "https://hooks.example.com/services/T0/B0/s3cr3tT0k3n?token=q1"
	_, parseErr := http.NewRequest(http.MethodPost, hook+"\x7f", nil)
	if parseErr == nil {
		t.Fatal("a URL with a control character parsed")
	}
	for _, e := range []error{parseErr, &url.Error{Op: "Post", URL: hook, Err: errors.New("dial tcp: connection refused")}} {
		got := withoutURL(e).Error()
		if strings.Contains(got, "s3cr3tT0k3n") || strings.Contains(got, "q1") {
			t.Errorf("withoutURL(%v) = %q", e, got)
		}
	}
	if got := withoutURL(&url.Error{Op: "Post", URL: hook, Err: errors.New("refused")}).Error(); got != "Post hooks.example.com: refused" {
		t.Errorf("withoutURL = %q", got)
	}
}
