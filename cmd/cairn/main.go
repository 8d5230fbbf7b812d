// Command cairn is a self-hosted audit trail that speaks AWS CloudTrail's API.
//
// `cairn serve` runs the server; every other command is a client of a running
// server, authenticated like the AWS CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/cairn-audit/cairn/internal/client"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"serve":         {"run the cairn server", runServe},
	"ingest":        {"send CloudTrail files (.json, .json.gz, NDJSON, AWSLogs/ trees) to a server", runIngest},
	"import":        {"import a bucket of CloudTrail log files into an event data store, with progress", runImport},
	"export":        {"write an event data store to a bucket as Parquet (export parquet)", runExport},
	"lookup":        {"look up events, with the flags of `aws cloudtrail lookup-events`", runLookup},
	"accounts":      {"create and list accounts (accounts create|list)", runAccounts},
	"keys":          {"create access keys (keys create)", runKeys},
	"bench":         {"measure ingest, lookup and delivery (bench ingest|lookup|delivery)", runBench},
	"buckets":       {"buckets for trail log files (buckets create|list|retention|allow|policy|ls|get)", runBuckets},
	"topics":        {"notification topics for trails (topics create|list|delete)", runTopics},
	"org":           {"organizations for organization trails (org create|add|remove|describe|delete)", runOrg},
	"validate-logs": {"validate a trail's digest and log files, as `aws cloudtrail validate-logs` does", runValidateLogs},
	"quarantine":    {"records trails left out of their log files (quarantine list)", runQuarantine},
	"version":       {"print the version", runVersion},
}

var version = "dev"

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "Error: unknown command %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if errors.Is(err, errInvalid) {
			os.Exit(1)
		}
		printError(err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "cairn: a self-hosted audit trail with AWS CloudTrail's API")
	fmt.Fprintln(w, "\nUsage: cairn <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `cairn <command> -h` for a command's flags.")
}

func printError(err error) {
	var api *client.APIError
	if errors.As(err, &api) {
		fmt.Fprintf(os.Stderr, "Error: %s: %s\n", api.Code, api.Message)
		switch api.Code {
		case "UnrecognizedClientException", "InvalidSignatureException":
			fmt.Fprintln(os.Stderr, "Hint: check the credentials: AWS_SHARED_CREDENTIALS_FILE=<data-dir>/credentials, or --profile.")
		}
		return
	}
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
}

func runVersion(ctx context.Context, args []string) error {
	fmt.Println("cairn", version)
	return nil
}

// clientFlags are the flags every client command shares.
type clientFlags struct {
	endpoint, profile, region, account, output string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", "", "cairn server URL (default $CAIRN_ENDPOINT, else "+client.DefaultEndpoint+")")
	fs.StringVar(&c.profile, "profile", "", "AWS profile to take credentials from")
	fs.StringVar(&c.region, "region", "", "region to act in (default: the AWS configuration's, else us-east-1)")
	fs.StringVar(&c.account, "account-id", "", "with an administrator key: the account to act on")
	fs.StringVar(&c.output, "output", "table", "output format: table or json")
}

func (c *clientFlags) client(ctx context.Context) (*client.Client, error) {
	if c.output != "table" && c.output != "json" {
		return nil, fmt.Errorf("--output must be table or json, not %q", c.output)
	}
	return client.New(ctx, client.Options{Endpoint: c.endpoint, Profile: c.profile, Region: c.region, AccountID: c.account})
}

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("cairn "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cairn %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags wherever they stand among positional arguments
// (`cairn buckets create NAME --object-lock` as well as the flag first)
// and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
