package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
)

// attrList is --lookup-attributes: repeatable, in the AWS CLI's shorthand
// (AttributeKey=K,AttributeValue=V) or as JSON.
type attrList []map[string]string

func (a *attrList) String() string { return fmt.Sprint(*a) }

func (a *attrList) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{") {
		if strings.HasPrefix(s, "{") {
			s = "[" + s + "]"
		}
		var v []map[string]string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("lookup attributes JSON: %w", err)
		}
		*a = append(*a, v...)
		return nil
	}
	m := map[string]string{}
	for _, part := range splitShorthand(s) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("expected AttributeKey=KEY,AttributeValue=VALUE, got %q", s)
		}
		m[strings.TrimSpace(k)] = v
	}
	*a = append(*a, m)
	return nil
}

// splitShorthand splits on the comma before the next "Key=", so that values
// may contain commas.
func splitShorthand(s string) []string {
	var out []string
	for {
		i := strings.Index(s, ",AttributeValue=")
		j := strings.Index(s, ",AttributeKey=")
		cut := -1
		switch {
		case i >= 0 && (j < 0 || i < j):
			cut = i
		case j >= 0:
			cut = j
		}
		if cut < 0 {
			return append(out, s)
		}
		out = append(out, s[:cut])
		s = s[cut+1:]
	}
}

// parseCLITime reads times as the AWS CLI does: ISO 8601 dates and times,
// or epoch seconds.
func parseCLITime(s string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return float64(t.UnixMilli()) / 1000, nil
		}
	}
	return 0, fmt.Errorf("time %q: use ISO 8601 (2019-12-01 or 2019-12-01T10:00:00Z) or epoch seconds", s)
}

type lookupOutput struct {
	Events    []json.RawMessage `json:"Events"`
	NextToken string            `json:"NextToken,omitempty"`
}

func runLookup(ctx context.Context, args []string) error {
	var cf clientFlags
	var attrs attrList
	fs := newFlagSet("lookup", "[flags]")
	cf.register(fs)
	fs.Var(&attrs, "lookup-attributes", "AttributeKey=KEY,AttributeValue=VALUE (or JSON)")
	start := fs.String("start-time", "", "events at or after this time")
	end := fs.String("end-time", "", "events at or before this time")
	category := fs.String("event-category", "", "insight: look up Insights events")
	maxResults := fs.Int("max-results", 0, "events per call (1-50); alias of --page-size")
	pageSize := fs.Int("page-size", 0, "events per call (1-50)")
	maxItems := fs.Int("max-items", 0, "stop after this many events and print NextToken")
	startToken := fs.String("starting-token", "", "NextToken from an earlier run")
	noPaginate := fs.Bool("no-paginate", false, "make one call only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := cf.client(ctx)
	if err != nil {
		return err
	}
	req := map[string]any{}
	if len(attrs) > 0 {
		req["LookupAttributes"] = attrs
	}
	for flagName, v := range map[string]string{"StartTime": *start, "EndTime": *end} {
		if v == "" {
			continue
		}
		t, err := parseCLITime(v)
		if err != nil {
			return err
		}
		req[flagName] = t
	}
	if *category != "" {
		req["EventCategory"] = *category
	}
	if *pageSize == 0 {
		*pageSize = *maxResults
	}
	if *pageSize != 0 {
		req["MaxResults"] = *pageSize
	}
	token := *startToken
	var out lookupOutput
	for {
		if token != "" {
			req["NextToken"] = token
		}
		if *maxItems > 0 {
			// Ask for no more than is still wanted, so that no page is cut
			// and its NextToken resumes exactly after the last event shown.
			n := *pageSize
			if n == 0 {
				n = 50
			}
			req["MaxResults"] = min(n, *maxItems-len(out.Events))
		}
		var page lookupOutput
		if err := c.Call(ctx, client.CloudTrailTarget, "LookupEvents", req, &page); err != nil {
			return err
		}
		out.Events = append(out.Events, page.Events...)
		token = page.NextToken
		if *maxItems > 0 && len(out.Events) >= *maxItems {
			break
		}
		if token == "" || *noPaginate {
			break
		}
	}
	out.NextToken = token
	if out.Events == nil {
		out.Events = []json.RawMessage{}
	}
	return render(cf.output, out, func() { printEventTable(out) })
}

func printEventTable(out lookupOutput) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EVENT TIME\tEVENT NAME\tUSERNAME\tEVENT SOURCE\tREAD ONLY\tEVENT ID")
	for _, raw := range out.Events {
		var e struct {
			EventID     string `json:"EventId"`
			EventName   string
			ReadOnly    string
			EventTime   float64
			EventSource string
			Username    string
		}
		json.Unmarshal(raw, &e)
		t := time.UnixMilli(int64(e.EventTime * 1000)).UTC().Format(time.RFC3339)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t, e.EventName, e.Username, e.EventSource, e.ReadOnly, e.EventID)
	}
	w.Flush()
	if out.NextToken != "" {
		fmt.Printf("NextToken: %s\n", out.NextToken)
	}
}
