// Package server wires cairn together: it opens the stores, starts the
// ledger and its consumers, serves the API, health and metrics, and owns
// the order of shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/delivery"
	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/history"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/lake"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/notify"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Config is the configuration of `cairn serve`.
type Config struct {
	DataDir          string
	Listen           string
	HistoryRetention time.Duration // 0 keeps events forever
	TLSCertFile      string
	TLSKeyFile       string
	MaxBodyBytes     int64
	// MaxConns caps open client connections; more wait in the kernel's
	// backlog until one closes.
	MaxConns int
	// Timeouts of the HTTP server: a whole request read, a response
	// written, an idle keep-alive connection.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// Pprof serves Go's profiler at /debug/pprof/ (for benchmarking).
	Pprof bool
	// DeliveryInterval is how often trails deliver log files.
	DeliveryInterval time.Duration
	// DigestInterval is the span of a digest file (AWS: an hour).
	DigestInterval time.Duration
	// ObjectLockDays, when above zero, retains every delivered log and
	// digest file that long in buckets without a retention of their own
	// (S3 Object Lock in COMPLIANCE mode; read-only files on fs).
	ObjectLockDays int
	// S3Endpoint, if set, is where new trail buckets live; else they are
	// directories under DataDir/buckets.
	S3Endpoint        string
	S3Region          string
	S3AccessKeyID     string
	S3SecretAccessKey string
	// WebhookAllow are networks topics' webhooks may reach although they
	// are internal (loopback, private, link-local, ...); see notify.Guard.
	WebhookAllow []netip.Prefix
	// MasterKey (CAIRN_MASTER_KEY, 32 bytes), if set, seals the digest
	// signing keys stored in the data directory.
	MasterKey []byte
	// Root credentials (CAIRN_ROOT_*); empty values are generated once.
	RootAccountID       string
	RootAccessKeyID     string
	RootSecretAccessKey string
	// Lake are the limits of each account's Lake database.
	Lake lake.DBOptions
}

// DefaultConfig returns the embedded default: one data directory, loopback.
func DefaultConfig() Config {
	return Config{
		DataDir:          "./cairn-data",
		Listen:           "127.0.0.1:4750",
		HistoryRetention: 90 * 24 * time.Hour,
		MaxBodyBytes:     32 << 20,
		MaxConns:         1024,
		ReadTimeout:      time.Minute,
		WriteTimeout:     5 * time.Minute,
		IdleTimeout:      2 * time.Minute,
		DeliveryInterval: delivery.DefaultConfig().Interval,
		DigestInterval:   delivery.DefaultConfig().DigestInterval,
		S3Region:         "us-east-1",
		Lake:             lake.DefaultDBOptions(),
	}
}

// Validate checks a configuration.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if err := c.Lake.Validate(); err != nil {
		return err
	}
	if c.HistoryRetention < 0 {
		return errors.New("--history-retention must not be negative")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.MaxConns < 1 {
		return errors.New("--max-connections must be at least 1")
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("--read-timeout, --write-timeout and --idle-timeout must be positive")
	}
	if c.DeliveryInterval < time.Second {
		return errors.New("--delivery-interval must be at least 1s")
	}
	if c.DigestInterval < time.Second {
		return errors.New("--digest-interval must be at least 1s")
	}
	if c.ObjectLockDays < 0 || c.ObjectLockDays > objstore.MaxRetentionDays {
		return fmt.Errorf("--object-lock-days must be between 0 and %d", objstore.MaxRetentionDays)
	}
	if c.S3Endpoint != "" && (c.S3AccessKeyID == "" || c.S3SecretAccessKey == "") {
		return errors.New("--s3-endpoint needs CAIRN_S3_ACCESS_KEY_ID and CAIRN_S3_SECRET_ACCESS_KEY")
	}
	return nil
}

// Server is a running cairn.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ledgerDB *pebble.DB
	idsDB    *pebble.DB
	indexDB  *pebble.DB
	ledger   *ledger.Ledger
	dir      *auth.Directory
	orgs     *auth.Organizations
	buckets  *objstore.Registry
	topics   *notify.Topics
	notifier *notify.Notifier
	lakeDB   *lake.Databases
	lakeAPI  *lake.API
	ingester *lake.Ingester
	queries  *lake.Queries
	imports  *lake.Imports
	channels *lake.ChannelAPI
	audits   *lake.AuditEvents
	exporter *lake.Exporter
	trails   *trail.Store
	deliver  *delivery.Deliverer
	keys     *digest.Keyring
	indexer  *history.Indexer
	searcher *history.Searcher
	auditor  *auditor
	api      *awsapi.Server
	registry *prometheus.Registry
	rootKey  auth.Key
	ln       net.Listener
}

