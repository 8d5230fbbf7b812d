package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// errInvalid makes validate-logs exit 1 when something is invalid.
var errInvalid = errors.New("some digest or log files are invalid")

// runValidateLogs validates a trail's digest and log files as
// `aws cloudtrail validate-logs` does, reading the bucket directly.
func runValidateLogs(ctx context.Context, args []string) error {
	cf := clientFlags{output: "table"}
	fs := newFlagSet("validate-logs", "--trail-arn ARN --start-time T [flags]")
	fs.StringVar(&cf.endpoint, "endpoint", "", "cairn server URL, for DescribeTrails and ListPublicKeys (default $CAIRN_ENDPOINT, else "+client.DefaultEndpoint+")")
	fs.StringVar(&cf.profile, "profile", "", "AWS profile to take credentials from")
	fs.StringVar(&cf.region, "region", "", "the Region whose digests to validate (default: the AWS configuration's, else us-east-1)")
	arn := fs.String("trail-arn", "", "the trail's ARN")
	startS := fs.String("start-time", "", "validate digests from this time (ISO 8601 or epoch seconds)")
	endS := fs.String("end-time", "", "validate digests up to this time (default: now)")
	bucket := fs.String("s3-bucket", "", "the bucket, when not the trail's current one")
	prefix := fs.String("s3-prefix", "", "the key prefix, with --s3-bucket")
	account := fs.String("account-id", "", "the account whose files to validate (organization trails: a member)")
	verbose := fs.Bool("verbose", false, "print every valid file too")
	unlisted := fs.Bool("unlisted", false, "also report log files in the trail's folders that were written while its digests ran but that no digest lists (files put there by someone else); only for a trail whose key prefix no other trail shares")
	s3Endpoint := fs.String("s3-endpoint", os.Getenv("AWS_ENDPOINT_URL_S3"), "S3 endpoint of the bucket (default $AWS_ENDPOINT_URL_S3)")
	bucketDir := fs.String("bucket-dir", "", "read buckets from this directory instead of S3 (a server's <data-dir>/buckets)")
	keysFile := fs.String("public-keys", "", "JSON output of `aws cloudtrail list-public-keys` to use instead of asking the server (to validate AWS's own digests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *arn == "" || *startS == "" {
		return fmt.Errorf("--trail-arn and --start-time are required")
	}
	parts := strings.Split(*arn, ":")
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "trail/") || len(parts[4]) != 12 {
		return fmt.Errorf("invalid trail ARN provided: %s", *arn)
	}
	tr := digest.Trail{HomeRegion: parts[3], Account: parts[4], Name: strings.TrimPrefix(parts[5], "trail/")}
	if *account != "" {
		tr.Account = *account
	}
	start, err := cliTime(*startS)
	if err != nil {
		return fmt.Errorf("--start-time: %w", err)
	}
	end := time.Now().UTC()
	if *endS != "" {
		if end, err = cliTime(*endS); err != nil {
			return fmt.Errorf("--end-time: %w", err)
		}
	}
	if start.After(end) {
		return fmt.Errorf("invalid time range specified: start-time must occur before end-time")
	}
	var c *client.Client
	if *bucket == "" || *keysFile == "" {
		if c, err = cf.client(ctx); err != nil {
			return err
		}
	}
	tr.Region = "us-east-1"
	if c != nil {
		tr.Region = c.Region()
	} else if cf.region != "" {
		tr.Region = cf.region
	}
	tr.Bucket, tr.Prefix = *bucket, *prefix
	if tr.Bucket == "" {
		var out struct {
			TrailList []struct {
				TrailARN, S3BucketName, S3KeyPrefix string
				IsOrganizationTrail                 bool
			} `json:"trailList"`
		}
		if err := c.Call(ctx, "CloudTrail_20131101", "DescribeTrails", map[string]any{}, &out); err != nil {
			return err
		}
		found := false
		for _, t := range out.TrailList {
			if t.TrailARN == *arn {
				tr.Bucket, tr.Prefix, found = t.S3BucketName, t.S3KeyPrefix, true
				if t.IsOrganizationTrail {
					var org struct{ Organization struct{ Id string } }
					if err := c.Call(ctx, ingest.Target, "DescribeOrganization", map[string]any{}, &org); err != nil {
						return err
					}
					tr.OrgID = org.Organization.Id
				}
			}
		}
		if !found {
			return fmt.Errorf("a trail could not be found for %s", *arn)
		}
	}
	keys, err := publicKeys(ctx, c, *keysFile, start, end)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("no public keys found between %s and %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	var store objstore.Store
	if *bucketDir != "" {
		store = objstore.NewFS(*bucketDir)
	} else {
		if *s3Endpoint == "" {
			return fmt.Errorf("give --s3-endpoint (or AWS_ENDPOINT_URL_S3) or --bucket-dir: the bucket is read directly")
		}
		id, secret := os.Getenv("CAIRN_S3_ACCESS_KEY_ID"), os.Getenv("CAIRN_S3_SECRET_ACCESS_KEY")
		if id == "" {
			id, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		}
		if store, err = objstore.NewS3(ctx, objstore.S3Config{Endpoint: *s3Endpoint, Region: tr.Region, AccessKeyID: id, SecretAccessKey: secret}); err != nil {
			return err
		}
	}
	fmt.Printf("Validating log files for trail %s between %s and %s\n\n", *arn, start.Format(digest.TimeFormat), end.Format(digest.TimeFormat))
	v := &digest.Validator{Store: store, Keys: keys, Unlisted: *unlisted, Emit: func(r digest.Result) {
		if !r.Valid {
			fmt.Fprintf(os.Stderr, "%s\n\n", r)
		} else if *verbose {
			fmt.Println(r)
		}
	}}
	rep, err := v.Validate(ctx, tr, start, end)
	if err != nil {
		return err
	}
	for _, g := range rep.Gaps {
		fmt.Fprintf(os.Stderr, "No log files were delivered by CloudTrail between %s and %s\n\n", g.From.Format(digest.TimeFormat), g.To.Format(digest.TimeFormat))
	}
	fmt.Printf("\nResults requested for %s to %s\n", start.Format(digest.TimeFormat), end.Format(digest.TimeFormat))
	if rep.ValidDigests+rep.InvalidDigests == 0 {
		fmt.Println("No digests found")
		return nil
	}
	if rep.FoundStart.IsZero() {
		fmt.Println("No valid digests found in range")
	} else {
		fmt.Printf("Results found for %s to %s:\n", rep.FoundStart.Format(digest.TimeFormat), rep.FoundEnd.Format(digest.TimeFormat))
	}
	ratio := func(valid, invalid int, name string) {
		if total := valid + invalid; total > 0 {
			fmt.Printf("\n%d/%d %s files valid", valid, total, name)
			if invalid > 0 {
				fmt.Printf(", %d/%d %s files INVALID", invalid, total, name)
			}
		}
	}
	ratio(rep.ValidDigests, rep.InvalidDigests, "digest")
	ratio(rep.ValidLogs, rep.InvalidLogs, "log")
	fmt.Println()
	if !rep.OK() {
		return errInvalid
	}
	return nil
}

// cliTime reads a time as the AWS CLI takes it (ISO 8601 or epoch
// seconds).
func cliTime(s string) (time.Time, error) {
	f, err := parseCLITime(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(f * 1000)).UTC(), nil
}

// publicKeys returns public keys by fingerprint, from the server's
// ListPublicKeys or from a saved answer of it.
func publicKeys(ctx context.Context, c *client.Client, file string, start, end time.Time) (map[string][]byte, error) {
	var out struct {
		PublicKeyList []struct {
			Value       string
			Fingerprint string
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	} else if err := c.Call(ctx, "CloudTrail_20131101", "ListPublicKeys", map[string]any{
		"StartTime": awsapi.Time{Time: start}, "EndTime": awsapi.Time{Time: end.Add(2 * time.Hour)}}, &out); err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for _, k := range out.PublicKeyList {
		der, err := base64.StdEncoding.DecodeString(k.Value)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", k.Fingerprint, err)
		}
		keys[k.Fingerprint] = der
	}
	return keys, nil
}
