package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the notifier.
var (
	ErrQueueFull      = errors.New("notification queue is full")
	ErrNotifierClosed = errors.New("notifier is not running")
	// ErrUnreachable is every failure to get an answer from a webhook:
	// the address refused by the guard, a name that does not resolve, a
	// connection refused or timed out, a TLS failure. They are one error
	// on purpose. The outcome is shown to the trail's owner
	// (LatestNotificationError), and a message that told them apart would
	// let a tenant map what listens where the webhook points; the cause
	// goes to the server's log only.
	ErrUnreachable = errors.New("notification delivery failed: the webhook could not be reached")
)

// Defaults of a Notifier.
const (
	// QueueSize bounds the notifications waiting to be sent.
	QueueSize = 10000
	// Workers is how many webhooks are posted to at once. Each topic has
	// at most one request in flight, so a webhook that hangs holds up one
	// worker and its own topic, not the others.
	Workers = 4
	// Attempts is how often one notification is tried.
	Attempts = 6
	// RequestTimeout bounds one attempt.
	RequestTimeout = 10 * time.Second
)

// Message is what a notification carries: the body SNS publishes for
// CloudTrail after each log file delivery.
type Message struct {
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
}

// Notifier posts notifications to topics' webhooks, in the order they were
// asked for within a topic, with retries.
type Notifier struct {
	topics *Topics
	client *http.Client
	log    *slog.Logger

	// Tuning; tests shorten it before Run.
	workers    int
	capacity   int // at most QueueSize: ready's buffer depends on it
	perTopic   int
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	timeout    time.Duration

	// ready holds each topic that has pending notifications and no worker,
	// once. There are never more such topics than queued notifications, so
	// sends to it never block.
	ready   chan string
	running atomic.Bool

	mu        sync.Mutex
	pending   map[string][]job // by topic ARN, oldest first
	scheduled map[string]bool  // in ready, or a worker is sending for it
	queued    int
	stopped   error // set when Run has ended
}

type job struct {
	topic string
	body  []byte
	done  func(error)
}

// New returns a notifier that looks webhooks up in topics when it sends, so
// a webhook changed or a topic deleted after Notify is taken into account,
// and connects only where the topics' guard allows. log nil means no
// logging.
func New(topics *Topics, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{
		topics:     topics,
		client:     topics.guard.client(),
		log:        log,
		workers:    Workers,
		capacity:   QueueSize,
		perTopic:   QueueSize / 2,
		attempts:   Attempts,
		backoff:    200 * time.Millisecond,
		maxBackoff: 10 * time.Second,
		timeout:    RequestTimeout,
		ready:      make(chan string, QueueSize),
		pending:    map[string][]job{},
		scheduled:  map[string]bool{},
	}
}

// Notify queues a notification of keys, delivered to bucket, for the topic
// with ARN topicARN, and returns at once. done (if not nil) is called once
// with the outcome: nil when the webhook accepted it, else the last error.
// It is called before Notify returns when the notification cannot be
// queued (ErrQueueFull, or Run has ended), so it must not need locks its
// caller holds; it runs on a worker otherwise, so it must not block.
func (n *Notifier) Notify(topicARN, bucket string, keys []string, done func(err error)) {
	if done == nil {
		done = func(error) {}
	}
	if keys == nil {
		keys = []string{}
	}
	body, err := json.Marshal(Message{S3Bucket: bucket, S3ObjectKey: keys})
	if err != nil {
		done(err)
		return
	}
	if err := n.enqueue(job{topic: topicARN, body: body, done: done}); err != nil {
		done(err)
	}
}

func (n *Notifier) enqueue(j job) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped != nil {
		return fmt.Errorf("%w: %w", ErrNotifierClosed, n.stopped)
	}
	if n.queued >= n.capacity {
		return ErrQueueFull
	}
	// One topic whose webhook is down must not fill the queue for all.
	if len(n.pending[j.topic]) >= n.perTopic {
		return fmt.Errorf("%w for topic %s", ErrQueueFull, j.topic)
	}
	n.pending[j.topic] = append(n.pending[j.topic], j)
	n.queued++
	if !n.scheduled[j.topic] {
		n.scheduled[j.topic] = true
		n.ready <- j.topic
	}
	return nil
}

