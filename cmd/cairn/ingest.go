package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cairn-audit/cairn/internal/ingest"
)

// ingestBatch is one PutEvents call's worth of records, with where each came from.
type ingestBatch struct {
	account string
	records []json.RawMessage
	origins []string
	bytes   int
}

func runIngest(ctx context.Context, args []string) error {
	var cf clientFlags
	fs := newFlagSet("ingest", "[flags] PATH...")
	cf.register(fs)
	batchSize := fs.Int("batch", 1000, "records per call")
	workers := fs.Int("workers", 4, "calls in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("give at least one file or directory")
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	files, err := ingest.Files(fs.Args())
	if err != nil {
		return err
	}

	var (
		mu                        sync.Mutex
		added, dup, failed, total int
		firstErr                  error
	)
	batches := make(chan *ingestBatch, *workers)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var resp ingest.PutEventsResponse
				err := c.Call(ctx, ingest.Target, "PutEvents", ingest.PutEventsRequest{DefaultAccountID: b.account, Records: b.records}, &resp)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					failed += len(b.records)
				} else {
					added += resp.Accepted
					dup += resp.Duplicates
					failed += len(resp.Failed)
					for _, f := range resp.Failed {
						origin := fmt.Sprintf("record %d of a call", f.Index)
						if f.Index >= 0 && f.Index < len(b.origins) { // the answer is the server's to get right
							origin = b.origins[f.Index]
						}
						fmt.Fprintf(os.Stderr, "%s: %s: %s\n", origin, f.ErrorCode, f.ErrorMessage)
					}
				}
				mu.Unlock()
			}
		}()
	}

	start := time.Now()
	pending := map[string]*ingestBatch{}
	flush := func(b *ingestBatch) {
		if len(b.records) > 0 {
			batches <- b
		}
	}
	var readErrs int
	for _, path := range files {
		if ctx.Err() != nil {
			break
		}
		f, err := ingest.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			readErrs++
			continue
		}
		b := pending[f.AccountID]
		for i, r := range f.Records {
			if b == nil {
				b = &ingestBatch{account: f.AccountID}
				pending[f.AccountID] = b
			}
			b.records = append(b.records, r)
			b.origins = append(b.origins, fmt.Sprintf("%s: record %d", path, i+1))
			b.bytes += len(r)
			total++
			if len(b.records) >= *batchSize || b.bytes >= 8<<20 {
				flush(b)
				b = nil
				delete(pending, f.AccountID)
			}
		}
	}
	for _, b := range pending {
		flush(b)
	}
	close(batches)
	wg.Wait()
	elapsed := time.Since(start)
	summary := struct {
		Files, Records, Added, AlreadyPresent, Failed, UnreadableFiles int
		Seconds                                                        float64
	}{len(files), total, added, dup, failed, readErrs, elapsed.Seconds()}
	if cf.output == "json" {
		out, _ := json.MarshalIndent(summary, "", "  ")
		fmt.Println(string(out))
	} else {
		fmt.Printf("%d files, %d records: %d added, %d already present, %d failed (%.1fs)\n", len(files), total, added, dup, failed, elapsed.Seconds())
	}
	if firstErr != nil {
		return firstErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 || readErrs > 0 {
		return fmt.Errorf("%d records failed and %d files could not be read", failed, readErrs)
	}
	return nil
}
