package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/store"
)

// ErrInvalidAccount is an account ID that is not 12 digits.
var ErrInvalidAccount = errors.New("account ID must be 12 digits")

// Bucket is a bucket as cairn knows it.
type Bucket struct {
	Name    string    `json:"Name"`
	Owner   string    `json:"Owner"`   // account ID
	Backend string    `json:"Backend"` // key of the Store that holds it
	Created time.Time `json:"Created"`
	// Allowed are the other accounts whose trails may deliver here.
	Allowed []string `json:"Allowed,omitempty"`
	// Policy is an S3 bucket policy (JSON), may be empty.
	Policy     string `json:"Policy,omitempty"`
	ObjectLock bool   `json:"ObjectLock,omitempty"`
	// RetentionDays, when above zero, is how long every log and digest
	// file delivered here is retained; zero means the server's default.
	RetentionDays int `json:"RetentionDays,omitempty"`
}

// MaxRetentionDays bounds a retention period, as S3 does (100 years).
const MaxRetentionDays = 36500

type registered struct {
	Bucket
	policy *policy // parsed Policy
}

// Registry is the set of buckets cairn serves: kept in memory, written
// through to the database.
type Registry struct {
	db       *pebble.DB
	backends map[string]Store
	def      string
	now      func() time.Time
	// retention is the server's default retention in days for buckets
	// without their own; buckets made while it is set get Object Lock.
	retention int

	mu       sync.RWMutex
	buckets  map[string]*registered
	creating map[string]bool // names whose backend bucket is being made
}

// OpenRegistry loads the buckets kept in db. New buckets go to the backend
// named defaultBackend.
func OpenRegistry(db *pebble.DB, backends map[string]Store, defaultBackend string) (*Registry, error) {
	if _, ok := backends[defaultBackend]; !ok {
		return nil, fmt.Errorf("open bucket registry: default backend %q is not configured", defaultBackend)
	}
	r := &Registry{db: db, backends: backends, def: defaultBackend, now: time.Now,
		buckets: map[string]*registered{}, creating: map[string]bool{}}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixBucket}, UpperBound: []byte{store.PrefixBucket + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var b Bucket
		if err := json.Unmarshal(it.Value(), &b); err != nil {
			return nil, fmt.Errorf("load bucket %q: %w", it.Key()[1:], err)
		}
		e := &registered{Bucket: b}
		if b.Policy != "" {
			// A stored policy was valid when set; one that no longer parses
			// (a stricter cairn) grants nothing rather than stopping startup.
			e.policy, _ = parsePolicy(b.Name, b.Policy)
		}
		r.buckets[b.Name] = e
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("load buckets: %w", err)
	}
	return r, nil
}

func (r *Registry) put(b Bucket) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := r.db.Set(append([]byte{store.PrefixBucket}, b.Name...), v, pebble.Sync); err != nil {
		return fmt.Errorf("store bucket %s: %w", b.Name, err)
	}
	return nil
}

// SetDefaultRetention sets the retention of files delivered into buckets
// that have no retention of their own. While it is above zero, new
// buckets are made with Object Lock.
func (r *Registry) SetDefaultRetention(days int) error {
	if days < 0 || days > MaxRetentionDays {
		return fmt.Errorf("%w: %d days", ErrInvalidRetention, days)
	}
	r.mu.Lock()
	r.retention = days
	r.mu.Unlock()
	return nil
}

// ErrInvalidRetention is a retention period outside 0..MaxRetentionDays.
var ErrInvalidRetention = errors.New("retention must be between 0 and 36500 days")

