package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/notify"
	"github.com/cairn-audit/cairn/internal/server"
)

func runServe(ctx context.Context, args []string) error {
	cfg := server.DefaultConfig()
	fs := newFlagSet("serve", "[flags]")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for all of cairn's data")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve the API, /healthz and /metrics on")
	retention := fs.String("history-retention", "90d", "how long Event history keeps events (e.g. 90d, 2160h); 0 keeps everything")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (serve HTTPS)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve Go's profiler at /debug/pprof/")
	fs.DurationVar(&cfg.DeliveryInterval, "delivery-interval", cfg.DeliveryInterval, "how often trails deliver log files (AWS: about 5m; down to 1s)")
	fs.DurationVar(&cfg.DigestInterval, "digest-interval", cfg.DigestInterval, "span of one digest file for trails with log file validation (AWS: 1h; down to 1s)")
	fs.StringVar(&cfg.Lake.MemoryLimit, "lake-memory-limit", cfg.Lake.MemoryLimit, "memory of each account's Lake database (DuckDB memory_limit)")
	fs.IntVar(&cfg.Lake.Threads, "lake-threads", cfg.Lake.Threads, "cores each account's Lake queries may use (DuckDB threads)")
	fs.StringVar(&cfg.Lake.MaxTempDirectorySize, "lake-spill-limit", cfg.Lake.MaxTempDirectorySize, "disk each account's Lake queries may spill to (DuckDB max_temp_directory_size)")
	fs.Int64Var(&cfg.Lake.MaxResultRows, "lake-max-result-rows", cfg.Lake.MaxResultRows, "rows one Lake query may return; a larger result ends the query FAILED")
	fs.Int64Var(&cfg.Lake.MaxResultBytes, "lake-max-result-bytes", cfg.Lake.MaxResultBytes, "bytes of text one Lake query's result may hold; a larger result ends the query FAILED")
	fs.IntVar(&cfg.Lake.RunningQueries, "lake-running-queries", cfg.Lake.RunningQueries, "Lake queries of one account that run at once; more wait QUEUED, up to 10")
	fs.IntVar(&cfg.ObjectLockDays, "object-lock-days", 0, "retain every delivered log and digest file this many days (S3 Object Lock, COMPLIANCE mode); new buckets get Object Lock, and buckets without it get no files")
	fs.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint for trail buckets (credentials from CAIRN_S3_ACCESS_KEY_ID and CAIRN_S3_SECRET_ACCESS_KEY); without it buckets are directories under <data-dir>/buckets")
	fs.StringVar(&cfg.S3Region, "s3-region", "us-east-1", "region to sign S3 requests for")
	webhookAllow := fs.String("webhook-allow", "", "networks topics' webhooks may reach although internal (loopback, private, link-local, ...), as CIDR[,CIDR...]; by default only public addresses")
	fs.IntVar(&cfg.MaxConns, "max-connections", cfg.MaxConns, "most client connections open at once; more wait until one closes")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest time to read a whole request, body included")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest time to answer a request once it is read")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "how long an idle keep-alive connection stays open")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.HistoryRetention, err = parseRetention(*retention); err != nil {
		return err
	}
	if cfg.WebhookAllow, err = notify.ParseAllowList(*webhookAllow); err != nil {
		return fmt.Errorf("--webhook-allow: %w", err)
	}
	cfg.RootAccountID = os.Getenv("CAIRN_ROOT_ACCOUNT_ID")
	cfg.RootAccessKeyID = os.Getenv("CAIRN_ROOT_ACCESS_KEY_ID")
	cfg.RootSecretAccessKey = os.Getenv("CAIRN_ROOT_SECRET_ACCESS_KEY")
	if mk := os.Getenv("CAIRN_MASTER_KEY"); mk != "" {
		if cfg.MasterKey, err = digest.ParseMasterKey(mk); err != nil {
			return fmt.Errorf("CAIRN_MASTER_KEY: %w", err)
		}
	}
	cfg.S3AccessKeyID = os.Getenv("CAIRN_S3_ACCESS_KEY_ID")
	cfg.S3SecretAccessKey = os.Getenv("CAIRN_S3_SECRET_ACCESS_KEY")

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(h)

	tuneGC()
	privateUmask()
	s, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	if err := s.Listen(); err != nil {
		return err
	}
	k := s.RootKey()
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(os.Stderr, "cairn is listening on %s://%s (root account %s, access key %s)\n", scheme, s.Addr(), k.AccountID, k.AccessKeyID)
	creds, err := filepath.Abs(s.CredentialsPath())
	if err != nil {
		creds = s.CredentialsPath()
	}
	fmt.Fprintf(os.Stderr, "Use it with the AWS CLI:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n  aws --endpoint-url %s://%s cloudtrail lookup-events\n", creds, scheme, s.Addr())
	return s.Run(ctx)
}

// parseRetention reads a duration that may be given in days ("90d").
func parseRetention(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	var days int
	if n, err := fmt.Sscanf(s, "%dd", &days); err == nil && n == 1 && fmt.Sprintf("%dd", days) == s {
		if days < 0 {
			return 0, fmt.Errorf("--history-retention must not be negative")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--history-retention %q: use days (90d), a Go duration (2160h), or 0", s)
	}
	return d, nil
}

// tuneGC trades memory the server has to spare for less garbage collection
// on the ingest path, within a soft limit on the Go heap that keeps the
// whole process (Go heap, plus Pebble's caches and memtables outside it)
// under 1 GiB. GOGC and GOMEMLIMIT still win when set.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(448 << 20)
	}
}
