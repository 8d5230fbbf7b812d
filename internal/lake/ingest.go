package lake

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Ingester is the ledger consumer that feeds every event data store: each
// store has its own cursor, kept in its account's database with its rows.
type Ingester struct {
	Ledger *ledger.Ledger
	Stores *Stores
	DBs    *Databases
	Log    *slog.Logger
	// Now is the clock of retention and deletion (time.Now if nil).
	Now func() time.Time
	// BatchRecords bounds the records one transaction ingests.
	BatchRecords int
	// ManagedBy, if set, names the management account of the
	// organization an account belongs to: an organization store of that
	// management account takes the members' events too.
	ManagedBy func(account string) (string, bool)

	cursors   map[string]uint64
	lastSweep time.Time
}

func (g *Ingester) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// takesAccount says whether store s takes the events of account: its
// own, and for an organization store its organization's members'.
func (g *Ingester) takesAccount(s *EventDataStore, account string) bool {
	if account == s.Account {
		return true
	}
	if !s.OrganizationEnabled || g.ManagedBy == nil {
		return false
	}
	mgmt, ok := g.ManagedBy(account)
	return ok && mgmt == s.Account
}

// passSpacing is the least time between passes that new ledger entries
// start.
const passSpacing = 250 * time.Millisecond

// Run ingests until ctx ends.
func (g *Ingester) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		changed, stores := g.Ledger.Changed(), g.Stores.Changed()
		more, err := g.Pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			g.Log.Error("lake ingestion failed; will retry", "err", err)
		}
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// New events are taken a few times a second, not call by
			// call: each pass is a transaction per store, and queries
			// share the database with it.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(passSpacing):
			}
		case <-stores:
		case <-tick.C:
		}
	}
}

// Pass ingests what the stores have not yet taken, at most one batch per
// store, and says whether more is waiting. Once an hour it also applies
// retention and removes stores whose 7 days of pending deletion are over.
func (g *Ingester) Pass(ctx context.Context) (more bool, err error) {
	if g.cursors == nil {
		g.cursors = map[string]uint64{}
	}
	if now := g.now(); now.Sub(g.lastSweep) >= time.Hour {
		if err := g.sweep(ctx, now); err != nil {
			return false, err
		}
		g.lastSweep = now
	}
	last := g.Ledger.Last()
	for _, s := range g.Stores.All() {
		if s.Status == StatusPendingDeletion {
			continue
		}
		db, err := g.DBs.For(ctx, s.Account)
		if err != nil {
			return false, err
		}
		// A store an import is filling takes the ledger's events after
		// the import, from its cursor.
		if db.InBulk(s.Table()) {
			continue
		}
		cur, ok := g.cursors[s.ID]
		if !ok {
			if err := db.EnsureStore(ctx, s); err != nil {
				return false, err
			}
			if cur, err = db.Cursor(ctx, s.ID); err != nil {
				return false, err
			}
			g.cursors[s.ID] = cur
		}
		next, ok := (&trail.Trail{Windows: s.Windows}).NextLogged(cur)
		if !ok || next > last {
			continue
		}
		end, err := g.ingest(ctx, db, s, next-1, last)
		if err != nil {
			return false, err
		}
		g.cursors[s.ID] = end
		if end < last {
			more = true
		}
	}
	return more, nil
}

// ingest takes one batch of a store's events after cursor and returns
// the new cursor.
func (g *Ingester) ingest(ctx context.Context, db *DB, s *EventDataStore, cursor, last uint64) (uint64, error) {
	limit := g.BatchRecords
	if limit <= 0 {
		limit = 20000
	}
	m := selector.Compile(nil, s.Selectors)
	var (
		e       event.Envelope
		ev      selector.Event
		records [][]byte
		end     = cursor
		scanned int
	)
	for end < last && scanned < limit {
		n := int(min(last-end, uint64(limit-scanned)))
		_, err := g.Ledger.Scan(end+1, n, func(seq uint64, v []byte) error {
			end = seq
			scanned++
			if !s.Takes(seq) {
				return nil
			}
			if err := e.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("ledger entry %d: %w", seq, err)
			}
			if !g.takesAccount(s, e.AccountID) || (!s.MultiRegionEnabled && e.Region != s.Region) {
				return nil
			}
			ev = selector.Event{Category: e.Category.String(), ReadOnly: e.ReadOnly, EventSource: e.EventSource, EventName: e.EventName}
			if m.NeedsDetail() {
				if err := selector.FillDetail(&ev, e.Raw); err != nil {
					return nil
				}
			}
			if m.Match(&ev) {
				records = append(records, bytes.Clone(e.Raw))
			}
			return nil
		})
		if err != nil {
			return cursor, err
		}
	}
	if err := db.Ingest(ctx, s.ID, s.Table(), records, end); err != nil {
		return cursor, err
	}
	return end, nil
}

// sweep applies each store's retention and removes the stores whose
// pending deletion has run its 7 days.
func (g *Ingester) sweep(ctx context.Context, now time.Time) error {
	for _, s := range g.Stores.All() {
		db, err := g.DBs.For(ctx, s.Account)
		if err != nil {
			return err
		}
		if s.Status == StatusPendingDeletion {
			if now.Sub(s.Deleted) < PendingDeletionPeriod {
				continue
			}
			if err := db.Drop(ctx, s.ID, s.Table()); err != nil {
				return err
			}
			if err := g.Stores.Remove(s.ID); err != nil {
				return err
			}
			delete(g.cursors, s.ID)
			g.Log.Info("event data store deleted after its pending deletion", "arn", s.ARN())
			continue
		}
		if err := db.EnsureStore(ctx, s); err != nil {
			return err
		}
		cutoff := now.AddDate(0, 0, -s.RetentionPeriod)
		if n, err := db.Expire(ctx, s.Table(), cutoff); err != nil {
			return err
		} else if n > 0 {
			g.Log.Info("event data store retention", "arn", s.ARN(), "removed", n, "before", cutoff.Format(time.RFC3339))
		}
	}
	return nil
}
