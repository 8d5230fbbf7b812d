package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-audit/cairn/internal/lake"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// openLake opens CloudTrail Lake: the event data stores (kept in the
// ledger database), the DuckDB databases of their events (one per
// account) under <data-dir>/lake, their ingestion from the ledger and the
// queries.
func (s *Server) openLake(cfg Config, log *slog.Logger) error {
	stores, err := lake.OpenStores(s.ledgerDB)
	if err != nil {
		return fmt.Errorf("event data stores: %w", err)
	}
	dir := filepath.Join(cfg.DataDir, "lake")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := lake.OpenDatabases(ctx, dir, cfg.Lake, stores, log)
	if err != nil {
		return err
	}
	s.lakeDB = db
	channels, err := lake.OpenChannels(s.ledgerDB)
	if err != nil {
		return fmt.Errorf("channels: %w", err)
	}
	s.lakeAPI = &lake.API{Stores: stores, Position: s.ledger.Last, ChannelsTo: channels.ChannelsTo, IsOrgManagement: func(account string) bool {
		org, ok := s.orgs.Of(account)
		return ok && org.Management == account
	}}
	s.channels = &lake.ChannelAPI{Channels: channels, API: s.lakeAPI}
	s.audits = &lake.AuditEvents{Channels: s.channels, DBs: db}
	s.exporter = &lake.Exporter{DBs: db, API: s.lakeAPI, Buckets: importBuckets{s.buckets}}
	s.ingester = &lake.Ingester{Ledger: s.ledger, Stores: stores, DBs: db, Log: log, ManagedBy: func(account string) (string, bool) {
		org, ok := s.orgs.Of(account)
		return org.Management, ok
	}}
	s.queries = &lake.Queries{DBs: db, API: s.lakeAPI, Buckets: importBuckets{s.buckets}, Log: log, Dir: filepath.Join(dir, "queries"), ResultsDir: filepath.Join(dir, "results"),
		MaxResultRows: cfg.Lake.MaxResultRows, MaxResultBytes: cfg.Lake.MaxResultBytes}
	s.imports = &lake.Imports{DBs: db, API: s.lakeAPI, Buckets: importBuckets{s.buckets}, Log: log, Dir: filepath.Join(dir, "imports")}
	if err := s.queries.Load(); err != nil {
		return fmt.Errorf("lake queries: %w", err)
	}
	if err := s.imports.Load(); err != nil {
		return fmt.Errorf("lake imports: %w", err)
	}
	return nil
}

// importBuckets shows the bucket registry to imports.
type importBuckets struct{ r *objstore.Registry }

func (b importBuckets) Store(bucket string) (objstore.Store, error) { return b.r.Store(bucket) }

func (b importBuckets) Owner(bucket string) (string, bool) {
	bk, ok := b.r.Get(bucket)
	return bk.Owner, ok
}
