package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/delivery"
	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/notify"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/trail"
)

// openTrails opens what trails need: organizations, buckets, topics, the
// trails themselves and their delivery.
func (s *Server) openTrails(cfg Config, log *slog.Logger) error {
	var err error
	if s.orgs, err = auth.OpenOrganizations(s.dir); err != nil {
		return fmt.Errorf("organizations: %w", err)
	}
	backends := map[string]objstore.Store{"fs": objstore.NewFS(filepath.Join(cfg.DataDir, "buckets"))}
	def := "fs"
	if cfg.S3Endpoint != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s3, err := objstore.NewS3(ctx, objstore.S3Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, AccessKeyID: cfg.S3AccessKeyID, SecretAccessKey: cfg.S3SecretAccessKey})
		if err != nil {
			return fmt.Errorf("s3 endpoint: %w", err)
		}
		backends["s3"], def = s3, "s3"
	}
	if s.buckets, err = objstore.OpenRegistry(s.ledgerDB, backends, def); err != nil {
		return fmt.Errorf("buckets: %w", err)
	}
	if err := s.buckets.SetDefaultRetention(cfg.ObjectLockDays); err != nil {
		return fmt.Errorf("buckets: %w", err)
	}
	if s.topics, err = notify.OpenTopics(s.ledgerDB, notify.NewGuard(cfg.WebhookAllow)); err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	s.notifier = notify.New(s.topics, log)
	if s.trails, err = trail.Open(s.ledgerDB); err != nil {
		return fmt.Errorf("trails: %w", err)
	}
	if s.keys, err = digest.OpenSealedKeyring(filepath.Join(cfg.DataDir, "signing-keys"), digest.DefaultRotation, digest.DefaultValidity, cfg.MasterKey); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	dc := delivery.DefaultConfig()
	dc.Interval = cfg.DeliveryInterval
	dc.DigestInterval = cfg.DigestInterval
	dc.Signer = s.keys
	s.deliver, err = delivery.New(s.ledgerDB, s.ledger, s.trails, s.buckets, trailOrgs{s.orgs}, s.notifier, dc, log)
	return err
}

func (s *Server) trailAPI() *trail.API {
	return &trail.API{
		Store:    s.trails,
		Orgs:     trailOrgs{s.orgs},
		Buckets:  trailBuckets{s.buckets},
		Topics:   trailTopics{s.topics},
		Status:   s.deliver,
		Position: s.ledger.Last,
		Now:      time.Now,
	}
}

// trailBuckets shows the bucket registry to trail validation.
type trailBuckets struct{ r *objstore.Registry }

func (b trailBuckets) ValidName(name string) bool { return objstore.ValidBucketName(name) }

func (b trailBuckets) Exists(name string) bool {
	_, ok := b.r.Get(name)
	return ok
}

func (b trailBuckets) CanDeliver(bucket, account, trailARN, key string) bool {
	return b.r.CanDeliver(bucket, account, trailARN, key)
}

// trailTopics shows notification topics to trail validation.
type trailTopics struct{ t *notify.Topics }

func (t trailTopics) Resolve(account, region, nameOrARN string) (string, bool) {
	topic, ok := t.t.Resolve(account, region, nameOrARN)
	return topic.ARN, ok
}
