package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/lake"
)

const exportUsage = "parquet --store ID|ARN --to s3://BUCKET[/PREFIX]"

// runExport writes an event data store to a bucket of its account as
// Parquet files partitioned by account, Region and date, for Athena,
// Trino and the like (docs/lake.md has the table definition).
func runExport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "parquet" {
		return errors.New("usage: cairn export " + exportUsage)
	}
	var cf clientFlags
	fs := newFlagSet("export parquet", "--store ID|ARN --to s3://BUCKET[/PREFIX]")
	cf.register(fs)
	store := fs.String("store", "", "the event data store: its ID or ARN (required)")
	to := fs.String("to", "", "where to write, as s3://bucket/prefix: a bucket of the store's account (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *store == "" || *to == "" || fs.NArg() > 0 {
		return errors.New("usage: cairn export " + exportUsage)
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	var out lake.ExportResult
	if err := c.Call(ctx, ingest.Target, "ExportEventDataStore", map[string]string{"EventDataStore": *store, "Destination": *to}, &out); err != nil {
		return err
	}
	return render(cf.output, out, func() {
		fmt.Fprintf(os.Stdout, "wrote %d events in %d Parquet files (%.1f MiB) to %s\n", out.Rows, out.Files, float64(out.Bytes)/(1<<20), out.Location)
	})
}