// New opens the data directory and prepares everything; Run serves.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log}
	var err error
	if s.ledgerDB, err = store.Open(filepath.Join(cfg.DataDir, "ledger"), store.Options{CacheBytes: 128 << 20, MemTableBytes: 48 << 20, BlockBytes: 8 << 10}); err != nil {
		return nil, err
	}
	if s.idsDB, err = store.Open(filepath.Join(cfg.DataDir, "ids"), store.Options{CacheBytes: 32 << 20, MemTableBytes: 32 << 20, NoWAL: true, L0Files: 12}); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.indexDB, err = store.Open(filepath.Join(cfg.DataDir, "history"), store.Options{CacheBytes: 96 << 20, MemTableBytes: 32 << 20, NoWAL: true, L0Files: 12}); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.ledger, err = ledger.New(s.ledgerDB, s.idsDB, log); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.dir, err = auth.Open(s.ledgerDB); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.rootKey, err = s.dir.Bootstrap(cfg.RootAccountID, cfg.RootAccessKeyID, cfg.RootSecretAccessKey); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := auth.WriteCredentials(s.CredentialsPath(), s.rootKey); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("write credentials: %w", err)
	}
	if err := s.openTrails(cfg, log); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.openLake(cfg, log); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.indexer = history.NewIndexer(s.indexDB, s.ledger, cfg.HistoryRetention, log)
	s.searcher = history.NewSearcher(s.indexDB, s.ledger, cfg.HistoryRetention)
	s.auditor = newAuditor(s.ledger, log)
	s.registry = prometheus.NewRegistry()
	m := newMetrics(s.registry, s.ledger, s.indexer, s.deliver)
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.api = &awsapi.Server{
		Services: []*awsapi.Service{
			{
				Targets:     []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", "CloudTrail_20131101"},
				SigningName: "cloudtrail",
				EventSource: "cloudtrail.amazonaws.com",
				Ops: mergeOps(map[string]awsapi.Op{
					"LookupEvents":        history.LookupEventsOp(s.searcher),
					"ListPublicKeys":      digest.ListPublicKeysOp(s.keys, time.Now),
					"SearchSampleQueries": lake.SearchSampleQueriesOp(),
				}, s.trailAPI().Ops(), s.lakeAPI.Ops(), s.queries.Ops(), s.imports.Ops(), s.channels.Ops()),
			},
			{
				Targets:     []string{ingest.Target},
				SigningName: "cloudtrail",
				EventSource: "cloudtrail.amazonaws.com",
				Ops: mergeOps(adminOps(s.dir), orgOps(s.orgs), objstore.Ops(s.buckets), notify.Ops(s.topics), s.exporter.Ops(),
					withMaxBody(map[string]awsapi.Op{"PutEvents": ingest.PutEventsOp(s.ledger)}, cfg.MaxBodyBytes), s.deliver.Ops()),
			},
		},
		Routes: map[string]awsapi.Route{
			// CloudTrail Lake's data service (rest-json): events from
			// outside AWS, through a channel.
			"POST /PutAuditEvents": {Service: &awsapi.Service{SigningName: "cloudtrail-data", EventSource: "cloudtrail-data.amazonaws.com", Ops: withMaxBody(s.audits.Ops(), 2<<20)}, Op: "PutAuditEvents"},
		},
		Dir:     s.dir,
		Audit:   s.auditor.record,
		Log:     log,
		Now:     time.Now,
		MaxBody: awsapi.DefaultMaxBody,
		Observe: m.observe,
	}
	return s, nil
}

// withMaxBody raises the body bound of bulk operations: PutEvents takes
// Config.MaxBodyBytes; PutAuditEvents reads a little over its 1 MB limit so
// that its own check answers with CloudTrail's error.
func withMaxBody(ops map[string]awsapi.Op, n int64) map[string]awsapi.Op {
	for name, op := range ops {
		op.MaxBody = n
		ops[name] = op
	}
	return ops
}