// SetRetention sets a bucket's own retention in days; 0 returns it to the
// server's default. The bucket must have Object Lock. Files already
// delivered keep the retention they were written with.
func (r *Registry) SetRetention(name string, days int) error {
	if days < 0 || days > MaxRetentionDays {
		return fmt.Errorf("%w: %d days", ErrInvalidRetention, days)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.buckets[name]
	if !ok {
		return fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	if days > 0 && !e.ObjectLock {
		return fmt.Errorf("bucket %s: %w", name, ErrNoObjectLock)
	}
	b := e.copy()
	b.RetentionDays = days
	if err := r.put(b); err != nil {
		return err
	}
	e.Bucket = b
	return nil
}

// Retention returns how long a file delivered into the bucket now must be
// retained: the bucket's own period, else the server's default; zero for
// none. A bucket without Object Lock under a server default is an error
// wrapping ErrNoObjectLock, so that nothing is delivered unprotected.
func (r *Registry) Retention(name string) (time.Duration, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.buckets[name]
	if !ok {
		return 0, fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	days := e.RetentionDays
	if days == 0 {
		days = r.retention
	}
	if days == 0 {
		return 0, nil
	}
	if !e.ObjectLock {
		return 0, fmt.Errorf("bucket %s: %w; the server retains every delivered file %d days", name, ErrNoObjectLock, days)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// CreateOptions say where and how Create makes a bucket.
type CreateOptions struct {
	// Backend is "fs", or "s3" when the server has an S3 endpoint; ""
	// is the server's default.
	Backend    string
	ObjectLock bool
	// Adopt registers a bucket the backend already has (a directory
	// prepared by hand, an S3 bucket the server's credentials reach, or
	// one a Create cut short left behind) instead of refusing its name.
	// Only the administrator may adopt: for anyone else it would hand over
	// a bucket, and what is in it, that is not theirs.
	Adopt bool
}

// ErrNoSuchBackend is returned for a backend name the server does not have.
var ErrNoSuchBackend = errors.New("no such backend")

// Create registers a new bucket for owner and makes it on its backend. A
// name the registry has, or the backend has (unless o.Adopt), is refused
// with ErrBucketExists, and nothing changes.
func (r *Registry) Create(ctx context.Context, owner, name string, o CreateOptions) (Bucket, error) {
	backendName := o.Backend
	if backendName == "" {
		backendName = r.def
	}
	backend, ok := r.backends[backendName]
	if !ok {
		return Bucket{}, fmt.Errorf("%w: %q", ErrNoSuchBackend, backendName)
	}
	if !ValidBucketName(name) {
		return Bucket{}, fmt.Errorf("%w: %q", ErrInvalidBucketName, name)
	}
	if !event.ValidAccountID(owner) {
		return Bucket{}, fmt.Errorf("owner %q: %w", owner, ErrInvalidAccount)
	}
	r.mu.Lock()
	objectLock := o.ObjectLock || r.retention > 0
	if _, ok := r.buckets[name]; ok || r.creating[name] {
		r.mu.Unlock()
		return Bucket{}, fmt.Errorf("bucket %s: %w", name, ErrBucketExists)
	}
	// The backend call may be slow (S3); hold the name, not the lock.
	r.creating[name] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.creating, name)
		r.mu.Unlock()
	}()

	if err := makeBucket(ctx, backend, name, objectLock, o.Adopt); err != nil {
		return Bucket{}, fmt.Errorf("create bucket %s: %w", name, err)
	}
	b := Bucket{Name: name, Owner: owner, Backend: backendName, Created: r.now().UTC().Truncate(time.Second), ObjectLock: objectLock}
	if err := r.put(b); err != nil {
		return Bucket{}, err
	}
	r.mu.Lock()
	r.buckets[name] = &registered{Bucket: b}
	r.mu.Unlock()
	return b, nil
}

// makeBucket makes the bucket on the backend. A bucket already there is
// ErrBucketExists, or, with adopt, taken as it is if the backend can reach
// it.
func makeBucket(ctx context.Context, backend Store, name string, objectLock, adopt bool) error {
	if !adopt {
		// CreateBucket's answer alone does not tell: S3 in us-east-1
		// answers a CreateBucket of a bucket its caller owns with success.
		there, err := backend.BucketExists(ctx, name)
		switch {
		case there || errors.Is(err, ErrAccessDenied):
			return fmt.Errorf("%w on the backend", ErrBucketExists)
		case err != nil:
			return err
		}
	}
	err := backend.CreateBucket(ctx, name, objectLock)
	if !errors.Is(err, ErrBucketExists) {
		return err
	}
	if !adopt {
		return err
	}
	// S3 says "exists" for other owners' buckets too; only one the
	// backend can reach is there to adopt.
	there, err := backend.BucketExists(ctx, name)
	switch {
	case !there && (err == nil || errors.Is(err, ErrAccessDenied)):
		return fmt.Errorf("%w on the backend, under another owner", ErrBucketExists)
	case err != nil:
		return fmt.Errorf("it exists on the backend: %w", err)
	}
	return nil
}

// Get returns a bucket.
func (r *Registry) Get(name string) (Bucket, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.buckets[name]
	if !ok {
		return Bucket{}, false
	}
	return e.copy(), true
}

func (e *registered) copy() Bucket {
	b := e.Bucket
	b.Allowed = slices.Clone(b.Allowed)
	return b
}

// List returns the buckets of owner ("" for every owner), by name.
func (r *Registry) List(owner string) []Bucket {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []Bucket{}
	for _, e := range r.buckets {
		if owner == "" || e.Owner == owner {
			out = append(out, e.copy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Allow lets the trails of another account deliver into the bucket.
func (r *Registry) Allow(name, account string) error {
	if !event.ValidAccountID(account) {
		return fmt.Errorf("account %q: %w", account, ErrInvalidAccount)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.buckets[name]
	if !ok {
		return fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	if slices.Contains(e.Allowed, account) {
		return nil
	}
	b := e.copy()
	b.Allowed = append(b.Allowed, account)
	slices.Sort(b.Allowed)
	if err := r.put(b); err != nil {
		return err
	}
	e.Bucket = b
	return nil
}

// SetPolicy replaces the bucket's policy; "" removes it.
func (r *Registry) SetPolicy(name, policyJSON string) error {
	policyJSON = strings.TrimSpace(policyJSON)
	var p *policy
	if policyJSON != "" {
		var err error
		if p, err = parsePolicy(name, policyJSON); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.buckets[name]
	if !ok {
		return fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	b := e.copy()
	b.Policy = policyJSON
	if err := r.put(b); err != nil {
		return err
	}
	e.Bucket, e.policy = b, p
	return nil
}

// Store returns the backend that holds the bucket.
func (r *Registry) Store(name string) (Store, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.buckets[name]
	if !ok {
		return nil, fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	s, ok := r.backends[e.Backend]
	if !ok {
		return nil, fmt.Errorf("bucket %s: backend %q is not configured", name, e.Backend)
	}
	return s, nil
}

// CanDeliver reports whether a trail of account (with ARN trailARN) may
// write key into the bucket. The owner always may; another account when
// it is Allowed or the bucket policy allows CloudTrail's PutObject for it,
// and no statement of the policy denies it.
func (r *Registry) CanDeliver(name, account, trailARN, key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.buckets[name]
	if !ok || !event.ValidAccountID(account) {
		return false
	}
	if account == e.Owner {
		return true
	}
	allow, deny := e.policy.decide(delivery{account: account, trailARN: trailARN, resource: "arn:aws:s3:::" + name + "/" + key})
	if deny {
		return false
	}
	return allow || slices.Contains(e.Allowed, account)
}

// ValidBucketName reports whether name follows S3's rules for new
// buckets: 3-63 lower-case letters, digits, '.' and '-', beginning and
// ending with a letter or digit, no "..", not shaped like an IP address,
// and none of the prefixes and suffixes S3 reserves.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return false
		}
		if (i == 0 || i == len(name)-1) && !alnum {
			return false
		}
	}
	if ipShaped(name) {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

// ipShaped reports four dot-separated runs of digits, valid address or not
// ("999.1.1.1"), as S3 refuses them all.
func ipShaped(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Backends names the backends buckets can be made on, sorted.
func (r *Registry) Backends() []string {
	out := make([]string, 0, len(r.backends))
	for n := range r.backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
