package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"
	"github.com/cockroachdb/pebble/v2"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Config tunes delivery.
type Config struct {
	// Interval is how often each trail's files are cut (AWS: about 5
	// minutes).
	Interval time.Duration
	// MaxFileBytes bounds a log file before compression (AWS: 50 MB).
	MaxFileBytes int
	// MaxBatchBytes bounds the records one pass holds in memory.
	MaxBatchBytes int
	// Uploads is how many files are compressed and written at once.
	Uploads int
	// DigestInterval is the span of one digest file (AWS: an hour).
	DigestInterval time.Duration
	// Signer signs digests; without one no digests are written.
	Signer Signer
}

// DefaultConfig is AWS's cadence and limits.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Minute, MaxFileBytes: 50 << 20, MaxBatchBytes: 64 << 20, Uploads: 4, DigestInterval: time.Hour}
}

// Buckets is what delivery needs of buckets.
type Buckets interface {
	Store(bucket string) (objstore.Store, error)
	CanDeliver(bucket, account, trailARN, key string) bool
	// Retention is how long files delivered into the bucket now must be
	// retained (Object Lock in COMPLIANCE mode); zero for none.
	Retention(bucket string) (time.Duration, error)
}

// Notifier announces delivered files on a topic.
type Notifier interface {
	Notify(topicARN, bucket string, keys []string, done func(error))
}

// Deliverer is the delivery consumer of every trail.
type Deliverer struct {
	db       *pebble.DB
	ledger   *ledger.Ledger
	trails   *trail.Store
	buckets  Buckets
	orgs     trail.Orgs
	notifier Notifier
	cfg      Config
	log      *slog.Logger
	now      func() time.Time

	mu     sync.Mutex
	states map[string]*state // by trail ID
	// failed keeps the built files of batches whose delivery failed, so
	// that retries while a bucket is down neither rescan the ledger nor
	// compress again. Only the Run goroutine uses it.
	failed map[string]*work

	// delivered counts events written to files, for metrics and tests.
	delivered, files, failures atomic.Uint64
	// quarantined counts records newly left out of trails' files.
	quarantined atomic.Uint64
}

// state is one trail's delivery state, as stored.
type state struct {
	Cursor  uint64               `json:"cursor"`
	Pending *batch               `json:"pending,omitempty"`
	Status  trail.DeliveryStatus `json:"status"`
	// Chains are the digest chains of a trail with log file validation,
	// by account and Region.
	Chains map[string]*chain `json:"chains,omitempty"`
}

// batch is a cut of the ledger being delivered for one trail.
type batch struct {
	From    uint64       `json:"from"` // exclusive
	To      uint64       `json:"to"`   // inclusive
	Time    time.Time    `json:"time"`
	Trail   *trail.Trail `json:"trail"`
	Members []string     `json:"members,omitempty"` // organization trails: the member accounts
}

// New returns a deliverer keeping its state in db.
func New(db *pebble.DB, l *ledger.Ledger, trails *trail.Store, buckets Buckets, orgs trail.Orgs, n Notifier, cfg Config, log *slog.Logger) (*Deliverer, error) {
	d := &Deliverer{db: db, ledger: l, trails: trails, buckets: buckets, orgs: orgs, notifier: n, cfg: cfg, log: log, now: time.Now, states: map[string]*state{}, failed: map[string]*work{}}
	if d.cfg.Interval <= 0 {
		d.cfg.Interval = DefaultConfig().Interval
	}
	if d.cfg.MaxFileBytes <= 0 {
		d.cfg.MaxFileBytes = DefaultConfig().MaxFileBytes
	}
	if d.cfg.MaxBatchBytes <= 0 {
		d.cfg.MaxBatchBytes = DefaultConfig().MaxBatchBytes
	}
	if d.cfg.Uploads <= 0 {
		d.cfg.Uploads = DefaultConfig().Uploads
	}
	if d.cfg.DigestInterval <= 0 {
		d.cfg.DigestInterval = DefaultConfig().DigestInterval
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixDeliver}, UpperBound: []byte{store.PrefixDeliver + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var s state
		if err := json.Unmarshal(it.Value(), &s); err != nil {
			return nil, fmt.Errorf("delivery state %q: %w", it.Key()[1:], err)
		}
		d.states[string(it.Key()[1:])] = &s
	}
	return d, it.Error()
}

