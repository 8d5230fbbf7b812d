package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/notify"
)

const topicsUsage = "usage: cairn topics create NAME --webhook URL | cairn topics list | cairn topics delete NAME"

func runTopics(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(topicsUsage)
	}
	var cf clientFlags
	switch args[0] {
	case "create":
		fs := newFlagSet("topics create", "NAME --webhook URL")
		cf.register(fs)
		webhook := fs.String("webhook", "", "http or https URL that receives each notification as a POST (required)")
		name, err := parseTopicArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if *webhook == "" {
			return errors.New("--webhook is required")
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out notify.CreateTopicResult
		if err := c.Call(ctx, ingest.Target, "CreateTopic", notify.CreateTopicRequest{Name: name, Webhook: *webhook}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() { fmt.Printf("created topic %s\n", out.TopicArn) })
	case "list":
		fs := newFlagSet("topics list", "")
		cf.register(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out notify.ListTopicsResult
		if err := c.Call(ctx, ingest.Target, "ListTopics", struct{}{}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTOPIC ARN\tWEBHOOK\tCREATED")
			for _, t := range out.Topics {
				name := t.TopicArn[strings.LastIndexByte(t.TopicArn, ':')+1:]
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, t.TopicArn, t.Webhook, t.CreationDate.UTC().Format(time.RFC3339))
			}
			w.Flush()
		})
	case "delete":
		fs := newFlagSet("topics delete", "NAME")
		cf.register(fs)
		name, err := parseTopicArgs(fs, args[1:])
		if err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		if err := c.Call(ctx, ingest.Target, "DeleteTopic", notify.DeleteTopicRequest{Name: name}, nil); err != nil {
			return err
		}
		return render(cf.output, struct{}{}, func() { fmt.Printf("deleted topic %s\n", name) })
	}
	return fmt.Errorf("unknown topics command %q: use create, list or delete", args[0])
}

// parseTopicArgs parses flags around the one NAME argument. The flag
// package stops at the first argument that is not a flag, and the usage
// puts NAME first, so it is taken off before parsing.
func parseTopicArgs(fs *flag.FlagSet, args []string) (string, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	switch {
	case name == "" && fs.NArg() == 1:
		name = fs.Arg(0)
	case fs.NArg() > 0:
		return "", fmt.Errorf("unexpected arguments %q: give one topic NAME", fs.Args())
	}
	if name == "" {
		return "", errors.New("a topic NAME is required")
	}
	return name, nil
}
