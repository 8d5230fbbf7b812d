package e2e

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// TestTrailDeliversRealArchive ingests a real CloudTrail archive while a
// multi-Region trail of its account logs, into a bucket of the default fs
// backend, and checks the delivered files against the archive: exactly its
// management events, each in the file of its own Region, each with every
// field it came with unchanged (cairn only adds the fields old records
// lack).
func TestTrailDeliversRealArchive(t *testing.T) {
	const acct = "974349055189"
	src := filepath.Join(sharedData(t), "s3-layout", "grycap-cloudtrail-tracker")
	dir := t.TempDir()
	n := startNode(t, dir, "--delivery-interval", "1s", "--history-retention", "0")
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "archive-logs", "--account-id", acct)
	cli := newCTCLI(t, n, k)
	cli.ok("create-trail", "--name", "archive", "--s3-bucket-name", "archive-logs", "--is-multi-region-trail")
	cli.ok("start-logging", "--name", "archive")

	files, err := ingest.Files([]string{src})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for _, f := range files {
		recs, err := ingest.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range recs.Records {
			e, err := event.Parse(raw, event.Defaults{AccountID: acct})
			if err != nil || e.Category != event.Management {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			want[e.EventID] = m
		}
	}
	if len(want) < 10000 {
		t.Fatalf("only %d management events in the archive", len(want))
	}
	if out := n.mustRun("ingest", src); !strings.Contains(out, "0 failed") {
		t.Fatalf("ingest: %s", out)
	}

	st := objstore.NewFS(filepath.Join(dir, "buckets"))
	var got []logFile
	waitFor(t, 60*time.Second, "the archive's events in the trail's files", func() bool {
		got = readLogs(t, st, "archive-logs", "AWSLogs/")
		seen := 0
		for _, f := range got {
			for _, r := range f.records {
				if _, ok := want[r["eventID"].(string)]; ok {
					seen++
				}
			}
		}
		return seen >= len(want)
	})
	added := map[string]bool{"recipientAccountId": true, "readOnly": true, "eventID": true, "eventTime": true}
	seen := map[string]bool{}
	for _, f := range got {
		for _, r := range f.records {
			id := r["eventID"].(string)
			in, ok := want[id]
			if !ok {
				continue // cairn's own audit records of the calls above
			}
			if seen[id] {
				t.Fatalf("event %s delivered twice", id)
			}
			seen[id] = true
			for key, v := range in {
				if !reflect.DeepEqual(r[key], v) {
					t.Fatalf("event %s: field %s delivered as %v, ingested as %v", id, key, r[key], v)
				}
			}
			for key := range r {
				if _, ok := in[key]; !ok && !added[key] {
					t.Fatalf("event %s: field %s was added", id, key)
				}
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d events delivered", len(seen), len(want))
	}
	t.Logf("%d real management events delivered in %d files", len(seen), len(got))
}
