package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
)

const bucketsUsage = `usage: cairn buckets create NAME [--object-lock [--retention-days N]] [--backend fs|s3]
       cairn buckets list
       cairn buckets retention NAME --days N
       cairn buckets allow NAME --account ID
       cairn buckets policy NAME --file policy.json
       cairn buckets ls NAME [--prefix P]
       cairn buckets get NAME KEY [-o FILE]`

func runBuckets(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(bucketsUsage)
	}
	var cf clientFlags
	switch args[0] {
	case "create":
		fs := newFlagSet("buckets create", "NAME [--object-lock [--retention-days N]] [--backend fs|s3]")
		cf.register(fs)
		lock := fs.Bool("object-lock", false, "enable Object Lock, so that delivered log files can be retained unchangeable")
		days := fs.Int("retention-days", 0, "retain every log and digest file delivered here this many days (needs --object-lock; 0: the server's --object-lock-days)")
		backend := fs.String("backend", "", "where the bucket lives: fs (the data directory) or s3 (the server's --s3-endpoint); default: s3 when the server has one, else fs")
		name, err := bucketArgs(fs, args[1:], "NAME")
		if err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out objstore.BucketView
		if err := c.Call(ctx, ingest.Target, "CreateBucket", objstore.CreateBucketRequest{Bucket: name[0], ObjectLockEnabled: *lock, RetentionDays: *days, Backend: *backend}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() { fmt.Printf("created bucket %s (backend %s)\n", out.Name, out.Backend) })

	case "list":
		fs := newFlagSet("buckets list", "")
		cf.register(fs)
		if _, err := bucketArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out objstore.ListBucketsResult
		if err := c.Call(ctx, ingest.Target, "ListBuckets", struct{}{}, &out); err != nil {
			return err
		}
		return render(cf.output, out, func() {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tOWNER\tBACKEND\tOBJECT LOCK\tRETENTION\tCREATED")
			for _, b := range out.Buckets {
				keep := "-"
				switch {
				case b.RetentionDays > 0:
					keep = fmt.Sprintf("%dd", b.RetentionDays)
				case b.ObjectLockEnabled:
					keep = "default"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", b.Name, b.Owner, b.Backend, b.ObjectLockEnabled, keep, b.CreationDate.UTC().Format(time.RFC3339))
			}
			w.Flush()
		})

	case "retention":
		fs := newFlagSet("buckets retention", "NAME --days N")
		cf.register(fs)
		days := fs.Int("days", -1, "retain files delivered from now on this many days; 0 returns to the server's --object-lock-days (required)")
		name, err := bucketArgs(fs, args[1:], "NAME")
		if err != nil {
			return err
		}
		if *days < 0 {
			return errors.New("--days is required (0 or more)")
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		if err := c.Call(ctx, ingest.Target, "PutBucketRetention", objstore.PutBucketRetentionRequest{Bucket: name[0], RetentionDays: *days}, nil); err != nil {
			return err
		}
		return render(cf.output, struct{}{}, func() {
			if *days == 0 {
				fmt.Printf("files delivered into %s now follow the server's retention\n", name[0])
			} else {
				fmt.Printf("files delivered into %s are now retained %d days\n", name[0], *days)
			}
		})

	case "allow":
		fs := newFlagSet("buckets allow", "NAME --account ID")
		cf.register(fs)
		// --account-id already chooses the account acting; this one is
		// the account being let in.
		acct := fs.String("account", "", "12-digit ID of the account whose trails may deliver into the bucket (required)")
		name, err := bucketArgs(fs, args[1:], "NAME")
		if err != nil {
			return err
		}
		if *acct == "" {
			return errors.New("--account is required")
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		if err := c.Call(ctx, ingest.Target, "AllowBucketAccount", objstore.AllowBucketAccountRequest{Bucket: name[0], AccountID: *acct}, nil); err != nil {
			return err
		}
		return render(cf.output, struct{}{}, func() { fmt.Printf("account %s may now deliver into %s\n", *acct, name[0]) })

	case "policy":
		fs := newFlagSet("buckets policy", "NAME --file policy.json")
		cf.register(fs)
		file := fs.String("file", "", "S3 bucket policy JSON to set, - for standard input, empty file to remove (required)")
		name, err := bucketArgs(fs, args[1:], "NAME")
		if err != nil {
			return err
		}
		if *file == "" {
			return errors.New("--file is required")
		}
		doc, err := readPolicyFile(*file)
		if err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		if err := c.Call(ctx, ingest.Target, "PutBucketPolicy", objstore.PutBucketPolicyRequest{Bucket: name[0], Policy: doc}, nil); err != nil {
			return err
		}
		return render(cf.output, struct{}{}, func() {
			if strings.TrimSpace(doc) == "" {
				fmt.Printf("removed the policy of %s\n", name[0])
			} else {
				fmt.Printf("set the policy of %s\n", name[0])
			}
		})

	case "ls":
		fs := newFlagSet("buckets ls", "NAME [--prefix P]")
		cf.register(fs)
		prefix := fs.String("prefix", "", "list only keys that start with this")
		name, err := bucketArgs(fs, args[1:], "NAME")
		if err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		objs, err := listAllObjects(ctx, c, name[0], *prefix)
		if err != nil {
			return err
		}
		return render(cf.output, objstore.ListObjectsResult{Contents: objs}, func() {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "LAST MODIFIED\tSIZE\tKEY")
			for _, o := range objs {
				fmt.Fprintf(w, "%s\t%d\t%s\n", o.LastModified.UTC().Format(time.RFC3339), o.Size, o.Key)
			}
			w.Flush()
		})

	case "get":
		fs := newFlagSet("buckets get", "NAME KEY [-o FILE]")
		cf.register(fs)
		outFile := fs.String("o", "", "write the body to this file instead of standard output")
		pos, err := bucketArgs(fs, args[1:], "NAME", "KEY")
		if err != nil {
			return err
		}
		c, err := cf.client(ctx)
		if err != nil {
			return err
		}
		var out objstore.GetObjectResult
		if err := c.Call(ctx, ingest.Target, "GetObject", objstore.GetObjectRequest{Bucket: pos[0], Key: pos[1]}, &out); err != nil {
			return err
		}
		if cf.output == "json" && *outFile == "" {
			return render(cf.output, out, nil)
		}
		if *outFile == "" {
			_, err := os.Stdout.Write(out.Body)
			return err
		}
		if err := os.WriteFile(*outFile, out.Body, 0o644); err != nil {
			return err
		}
		meta := make([]string, 0, len(out.Metadata))
		for k, v := range out.Metadata {
			meta = append(meta, k+"="+v)
		}
		sort.Strings(meta)
		return render(cf.output, out, func() {
			fmt.Printf("wrote %d bytes to %s", len(out.Body), *outFile)
			if len(meta) > 0 {
				fmt.Printf(" (metadata %s)", strings.Join(meta, ", "))
			}
			fmt.Println()
		})
	}
	return fmt.Errorf("unknown buckets command %q: use create, list, retention, allow, policy, ls or get", args[0])
}

// bucketArgs parses flags wherever they stand and checks that exactly the
// named positional arguments were given.
func bucketArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		if len(names) == 0 {
			return nil, fmt.Errorf("%s takes no arguments, got %q", fs.Name(), pos)
		}
		return nil, fmt.Errorf("%s needs %s, got %q", fs.Name(), strings.Join(names, " "), pos)
	}
	return pos, nil
}

// listAllObjects pages through ListObjects, each page starting after the
// last key of the one before.
func listAllObjects(ctx context.Context, c *client.Client, bucket, prefix string) ([]objstore.ObjectView, error) {
	all := []objstore.ObjectView{}
	after := ""
	for {
		var page objstore.ListObjectsResult
		if err := c.Call(ctx, ingest.Target, "ListObjects", objstore.ListObjectsRequest{Bucket: bucket, Prefix: prefix, StartAfter: after}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Contents...)
		if !page.IsTruncated || len(page.Contents) == 0 {
			return all, nil
		}
		after = page.Contents[len(page.Contents)-1].Key
	}
}

// readPolicyFile reads a policy document from a file or, for "-",
// standard input.
func readPolicyFile(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read policy: %w", err)
	}
	return string(b), nil
}