// Run sends queued notifications until ctx ends. Then it stops at once:
// the notification being sent and every one still queued get done with
// ctx's error, and later calls of Notify are refused. It returns nil after
// a shutdown; it may be called only once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("notifier: Run called twice")
	}
	var wg sync.WaitGroup
	for range n.workers {
		wg.Go(func() { n.work(ctx) })
	}
	wg.Wait()

	n.mu.Lock()
	n.stopped = ctx.Err()
	var left []job
	for _, js := range n.pending {
		left = append(left, js...)
	}
	n.pending, n.scheduled, n.queued = nil, nil, 0
	for len(n.ready) > 0 {
		<-n.ready
	}
	n.mu.Unlock()
	for _, j := range left {
		j.done(n.stopped)
	}
	return nil
}

func (n *Notifier) work(ctx context.Context) {
	for ctx.Err() == nil {
		var topic string
		select {
		case <-ctx.Done():
			return
		case topic = <-n.ready:
		}
		n.mu.Lock()
		q := n.pending[topic]
		j := q[0]
		q[0] = job{} // the backing array outlives the job: let done be collected
		n.pending[topic] = q[1:]
		n.queued--
		n.mu.Unlock()

		j.done(n.send(ctx, j))

		// Back to the end of the line rather than draining the topic, so
		// that a busy topic takes turns with the others.
		n.mu.Lock()
		if len(n.pending[topic]) > 0 {
			n.ready <- topic
		} else {
			delete(n.pending, topic)
			delete(n.scheduled, topic)
		}
		n.mu.Unlock()
	}
}

// send tries a notification until the webhook accepts it, refuses it for
// good, or attempts run out.
func (n *Notifier) send(ctx context.Context, j job) error {
	wait := n.backoff
	for attempt := 1; ; attempt++ {
		retryAfter, err := n.post(ctx, j)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		if attempt >= n.attempts {
			n.log.Warn("notification failed", "topic", j.topic, "attempts", attempt, "err", cause(err))
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		// Retry-After is honoured only up to the cap: a webhook must not
		// hold a worker for longer than its own backoff would.
		d := min(max(wait, retryAfter), n.maxBackoff)
		n.log.Debug("notification attempt failed", "topic", j.topic, "attempt", attempt, "retry_in", d, "err", cause(err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, n.maxBackoff)
	}
}

// post makes one attempt. It returns how long the webhook asked to be left
// alone (Retry-After), if it did.
func (n *Notifier) post(ctx context.Context, j job) (time.Duration, error) {
	tp, ok := n.topics.get(j.topic)
	if !ok {
		return 0, fmt.Errorf("%s: %w", j.topic, ErrNoSuchTopic)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tp.Webhook, bytes.NewReader(j.body))
	if err != nil {
		return 0, permanent{withoutURL(err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cairn")
	req.Header.Set("X-Cairn-Topic-Arn", tp.ARN)
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, &unreachable{cause: withoutURL(err)}
	}
	// Read what is left so that the connection can carry the next one.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return retryAfter(resp.Header.Get("Retry-After")), &StatusError{Code: resp.StatusCode}
}

// unreachable is ErrUnreachable with its cause, for the server's log. It
// does not unwrap to the cause, so that nothing shown to a tenant can
// reach it.
type unreachable struct{ cause error }

func (u *unreachable) Error() string        { return ErrUnreachable.Error() }
func (u *unreachable) Is(target error) bool { return target == ErrUnreachable }

// withoutURL drops the webhook's URL from an error of the HTTP client or
// of URL parsing, keeping the operation, the host and the cause: a
// webhook's path or query may be its credential (a Slack webhook's path
// is), and errors reach the server's log.
func withoutURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	host := "webhook"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		host = u.Host
	}
	return fmt.Errorf("%s %s: %w", ue.Op, host, ue.Err)
}

// cause returns what the server's log should say of err.
func cause(err error) error {
	var u *unreachable
	if errors.As(err, &u) {
		return u.cause
	}
	return err
}

// StatusError is a webhook's answer other than 2xx. Only the code is kept:
// the reason phrase and the body are the target's words, which are not
// repeated to the tenant. A webhook that answers was let through by the
// guard: a public address, or a network the operator allows.
type StatusError struct {
	Code int // HTTP status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("notification delivery failed: the webhook answered HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// Temporary reports whether trying again may help: the webhook's server
// failed, timed out or asked to slow down. Other client errors and
// redirects will be answered the same way next time.
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests
}

// permanent marks an error that trying again cannot cure.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retryable reports whether an attempt's error may go away: transport
// errors (refused connections, timeouts) may; refusals depend on the status.
func retryable(err error) bool {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se.Temporary()
	case errors.As(err, new(permanent)), errors.Is(err, ErrNoSuchTopic):
		return false
	}
	return true
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
