package lake

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Statuses of an event data store, as CloudTrail names them.
const (
	StatusCreated           = "CREATED"
	StatusEnabled           = "ENABLED"
	StatusPendingDeletion   = "PENDING_DELETION"
	StatusStartingIngestion = "STARTING_INGESTION"
	StatusStoppingIngestion = "STOPPING_INGESTION"
	StatusStoppedIngestion  = "STOPPED_INGESTION"
)

// Billing modes and their retention limits, in days.
const (
	BillingExtendable = "EXTENDABLE_RETENTION_PRICING"
	BillingFixed      = "FIXED_RETENTION_PRICING"

	MinRetention           = 7
	MaxRetention           = 3653
	MaxRetentionFixed      = 2557
	DefaultRetention       = 366
	DefaultRetentionFixed  = 2557
	MaxStoresPerRegion     = 10
	PendingDeletionPeriod  = 7 * 24 * time.Hour
	maxIngestionWindows    = 64
	defaultSelectorName    = "Default management events"
	eventDataStoreARNInfix = ":eventdatastore/"
)

// EventDataStore is an event data store as cairn keeps it.
type EventDataStore struct {
	ID      string `json:"id"` // a lower-case UUID
	Name    string `json:"name"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Status is ENABLED or STOPPED_INGESTION while the store lives, and
	// PENDING_DELETION after DeleteEventDataStore.
	Status                       string                           `json:"status"`
	Selectors                    []selector.AdvancedEventSelector `json:"selectors"`
	MultiRegionEnabled           bool                             `json:"multiRegion"`
	OrganizationEnabled          bool                             `json:"organization"`
	RetentionPeriod              int                              `json:"retention"`
	TerminationProtectionEnabled bool                             `json:"terminationProtection"`
	BillingMode                  string                           `json:"billingMode"`
	KmsKeyID                     string                           `json:"kmsKeyId,omitempty"`
	Tags                         []trail.Tag                      `json:"tags,omitempty"`
	Created                      time.Time                        `json:"created"`
	Updated                      time.Time                        `json:"updated"`
	// Deleted is when DeleteEventDataStore put the store in
	// PENDING_DELETION; it is gone 7 days later. StatusBefore is what
	// RestoreEventDataStore returns it to.
	Deleted      time.Time `json:"deleted,omitzero"`
	StatusBefore string    `json:"statusBefore,omitempty"`
	// Windows are the ledger ranges the store ingests: one opened by each
	// start of ingestion, closed by its stop.
	Windows []trail.Window `json:"windows"`
}

// ARN is the store's ARN.
func (s *EventDataStore) ARN() string {
	return "arn:aws:cloudtrail:" + s.Region + ":" + s.Account + eventDataStoreARNInfix + s.ID
}

// Table is the DuckDB table that holds the store's events.
func (s *EventDataStore) Table() string { return TableOf(s.ID) }

// TableOf is the DuckDB table of the store with this ID.
func TableOf(id string) string { return "eds_" + strings.ReplaceAll(id, "-", "") }

// Ingesting reports whether the store takes new events.
func (s *EventDataStore) Ingesting() bool {
	n := len(s.Windows)
	return n > 0 && s.Windows[n-1].To == 0 && s.Status != StatusPendingDeletion
}

// Takes reports whether the ledger entry at seq falls in an ingestion
// window of the store.
func (s *EventDataStore) Takes(seq uint64) bool {
	t := trail.Trail{Windows: s.Windows}
	return t.Logs(seq)
}

func (s *EventDataStore) clone() *EventDataStore {
	c := *s
	c.Selectors = append([]selector.AdvancedEventSelector(nil), s.Selectors...)
	c.Tags = append([]trail.Tag(nil), s.Tags...)
	c.Windows = append([]trail.Window(nil), s.Windows...)
	return &c
}

// Stores is the set of event data stores, in memory and written through
// to the database.
type Stores struct {
	db *pebble.DB

	mu      sync.RWMutex
	byID    map[string]*EventDataStore
	changed chan struct{}
}

// OpenStores loads the event data stores kept in db.
func OpenStores(db *pebble.DB) (*Stores, error) {
	s := &Stores{db: db, byID: map[string]*EventDataStore{}, changed: make(chan struct{})}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixLake}, UpperBound: []byte{store.PrefixLake + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var e EventDataStore
		if err := json.Unmarshal(it.Value(), &e); err != nil {
			return nil, fmt.Errorf("load event data store %q: %w", it.Key()[1:], err)
		}
		s.byID[e.ID] = &e
	}
	return s, it.Error()
}

// Get returns a copy of the store with this ID.
func (s *Stores) Get(id string) (*EventDataStore, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return e.clone(), true
}

// All returns copies of every store, by ID.
func (s *Stores) All() []*EventDataStore {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*EventDataStore, 0, len(s.byID))
	for _, e := range s.byID {
		out = append(out, e.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Put stores e (a new store or a change), synced.
func (s *Stores) Put(e *EventDataStore) error {
	if n := len(e.Windows); n > maxIngestionWindows {
		e.Windows = e.Windows[n-maxIngestionWindows:]
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := s.db.Set(append([]byte{store.PrefixLake}, e.ID...), v, pebble.Sync); err != nil {
		return fmt.Errorf("store event data store %s: %w", e.ID, err)
	}
	s.mu.Lock()
	s.byID[e.ID] = e.clone()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Remove forgets a store for good.
func (s *Stores) Remove(id string) error {
	if err := s.db.Delete(append([]byte{store.PrefixLake}, id...), pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.byID, id)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// Changed is closed at the next change of any store.
func (s *Stores) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}
