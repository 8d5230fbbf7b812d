package trail

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/store"
)

// Org is what trails need to know of an organization.
type Org struct {
	ID         string
	Management string
	Members    []string // member accounts, the management account included
}

// Has reports whether account belongs to the organization.
func (o Org) Has(account string) bool {
	return account == o.Management || slices.Contains(o.Members, account)
}

// Orgs tells which organization an account belongs to.
type Orgs interface {
	OrgOf(account string) (Org, bool)
}

// Store keeps every trail, in memory and durably in a Pebble database.
type Store struct {
	db *pebble.DB

	mu      sync.RWMutex
	trails  map[string]*Trail // by ARN
	changed chan struct{}
}

// ErrNotFound is returned for a trail that does not exist.
var ErrNotFound = errors.New("trail not found")

// Open loads the trails kept in db.
func Open(db *pebble.DB) (*Store, error) {
	s := &Store{db: db, trails: map[string]*Trail{}, changed: make(chan struct{})}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixTrail}, UpperBound: []byte{store.PrefixTrail + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var t Trail
		if err := json.Unmarshal(it.Value(), &t); err != nil {
			return nil, fmt.Errorf("trail %q: %w", it.Key()[1:], err)
		}
		s.trails[t.ARN()] = &t
	}
	return s, it.Error()
}

func trailKey(arn string) []byte { return append([]byte{store.PrefixTrail}, arn...) }

// put stores t durably and makes it current. Callers hold mu.
func (s *Store) put(t *Trail) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.db.Set(trailKey(t.ARN()), v, pebble.Sync); err != nil {
		return fmt.Errorf("store trail: %w", err)
	}
	s.trails[t.ARN()] = t
	s.notify()
	return nil
}

func (s *Store) remove(t *Trail) error {
	if err := s.db.Delete(trailKey(t.ARN()), pebble.Sync); err != nil {
		return fmt.Errorf("delete trail: %w", err)
	}
	delete(s.trails, t.ARN())
	s.notify()
	return nil
}

func (s *Store) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change of any trail.
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// All returns copies of every trail, ordered by ARN.
func (s *Store) All() []*Trail {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Trail, 0, len(s.trails))
	for _, t := range s.trails {
		out = append(out, t.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN() < out[j].ARN() })
	return out
}

// ByID returns a copy of the trail with this ID.
func (s *Store) ByID(id string) (*Trail, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.trails {
		if t.ID == id {
			return t.Clone(), true
		}
	}
	return nil, false
}

// visible reports whether a caller of account in region sees t, and
// whether it sees it as a shadow (a copy outside the home Region, or an
// organization trail seen from a member account). Callers hold mu.
func visible(t *Trail, account, region string, orgs Orgs) (ok, shadow bool) {
	own := t.Account == account
	if !own {
		if !t.IsOrganizationTrail {
			return false, false
		}
		o, in := orgs.OrgOf(account)
		if !in || o.ID != t.OrganizationID || o.Management != t.Account {
			return false, false
		}
	}
	if t.HomeRegion == region {
		return true, !own
	}
	if t.IsMultiRegionTrail {
		return true, true
	}
	return false, false
}

// inRegion returns the trails a caller of account sees in region, in
// creation order.
func (s *Store) inRegion(account, region string, orgs Orgs, shadows bool) []*Trail {
	var out []*Trail
	for _, t := range s.trails {
		ok, shadow := visible(t, account, region, orgs)
		if ok && (shadows || !shadow) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ARN() < out[j].ARN()
	})
	return out
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Put stores a trail as given, without the checks of the API: for tests
// and tools that build trails directly.
func (s *Store) Put(t *Trail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(t.Clone())
}
