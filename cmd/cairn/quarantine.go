package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/cairn-audit/cairn/internal/delivery"
	"github.com/cairn-audit/cairn/internal/ingest"
)

const quarantineUsage = "usage: cairn quarantine list [--trail NAME-OR-ARN] [--output json]"

// runQuarantine lists the records trails left out of their log files.
func runQuarantine(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New(quarantineUsage)
	}
	var cf clientFlags
	fs := newFlagSet("quarantine list", "[--trail NAME-OR-ARN]")
	cf.register(fs)
	name := fs.String("trail", "", "a trail's ARN, or the name of one of your trails in --region (default: every trail you own; the administrator: every trail)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	out := delivery.ListQuarantinedRecordsResult{QuarantinedRecords: []delivery.QuarantinedRecordView{}}
	req := delivery.ListQuarantinedRecordsRequest{TrailName: *name}
	for {
		var page delivery.ListQuarantinedRecordsResult
		if err := c.Call(ctx, ingest.Target, "ListQuarantinedRecords", req, &page); err != nil {
			return err
		}
		out.QuarantinedRecords = append(out.QuarantinedRecords, page.QuarantinedRecords...)
		if page.NextToken == "" {
			break
		}
		req.NextToken = page.NextToken
	}
	return render(cf.output, out, func() {
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TRAIL ARN\tSEQUENCE\tEVENT ID\tACCOUNT\tREGION\tQUARANTINED\tREASON")
		// The record's own values are quoted: they are what a bad record
		// holds, control characters included.
		for _, q := range out.QuarantinedRecords {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", q.TrailARN, q.Sequence, strconv.Quote(q.EventID), strconv.Quote(q.AccountID),
				strconv.Quote(q.Region), q.QuarantineTime.UTC().Format(time.RFC3339), q.Reason)
		}
		w.Flush()
	})
}