func mergeOps(ms ...map[string]awsapi.Op) map[string]awsapi.Op {
	out := map[string]awsapi.Op{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// CredentialsPath is the shared-credentials file of the root key.
func (s *Server) CredentialsPath() string {
	return filepath.Join(s.cfg.DataDir, "credentials")
}

// RootKey is the administrator's access key.
func (s *Server) RootKey() auth.Key { return s.rootKey }

// Addr is the address the server listens on, once Run has started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Listen
	}
	return s.ln.Addr().String()
}

// Handler is the HTTP handler: the AWS API at /, health and metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","ledgerSeq":%d}`+"\n", s.ledger.Last())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pebble", func(w http.ResponseWriter, r *http.Request) {
			for _, d := range []struct {
				name string
				db   *pebble.DB
			}{{"ledger", s.ledgerDB}, {"ids", s.idsDB}, {"history", s.indexDB}} {
				fmt.Fprintf(w, "== %s\n%s\n", d.name, d.db.Metrics())
			}
		})
	}
	mux.Handle("/", s.api)
	return mux
}

// Listen binds the listening socket, so that callers learn the address
// (with port 0) before Run.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.ln = limitListener(ln, s.cfg.MaxConns)
	return nil
}

// Run serves until ctx ends, then shuts down in order: stop taking calls,
// write the audit records of the calls served, stop the ledger, stop
// delivery (an interrupted batch stays pending) and the notifier, let the
// indexer finish, close the databases.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			s.closeDBs()
			return err
		}
	}
	ledgerCtx, stopLedger := context.WithCancel(context.Background())
	ledgerDone := make(chan error, 1)
	go func() { ledgerDone <- s.ledger.Run(ledgerCtx) }()
	indexCtx, stopIndex := context.WithCancel(context.Background())
	indexDone := make(chan error, 1)
	go func() { indexDone <- s.indexer.Run(indexCtx) }()
	go s.auditor.run()
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	notifyDone := make(chan error, 1)
	go func() { notifyDone <- s.notifier.Run(notifyCtx) }()
	deliverCtx, stopDeliver := context.WithCancel(context.Background())
	deliverDone := make(chan error, 1)
	go func() { deliverDone <- s.deliver.Run(deliverCtx) }()
	lakeCtx, stopLake := context.WithCancel(context.Background())
	lakeDone := make(chan error, 1)
	go func() { lakeDone <- s.ingester.Run(lakeCtx) }()

	// Every phase of a connection is bounded, so slow or idle clients
	// cannot hold connections (and their goroutines) open at will.
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() {
		var err error
		if s.cfg.TLSCertFile != "" {
			err = hs.ServeTLS(s.ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			err = hs.Serve(s.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveDone <- err
	}()
	s.log.Info("cairn serving", "listen", s.Addr(), "data_dir", s.cfg.DataDir, "ledger_seq", s.ledger.Last())

	var runErr error
	indexStopped := false
	select {
	case <-ctx.Done():
	case runErr = <-serveDone:
	case runErr = <-indexDone:
		indexStopped = true
		runErr = fmt.Errorf("history indexer stopped: %w", runErr)
	case runErr = <-ledgerDone:
		ledgerDone <- runErr
		runErr = fmt.Errorf("ledger stopped: %w", runErr)
	case runErr = <-deliverDone:
		deliverDone <- runErr
		runErr = fmt.Errorf("delivery stopped: %w", runErr)
	}
	s.log.Info("cairn shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	s.auditor.close()
	stopLedger()
	<-ledgerDone
	// Delivery stops mid-batch if it must: an interrupted batch is
	// pending and is replayed identically at the next start.
	stopDeliver()
	<-deliverDone
	stopNotify()
	<-notifyDone
	// Lake ingestion commits each batch with its cursor: stopping it
	// anywhere loses nothing.
	s.queries.Close()
	s.imports.Close()
	stopLake()
	<-lakeDone
	stopIndex()
	if !indexStopped {
		if err := <-indexDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	s.closeDBs()
	s.log.Info("cairn stopped")
	return runErr
}

func (s *Server) closeDBs() {
	if s.lakeDB != nil {
		s.lakeDB.Close()
	}
	// The WAL-less databases are flushed, so that a clean stop needs no
	// catching up at the next start.
	for _, db := range []*pebble.DB{s.indexDB, s.idsDB} {
		if db != nil {
			db.Flush()
			db.Close()
		}
	}
	if s.ledgerDB != nil {
		s.ledgerDB.Close()
	}
}