// Status implements trail.Status.
func (d *Deliverer) Status(trailID string) trail.DeliveryStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.states[trailID]; ok {
		return s.Status
	}
	return trail.DeliveryStatus{}
}

// Delivered returns how many events and files this process delivered,
// and how many delivery attempts failed.
func (d *Deliverer) Delivered() (events, files, failures uint64) {
	return d.delivered.Load(), d.files.Load(), d.failures.Load()
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		more, err := d.pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if more {
			// A backlog (after an outage, or a burst larger than one
			// pass holds) is worked off at full speed, not one pass
			// per interval.
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// work is one trail's part in a pass.
type work struct {
	t     *trail.Trail
	st    *state
	match *selector.Matcher
	// members are the accounts an organization trail covers, as a set
	// for selection and as given, for the batch record.
	members    map[string]bool
	memberList []string
	b          *batch
	files      []*file
	byKey      map[fileKey]*file
	// quarantined are the records the trail selects in the batch's
	// range that no file can take, in ledger order.
	quarantined []QuarantinedRecord
	fits        map[string]bool // by Region, for unfit
}

type fileKey struct{ account, region string }

// file is one log file being built: records are slices of the pass's
// arena, in ledger order.
type file struct {
	account, region string
	part            int
	records         [][]byte
	seqs            []uint64 // the records' ledger positions, to spot identical files
	size            int
	oldest, newest  time.Time // eventTimes, for digests
	key             string
	body            *encoded // shared by the identical files of other trails
}

// encoded is a compressed file body, made once however many trails
// deliver the same records.
type encoded struct {
	once sync.Once
	body []byte
	hash string // hex SHA-256 of the uncompressed body, for digests
	err  error
}

func (e *encoded) get(records [][]byte) ([]byte, error) {
	e.once.Do(func() { e.body, e.hash, e.err = EncodeHashed(records) })
	return e.body, e.err
}

// share gives files with the same records one encoded body: trails whose
// selectors pick the same events in an account and Region (the default
// and "everything but KMS" often do) compress once.
func share(ws []*work) {
	type sig struct {
		first, last uint64
		n           int
	}
	seen := map[sig][]*file{}
	for _, w := range ws {
		for _, f := range w.files {
			k := sig{f.seqs[0], f.seqs[len(f.seqs)-1], len(f.seqs)}
			for _, g := range seen[k] {
				if slices.Equal(g.seqs, f.seqs) {
					f.body = g.body
					break
				}
			}
			if f.body == nil {
				f.body = &encoded{}
				seen[k] = append(seen[k], f)
			}
		}
	}
}

// pass does one round of delivery for every trail. more reports that
// some trail has work left that the pass did not get to.
func (d *Deliverer) pass(ctx context.Context) (more bool, err error) {
	trails := d.trails.All()
	d.forget(trails)
	last := d.ledger.Last()
	var redo []*work
	groups := map[uint64][]*work{}
	for _, t := range trails {
		st := d.stateOf(t.ID)
		if st.Pending != nil {
			if err := d.retarget(t, st); err != nil {
				return false, err
			}
			if w, ok := d.failed[t.ID]; ok && w.b == st.Pending {
				redo = append(redo, w)
				continue
			}
			redo = append(redo, d.workFor(st.Pending.Trail, st, st.Pending.Members, st.Pending))
			continue
		}
		next, ok := t.NextLogged(st.Cursor)
		if !ok || next > last {
			continue
		}
		if next-1 > st.Cursor {
			d.mu.Lock()
			st.Cursor = next - 1
			d.mu.Unlock()
		}
		w := d.workFor(t, st, d.members(t), nil)
		groups[st.Cursor] = append(groups[st.Cursor], w)
	}
	for _, w := range redo {
		if d.failed[w.t.ID] != w {
			if err := d.build(ctx, []*work{w}, w.b.From, w.b.To); err != nil {
				return false, err
			}
			if err := d.saveQuarantine(w); err != nil {
				return false, err
			}
		}
		ok := d.upload(ctx, w)
		d.remember(w, ok)
		if ok && w.b.To < last {
			more = true
		}
	}
	cursors := make([]uint64, 0, len(groups))
	for c := range groups {
		cursors = append(cursors, c)
	}
	sort.Slice(cursors, func(i, j int) bool { return cursors[i] < cursors[j] })
	for _, from := range cursors {
		end, ok, err := d.cut(ctx, groups[from], from, last)
		if err != nil {
			return false, err
		}
		if ok && end < last {
			more = true
		}
	}
	if d.cfg.Signer != nil {
		for _, t := range trails {
			if err := d.digests(ctx, t); err != nil {
				return false, err
			}
		}
	}
	return more, nil
}

// retarget points a pending batch at the trail's current bucket, prefix
// and topic when they changed since the batch was cut: a user who fixes a
// failing trail by giving it another bucket expects the waiting events
// there. What the batch holds (range, selection, delivery time) stays.
func (d *Deliverer) retarget(t *trail.Trail, st *state) error {
	p := st.Pending.Trail
	if p.S3BucketName == t.S3BucketName && p.S3KeyPrefix == t.S3KeyPrefix && p.SnsTopicARN == t.SnsTopicARN {
		return nil
	}
	d.mu.Lock()
	next := *st.Pending
	next.Trail = p.Clone()
	next.Trail.S3BucketName, next.Trail.S3KeyPrefix, next.Trail.SnsTopicARN = t.S3BucketName, t.S3KeyPrefix, t.SnsTopicARN
	st.Pending = &next
	d.mu.Unlock()
	delete(d.failed, t.ID)
	d.log.Info("pending log files follow the trail to its new destination", "trail", t.ARN(), "bucket", t.S3BucketName, "prefix", t.S3KeyPrefix)
	return d.saveState(t.ID, st)
}

// forget drops the state of trails that no longer exist.
func (d *Deliverer) forget(trails []*trail.Trail) {
	live := map[string]bool{}
	for _, t := range trails {
		live[t.ID] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.failed {
		if !live[id] {
			delete(d.failed, id)
		}
	}
	for id := range d.states {
		if !live[id] {
			if err := d.forgetQuarantine(id); err != nil {
				d.log.Warn("forget quarantined records", "trail_id", id, "err", err)
				continue
			}
			if err := d.db.Delete(append([]byte{store.PrefixDeliver}, id...), pebble.NoSync); err != nil {
				d.log.Warn("forget delivery state", "trail_id", id, "err", err)
				continue
			}
			delete(d.states, id)
		}
	}
}

func (d *Deliverer) stateOf(id string) *state {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.states[id]
	if !ok {
		s = &state{}
		d.states[id] = s
	}
	return s
}

func (d *Deliverer) members(t *trail.Trail) []string {
	if !t.IsOrganizationTrail || t.OrganizationID == "" {
		return nil
	}
	o, ok := d.orgs.OrgOf(t.Account)
	if !ok || o.ID != t.OrganizationID {
		return []string{t.Account}
	}
	return o.Members
}

func (d *Deliverer) workFor(t *trail.Trail, st *state, members []string, b *batch) *work {
	w := &work{t: t, st: st, match: selector.Compile(t.EventSelectors, t.AdvancedEventSelectors), b: b, byKey: map[fileKey]*file{}}
	if len(members) > 0 {
		w.memberList = members
		w.members = map[string]bool{}
		for _, m := range members {
			w.members[m] = true
		}
	}
	return w
}

// selects reports whether the trail of w delivers the event at seq.
// filled tells whether ev's detail fields were read from the record yet,
// so that the record is parsed at most once whatever the trails need.
func (w *work) selects(seq uint64, e *event.Envelope, ev *selector.Event, filled *bool) bool {
	t := w.t
	if !t.Logs(seq) {
		return false
	}
	if w.members != nil {
		if !w.members[e.AccountID] {
			return false
		}
	} else if e.AccountID != t.Account {
		return false
	}
	if event.IsGlobalServiceEvent(e.EventSource) && !t.IncludeGlobalServiceEvents {
		return false
	}
	if !t.IsMultiRegionTrail && e.Region != t.HomeRegion {
		return false
	}
	if w.match.NeedsDetail() && !*filled {
		*filled = true
		if err := selector.FillDetail(ev, e.Raw); err != nil {
			return false
		}
	}
	return w.match.Match(ev)
}

// add puts a record (already in the arena) into the trail's file for its
// account and Region, starting a new part when the file is full.
func (w *work) add(seq uint64, e *event.Envelope, raw []byte, maxFile int) {
	k := fileKey{e.AccountID, e.Region}
	f := w.byKey[k]
	if f != nil && f.size+len(raw)+1 > maxFile-len(`{"Records":[]}`) && len(f.records) > 0 {
		f = &file{account: k.account, region: k.region, part: f.part + 1}
		w.byKey[k] = f
		w.files = append(w.files, f)
	}
	if f == nil {
		f = &file{account: k.account, region: k.region}
		w.byKey[k] = f
		w.files = append(w.files, f)
	}
	f.records = append(f.records, raw)
	f.seqs = append(f.seqs, seq)
	if f.oldest.IsZero() || e.EventTime.Before(f.oldest) {
		f.oldest = e.EventTime
	}
	if e.EventTime.After(f.newest) {
		f.newest = e.EventTime
	}
	f.size += len(raw) + 1
}

// build scans the ledger range (from, to] once for every trail of ws and
// sorts the records each selects into files. It returns the end of the
// range it covered, which is to unless the pass's memory bound cut it short.
func (d *Deliverer) build(ctx context.Context, ws []*work, from, to uint64) error {
	_, err := d.scan(ctx, ws, from, to, false)
	return err
}

func (d *Deliverer) scan(ctx context.Context, ws []*work, from, to uint64, bounded bool) (uint64, error) {
	var (
		e    event.Envelope
		ev   selector.Event
		held int
		end  = from
		full = errors.New("batch full")
	)
	for end < to {
		limit := int(min(to-end, 16384))
		_, err := d.ledger.Scan(end+1, limit, func(seq uint64, v []byte) error {
			if bounded && held >= d.cfg.MaxBatchBytes {
				return full
			}
			if err := e.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("ledger entry %d: %w", seq, err)
			}
			ev = selector.Event{Category: e.Category.String(), ReadOnly: e.ReadOnly, EventSource: e.EventSource, EventName: e.EventName}
			var raw []byte
			filled, judged, why := false, false, ""
			for _, w := range ws {
				if !w.selects(seq, &e, &ev, &filled) {
					continue
				}
				if !judged {
					judged, why = true, unplaceable(&e)
				}
				if why != "" {
					w.quarantine(seq, &e, why)
					continue
				}
				if unfit := w.unfit(&e); unfit != "" {
					w.quarantine(seq, &e, unfit)
					continue
				}
				if raw == nil {
					raw = bytes.Clone(e.Raw)
					held += len(raw)
				}
				w.add(seq, &e, raw, d.cfg.MaxFileBytes)
			}
			end = seq
			return nil
		})
		if errors.Is(err, full) {
			return end, nil
		}
		if err != nil {
			return end, err
		}
		if err := ctx.Err(); err != nil {
			return end, err
		}
	}
	return end, nil
}

// cut starts a new batch for a group of trails whose cursors are all
// from: one scan, then each trail's pending batch is synced before its
// files are written. It returns where the batch ended and whether every
// trail's files were written.
func (d *Deliverer) cut(ctx context.Context, ws []*work, from, last uint64) (uint64, bool, error) {
	end, err := d.scan(ctx, ws, from, last, true)
	if err != nil {
		return from, false, err
	}
	if end == from {
		return end, true, nil
	}
	now := d.now().UTC()
	b := d.db.NewBatch()
	defer b.Close()
	// The batch's quarantined records are listed in the commit that makes
	// it pending (or moves the cursor past it), so that they are counted
	// once whatever happens to its files.
	added := make([]int, len(ws))
	for i, w := range ws {
		if added[i], err = d.setQuarantine(b, w, now); err != nil {
			return from, false, err
		}
	}
	var toUpload []*work
	d.mu.Lock()
	for i, w := range ws {
		w.st.Status.QuarantinedRecords += uint64(added[i])
		if len(w.files) == 0 {
			w.st.Cursor = end
		} else {
			w.b = &batch{From: from, To: end, Time: now, Trail: w.t, Members: w.memberList}
			w.st.Pending = w.b
			toUpload = append(toUpload, w)
		}
		if err := d.setState(b, w.t.ID, w.st); err != nil {
			d.mu.Unlock()
			return from, false, err
		}
	}
	d.mu.Unlock()
	if err := b.Commit(pebble.Sync); err != nil {
		return from, false, fmt.Errorf("delivery state: %w", err)
	}
	for i, w := range ws {
		if added[i] > 0 {
			d.quarantinedNow(w, added[i])
		}
	}
	share(toUpload)
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	for _, w := range toUpload {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !d.upload(ctx, w) {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	for _, w := range toUpload {
		d.remember(w, w.st.Pending != w.b)
	}
	return end, !failed.Load(), nil
}

// remember keeps a failed batch's files for its retry, or forgets them.
func (d *Deliverer) remember(w *work, delivered bool) {
	if delivered {
		delete(d.failed, w.t.ID)
	} else {
		d.failed[w.t.ID] = w
	}
}

// setState writes a trail's state into b. Callers hold mu.
func (d *Deliverer) setState(b *pebble.Batch, id string, st *state) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return b.Set(append([]byte{store.PrefixDeliver}, id...), v, nil)
}

func (d *Deliverer) saveState(id string, st *state) error {
	b := d.db.NewBatch()
	defer b.Close()
	d.mu.Lock()
	err := d.setState(b, id, st)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// upload writes the files of a trail's pending batch and, when all are
// in, moves the trail's cursor past the batch. A failure leaves the batch
// pending for the next pass. It reports success.
func (d *Deliverer) upload(ctx context.Context, w *work) bool {
	b := w.b
	t := b.Trail
	attempt := d.now().UTC()
	err := d.write(ctx, w)
	d.mu.Lock()
	w.st.Status.LatestDeliveryAttemptTime = attempt
	prevErr := w.st.Status.LatestDeliveryError
	if err != nil {
		w.st.Status.LatestDeliveryError = deliveryError(err)
	} else {
		w.st.Status.LatestDeliveryError = ""
		w.st.Status.LatestDeliveryTime = d.now().UTC()
		w.st.Status.LatestDeliveryAttemptSucceeded = attempt
		w.st.Cursor = b.To
		w.st.Pending = nil
		if t.LogFileValidationEnabled && d.cfg.Signer != nil {
			d.recordFiles(w, d.now().UTC())
		}
	}
	d.mu.Unlock()
	if err != nil {
		d.failures.Add(1)
		// Retries come every pass: say it once per kind of failure.
		if ctx.Err() == nil && deliveryError(err) != prevErr {
			d.log.Warn("log file delivery failed; will retry", "trail", t.ARN(), "bucket", t.S3BucketName, "err", err)
		}
		// The status is kept in memory; the pending batch is already stored.
		return false
	}
	if prevErr != "" {
		d.log.Info("log file delivery resumed", "trail", t.ARN(), "bucket", t.S3BucketName)
	}
	if err := d.saveState(t.ID, w.st); err != nil {
		d.log.Error("delivery state", "trail", t.ARN(), "err", err)
	}
	n := 0
	keys := make([]string, len(w.files))
	for i, f := range w.files {
		n += len(f.records)
		keys[i] = f.key
	}
	d.delivered.Add(uint64(n))
	d.files.Add(uint64(len(w.files)))
	if t.SnsTopicARN != "" && d.notifier != nil {
		d.notify(t, w.st, keys)
	}
	return true
}

func (d *Deliverer) notify(t *trail.Trail, st *state, keys []string) {
	attempt := d.now().UTC()
	d.notifier.Notify(t.SnsTopicARN, t.S3BucketName, keys, func(err error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		st.Status.LatestNotificationAttemptTime = attempt
		if err != nil {
			st.Status.LatestNotificationError = err.Error()
			return
		}
		st.Status.LatestNotificationError = ""
		st.Status.LatestNotificationTime = d.now().UTC()
		st.Status.LatestNotificationAttemptSucceeded = attempt
	})
}

// errAccessDenied is a delivery refused by the bucket's policy.
var errAccessDenied = errors.New("AccessDenied")

// deliveryError is the LatestDeliveryError of a failed attempt: an S3
// error code where there is one, as AWS shows them.
func deliveryError(err error) string {
	var api smithy.APIError
	var op *net.OpError
	switch {
	case errors.Is(err, errAccessDenied):
		return "AccessDenied"
	case errors.Is(err, objstore.ErrNoSuchBucket):
		return "NoSuchBucket"
	case errors.Is(err, objstore.ErrNoObjectLock):
		// S3's answer to a retained PUT into a bucket without Object Lock.
		return "InvalidRequest: Bucket is missing Object Lock Configuration"
	case errors.As(err, &api):
		return api.ErrorCode()
	case errors.As(err, &op):
		return "the bucket's endpoint cannot be reached: " + op.Err.Error()
	}
	return err.Error()
}

// write compresses and stores every file of w's batch.
func (d *Deliverer) write(ctx context.Context, w *work) error {
	b := w.b
	t := b.Trail
	st, err := d.buckets.Store(t.S3BucketName)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", t.S3BucketName, err)
	}
	opts, err := d.putOptions(t.S3BucketName)
	if err != nil {
		return err
	}
	for _, f := range w.files {
		f.key = FileKey(t.S3KeyPrefix, t.OrganizationID, f.account, f.region, b.Time, Unique(t.ID, b.From, b.To, f.account, f.region, f.part))
		if !d.buckets.CanDeliver(t.S3BucketName, t.Account, t.ARN(), f.key) {
			return fmt.Errorf("bucket %s refuses %s: %w", t.S3BucketName, f.key, errAccessDenied)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.cfg.Uploads)
	for _, f := range w.files {
		g.Go(func() error {
			if f.body == nil {
				f.body = &encoded{}
			}
			body, err := f.body.get(f.records)
			if err != nil {
				return err
			}
			return st.Put(gctx, t.S3BucketName, f.key, body, opts)
		})
	}
	return g.Wait()
}

// putOptions are the options of a log or digest file delivered into the
// bucket now, with its retention if the bucket asks for one.
func (d *Deliverer) putOptions(bucket string) (objstore.PutOptions, error) {
	o := objstore.PutOptions{ContentType: "application/json", ContentEncoding: "gzip"}
	keep, err := d.buckets.Retention(bucket)
	if err != nil {
		return o, err
	}
	if keep > 0 {
		o.RetainUntil = d.now().UTC().Add(keep).Truncate(time.Second)
	}
	return o, nil
}

// Encode writes records as one gzip member holding {"Records":[...]}.
// The output depends only on the records, so that a replay writes the
// same bytes.
func Encode(records [][]byte) ([]byte, error) {
	b, _, err := EncodeHashed(records)
	return b, err
}

// EncodeHashed is Encode that also returns the hex SHA-256 of the
// uncompressed file, as digests record it.
func EncodeHashed(records [][]byte) ([]byte, string, error) {
	size := 16
	for _, r := range records {
		size += len(r) + 1
	}
	var buf bytes.Buffer
	buf.Grow(size/6 + 64)
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	w := io.MultiWriter(zw, h)
	w.Write([]byte(`{"Records":[`))
	for i, r := range records {
		if i > 0 {
			w.Write([]byte{','})
		}
		w.Write(r)
	}
	w.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}
