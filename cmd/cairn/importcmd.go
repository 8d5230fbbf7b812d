package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

const importUsage = "--store ID|ARN --source s3://BUCKET[/PREFIX] [--start-time T] [--end-time T]"

// runImport imports a bucket of CloudTrail log files (AWS's layout) into
// an event data store with StartImport, and shows its progress until it
// ends.
func runImport(ctx context.Context, args []string) error {
	var cf clientFlags
	fs := newFlagSet("import", importUsage)
	cf.register(fs)
	store := fs.String("store", "", "the event data store to import into: its ID or ARN (required)")
	source := fs.String("source", "", "the bucket (and prefix) holding the log files, as s3://bucket/prefix (required)")
	startS := fs.String("start-time", "", "import only events from this time (ISO 8601)")
	endS := fs.String("end-time", "", "import only events up to this time (ISO 8601)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *store == "" || *source == "" || fs.NArg() > 0 {
		return errors.New("usage: cairn import " + importUsage)
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	var got struct{ EventDataStoreArn string }
	if err := c.Call(ctx, "CloudTrail_20131101", "GetEventDataStore", map[string]any{"EventDataStore": *store}, &got); err != nil {
		return err
	}
	account := strings.Split(got.EventDataStoreArn, ":")[4]
	in := map[string]any{
		"Destinations": []string{got.EventDataStoreArn},
		"ImportSource": map[string]any{"S3": map[string]any{"S3LocationUri": *source, "S3BucketRegion": c.Region(),
			"S3BucketAccessRoleArn": "arn:aws:iam::" + account + ":role/cairn-import"}},
	}
	for name, s := range map[string]string{"StartEventTime": *startS, "EndEventTime": *endS} {
		if s == "" {
			continue
		}
		t, err := cliTime(s)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		in[name] = float64(t.Unix())
	}
	var started struct{ ImportId string }
	if err := c.Call(ctx, "CloudTrail_20131101", "StartImport", in, &started); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "import %s into %s\n", started.ImportId, got.EventDataStoreArn)
	begin := time.Now()
	tty := isTerminal(os.Stderr)
	for {
		var st struct {
			ImportStatus     string
			ImportStatistics struct {
				PrefixesFound, PrefixesCompleted, FilesCompleted, EventsCompleted, FailedEntries int64
			}
		}
		if err := c.Call(ctx, "CloudTrail_20131101", "GetImport", map[string]any{"ImportId": started.ImportId}, &st); err != nil {
			return err
		}
		s := st.ImportStatistics
		line := fmt.Sprintf("%-11s %s folders %d/%d, files %d, events %d (%.0f/s), failed files %d",
			st.ImportStatus, bar(s.PrefixesCompleted, s.PrefixesFound), s.PrefixesCompleted, s.PrefixesFound,
			s.FilesCompleted, s.EventsCompleted, float64(s.EventsCompleted)/time.Since(begin).Seconds(), s.FailedEntries)
		done := st.ImportStatus != "INITIALIZING" && st.ImportStatus != "IN_PROGRESS"
		if tty && !done {
			fmt.Fprintf(os.Stderr, "\r%s", line)
		}
		if done {
			if tty {
				fmt.Fprint(os.Stderr, "\r\033[K")
			}
			// The outcome goes to standard output; progress only to a terminal.
			fmt.Println(line)
			if s.FailedEntries > 0 {
				fmt.Fprintf(os.Stderr, "%d files could not be read: aws cloudtrail list-import-failures --import-id %s\n", s.FailedEntries, started.ImportId)
			}
			if st.ImportStatus != "COMPLETED" {
				return fmt.Errorf("import %s ended %s", started.ImportId, st.ImportStatus)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bar is a 20-character progress bar.
func bar(done, total int64) string {
	n := 0
	if total > 0 {
		n = int(20 * done / total)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "]"
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
