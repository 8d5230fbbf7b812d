package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/cairn-audit/cairn/internal/bench"
	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/objstore"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "delivery" {
		return runBenchDelivery(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "lake" {
		return runBenchLake(ctx, args[1:])
	}
	if len(args) == 0 || (args[0] != "ingest" && args[0] != "lookup") {
		return fmt.Errorf("usage: cairn bench ingest|lookup|delivery|lake [flags] (against a running server; use an administrator key)")
	}
	var cf clientFlags
	fs := newFlagSet("bench "+args[0], "[flags]")
	cf.register(fs)
	seed := fs.Int64("seed", 1, "generator seed")
	accounts := fs.Int("accounts", 3, "number of synthetic accounts (100000000001, 100000000002, ...)")
	var (
		events, batch, workers *int
		probe                  *time.Duration
		calls                  *int
		windowed               *bool
	)
	if args[0] == "ingest" {
		events = fs.Int("events", 1_000_000, "records to send")
		batch = fs.Int("batch", 500, "records per call")
		workers = fs.Int("workers", 8, "calls in flight")
		probe = fs.Duration("probe", time.Second, "how often to measure the delay until an acknowledged event is searchable (0: never)")
	} else {
		calls = fs.Int("calls", 200, "calls per attribute key")
		windowed = fs.Bool("windowed", true, "also measure with one-hour time windows")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	accts := make([]string, *accounts)
	for i := range accts {
		accts[i] = fmt.Sprintf("1000000000%02d", i+1)
	}
	if args[0] == "ingest" {
		step := time.Millisecond
		per := (*events + *workers - 1) / *workers
		o := bench.IngestOptions{
			Events: *events, Batch: *batch, Workers: *workers, Accounts: accts, Seed: *seed,
			Start: time.Now().Add(-time.Duration(per) * step).Truncate(time.Second), Step: step, Probe: *probe,
		}
		fmt.Fprintf(os.Stderr, "bench ingest: %d events in calls of %d, %d in flight, to %s\n", o.Events, o.Batch, o.Workers, c.Endpoint())
		r, err := bench.Ingest(ctx, func(account string) (*client.Client, error) { return c.ForAccount(account), nil }, c.Endpoint(), o, os.Stderr)
		if err != nil {
			return err
		}
		return render(cf.output, r, func() {
			fmt.Printf("events           %d (%d duplicates, %d failed)\n", r.Events, r.Duplicates, r.Failed)
			fmt.Printf("elapsed          %.1fs\n", r.Elapsed.Seconds())
			fmt.Printf("throughput       %.0f events/s (durable acknowledgement)\n", r.EventsPerSecond)
			fmt.Printf("ack latency      %s (per call of %d)\n", r.Ack, *batch)
			fmt.Printf("searchable after %s (acknowledgement → LookupEvents finds it)\n", r.Searchable)
			fmt.Printf("server max RSS   %.0f MiB\n", r.MaxRSSBytes/(1<<20))
		})
	}
	region := c.Region()
	o := bench.LookupOptions{Account: accts[0], Region: region, Calls: *calls, Windowed: *windowed, Seed: *seed}
	if cf.account != "" {
		o.Account = cf.account
	}
	fmt.Fprintf(os.Stderr, "bench lookup: account %s, region %s, %d calls per key\n", o.Account, o.Region, o.Calls)
	r, err := bench.Lookup(ctx, c, c.Endpoint(), o)
	if err != nil {
		return err
	}
	if cf.output == "json" {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Println(string(b))
		return nil
	}
	keys := make([]string, 0, len(r.ByKey))
	for k := range r.ByKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("%-14s %-8s %s\n", "KEY", "VALUES", "LATENCY (first page of 50)")
	for _, k := range keys {
		fmt.Printf("%-14s %-8d %s\n", k, r.Values[k], r.ByKey[k])
		if w, ok := r.Windowed[k]; ok {
			fmt.Printf("%-14s %-8s %s\n", "  1h window", "", w)
		}
	}
	fmt.Printf("server max RSS %.0f MiB\n", r.MaxRSSBytes/(1<<20))
	return nil
}

// runBenchDelivery measures trails delivering to an S3-compatible bucket:
// acknowledgement → object visible, delivery rate and the server's CPU.
func runBenchDelivery(ctx context.Context, args []string) error {
	var cf clientFlags
	fs := newFlagSet("bench delivery", "--s3-endpoint URL [flags]")
	cf.register(fs)
	s3Endpoint := fs.String("s3-endpoint", "", "the S3 endpoint the server delivers to, to read the files back (credentials from CAIRN_S3_ACCESS_KEY_ID and CAIRN_S3_SECRET_ACCESS_KEY)")
	s3Region := fs.String("s3-region", "us-east-1", "region to sign S3 requests for")
	trails := fs.Int("trails", 1, fmt.Sprintf("trails with different selectors (0 to %d; 0 measures the same ingest without delivery)", bench.MaxDeliveryTrails))
	events := fs.Int("events", 300_000, "records to send")
	rate := fs.Int("rate", 0, "records per second to send (0: as fast as the server takes them)")
	batch := fs.Int("batch", 500, "records per call")
	workers := fs.Int("workers", 4, "calls in flight")
	backlog := fs.Bool("backlog", false, "hold delivery back until every record is in, then time the catch-up")
	validation := fs.Bool("validation", false, "turn on log file validation for every trail (digests at the server's --digest-interval)")
	seed := fs.Int64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *s3Endpoint == "" {
		return fmt.Errorf("--s3-endpoint is required: the benchmark reads the delivered files back")
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	st, err := objstore.NewS3(ctx, objstore.S3Config{Endpoint: *s3Endpoint, Region: *s3Region,
		AccessKeyID: os.Getenv("CAIRN_S3_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("CAIRN_S3_SECRET_ACCESS_KEY")})
	if err != nil {
		return err
	}
	o := bench.DeliveryOptions{Trails: *trails, Events: *events, Rate: *rate, Batch: *batch, Workers: *workers, Backlog: *backlog, Validation: *validation, Seed: *seed, Bucket: st}
	fmt.Fprintf(os.Stderr, "bench delivery: %d events, %d trails, rate %d/s, backlog %v, validation %v, to %s\n", o.Events, o.Trails, o.Rate, o.Backlog, o.Validation, c.Endpoint())
	r, err := bench.Delivery(ctx, c, o, os.Stderr)
	if err != nil {
		return err
	}
	return render(cf.output, r, func() {
		fmt.Printf("account/bucket   %s / %s\n", r.Account, r.Bucket)
		fmt.Printf("events           %d in at %.0f events/s\n", r.Events, r.IngestRate)
		fmt.Printf("visible after    %s (acknowledgement → object in the bucket, first trail)\n", r.Visible)
		fmt.Printf("delivery rate    %.0f events/s (first trail; %.1fs to the last event)\n", r.DeliveryRate, r.CatchUp.Seconds())
		fmt.Printf("delivered        %v events per trail in %d files\n", r.Delivered, r.Files)
		if o.Validation {
			fmt.Printf("digests          %d\n", r.Digests)
		}
		fmt.Printf("server CPU       %.1f s\n", r.ServerCPU)
		fmt.Printf("server max RSS   %.0f MiB\n", r.MaxRSSBytes/(1<<20))
	})
}

// runBenchLake imports a data set of CloudTrail log files into a new
// event data store and times queries on it, beside DuckDB reading the
// raw files and zgrep. It runs on the server's machine: the data set is
// an fs bucket in the server's data directory.
func runBenchLake(ctx context.Context, args []string) error {
	var cf clientFlags
	fs := newFlagSet("bench lake", "--data-dir DIR [--source DIR] [flags]")
	cf.register(fs)
	dataDir := fs.String("data-dir", "", "the server's data directory (required)")
	bucket := fs.String("bucket", "lake-bench", "the fs bucket that holds the data set; made from --source when empty")
	account := fs.String("bench-account", "100000000001", "the account that owns the bucket and the event data store")
	source := fs.String("source", "", "a folder of CloudTrail log files whose records make the data set")
	events := fs.Int("events", 10_000_000, "events in the data set")
	perFile := fs.Int("files-per-file", 10, "template files of one account and Region per file of the data set")
	span := fs.Duration("span", 30*24*time.Hour, "how far back the data set's eventTimes reach from now")
	repeat := fs.Int("repeat", 5, "runs of each query on the server")
	compare := fs.Bool("compare", true, "also run the queries with DuckDB over the raw files and with zgrep")
	store := fs.String("store", "", "an event data store (ID) that already holds the data set: time the queries only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" {
		return fmt.Errorf("--data-dir is required: the data set is a bucket of the server")
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	o := bench.LakeOptions{DataDir: *dataDir, Bucket: *bucket, Account: *account, Repeat: *repeat, Compare: *compare, Store: *store,
		Data: bench.LakeDataOptions{Source: *source, Events: *events, FilesPerFile: *perFile, End: time.Now(), Span: *span}}
	r, err := bench.Lake(ctx, c, o, os.Stderr)
	if err != nil {
		return err
	}
	return render(cf.output, r, func() { r.WriteMarkdown(os.Stdout) })
}
