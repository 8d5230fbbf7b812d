package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore/miniotest"
)

// TestDeliveryExactlyOnceAcrossCrashes kills cairn with SIGKILL many times
// while events flow and three trails deliver every second, and stops MinIO
// for a while in the middle. A writer re-sends every batch until it is
// answered (dedupe makes that safe), so every event sent is acknowledged
// in the end. Afterwards, for every trail, the multiset of eventIDs in its
// files equals the set of acknowledged events its selectors choose: no
// gap, no duplicate.
//
// The trail "all" has log file validation with two-second digests, so
// many kills land while digests are cut and written, and the bucket has
// Object Lock, so that a replay writing different bytes would be refused.
// Its digest chain must validate whole, unbroken, naming every log file.
func TestDeliveryExactlyOnceAcrossCrashes(t *testing.T) {
	const (
		acct      = "220000000001"
		kills     = 8
		batchSize = 50
	)
	m := miniotest.Start(t)
	dir := t.TempDir()
	n := deliveryNode(t, dir, m, "--digest-interval", "2s")
	k := n.tenantKey(acct, "")
	n.mustRun("buckets", "create", "crash-logs", "--account-id", acct, "--object-lock", "--retention-days", "1")
	cli := newCTCLI(t, n, k)
	arn := cli.ok("create-trail", "--name", "all", "--s3-bucket-name", "crash-logs", "--s3-key-prefix", "all", "--enable-log-file-validation")["TrailARN"].(string)
	validFrom := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	cli.ok("create-trail", "--name", "writes", "--s3-bucket-name", "crash-logs", "--s3-key-prefix", "writes")
	cli.ok("put-event-selectors", "--trail-name", "writes", "--event-selectors", `[{"ReadWriteType":"WriteOnly"}]`)
	cli.ok("create-trail", "--name", "reads", "--s3-bucket-name", "crash-logs", "--s3-key-prefix", "reads", "--is-multi-region-trail")
	cli.ok("put-event-selectors", "--trail-name", "reads", "--advanced-event-selectors",
		`[{"Name":"reads","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["true"]}]}]`)
	for _, name := range []string{"all", "writes", "reads"} {
		cli.ok("start-logging", "--name", name)
	}

	type sent struct {
		id, region string
		readOnly   bool
	}
	var (
		mu     sync.Mutex
		events []sent
		target atomic.Pointer[client.Client]
		stop   atomic.Bool
		done   = make(chan struct{})
	)
	target.Store(keyClient(t, n.endpoint, k, "us-east-1", ""))
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; !stop.Load(); i++ {
			var recs []json.RawMessage
			var batch []sent
			for j := range batchSize {
				s := sent{id: fmt.Sprintf("55555555-2222-4333-8444-%06d%06d", i, j), region: []string{"us-east-1", "us-east-1", "eu-west-1"}[rng.IntN(3)], readOnly: rng.IntN(2) == 0}
				batch = append(batch, s)
				recs = append(recs, probeRecord(acct, s.region, "ec2.amazonaws.com", "RunInstances", s.id, s.readOnly))
			}
			for {
				var resp ingest.PutEventsResponse
				err := target.Load().Call(ctxT(t), ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: recs}, &resp)
				if err == nil && len(resp.Failed) == 0 {
					break
				}
				if apiCode(err) != "" || (err == nil && len(resp.Failed) > 0) {
					t.Errorf("PutEvents: %v %+v", err, resp)
					return
				}
				time.Sleep(50 * time.Millisecond) // the server is down: try again
			}
			mu.Lock()
			events = append(events, batch...)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for round := 1; round <= kills; round++ {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		if round == kills/2 {
			m.Stop()
			t.Logf("MinIO stopped")
			// Delivery keeps failing meanwhile (each attempt takes the S3
			// client's own retries first); the status says so.
			var s map[string]any
			deadline := time.Now().Add(30 * time.Second)
			for {
				s = cli.ok("get-trail-status", "--name", "all")
				if s["LatestDeliveryError"] != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if s["LatestDeliveryError"] == nil {
				t.Errorf("get-trail-status while the bucket is down: %v", s)
			}
			m.Restart(t)
			t.Logf("MinIO restarted")
		}
		n.kill()
		n = deliveryNode(t, dir, m, "--digest-interval", "2s")
		target.Store(keyClient(t, n.endpoint, k, "us-east-1", ""))
		cli.endpoint = n.endpoint
		t.Logf("kill %d", round)
	}
	time.Sleep(time.Second)
	stop.Store(true)
	<-done
	if t.Failed() {
		t.FailNow()
	}

	mu.Lock()
	all := append([]sent(nil), events...)
	mu.Unlock()
	want := map[string][]string{}
	for _, s := range all {
		if s.region == "us-east-1" { // "all" and "writes" are single-Region trails
			want["all"] = append(want["all"], s.id)
			if !s.readOnly {
				want["writes"] = append(want["writes"], s.id)
			}
		}
		if s.readOnly { // "reads" is multi-Region
			want["reads"] = append(want["reads"], s.id)
		}
	}
	st := m.Store(t)
	probe := func(id string) bool { return strings.HasPrefix(id, "55555555-") }
	for _, name := range []string{"all", "writes", "reads"} {
		sort.Strings(want[name])
		var got []string
		waitFor(t, 60*time.Second, "trail "+name+" to catch up", func() bool {
			got = got[:0]
			for _, id := range eventIDs(readLogs(t, st, "crash-logs", name+"/AWSLogs/"+acct+"/CloudTrail/")) {
				if probe(id) {
					got = append(got, id)
				}
			}
			return len(got) >= len(want[name])
		})
		if strings.Join(got, ",") != strings.Join(want[name], ",") {
			missing, extra := diffSorted(want[name], got)
			t.Errorf("trail %s: %d events delivered, %d acknowledged; missing %d %v, extra or duplicated %d %v",
				name, len(got), len(want[name]), len(missing), firstFew(missing), len(extra), firstFew(extra))
		}
		// No record at all, probe or cairn's own audit, is in two files.
		ids := eventIDs(readLogs(t, st, "crash-logs", name+"/AWSLogs/"+acct+"/CloudTrail/"))
		for i := 1; i < len(ids); i++ {
			if ids[i] == ids[i-1] {
				t.Errorf("trail %s delivered %s twice", name, ids[i])
			}
		}
	}
	t.Logf("%d events acknowledged across %d kills and a MinIO outage", len(all), kills)

	// The digest chain of "all": stop logging for a final digest, then
	// validate it all.
	stopped := time.Now()
	cli.ok("stop-logging", "--name", "all")
	waitFinalDigest(t, cli, "all", stopped, st, "crash-logs", "all/")
	infos, err := st.List(ctxT(t), "crash-logs", "all/", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var digests, logs int
	for len(infos) > 0 {
		for _, o := range infos {
			if strings.Contains(o.Key, "/CloudTrail-Digest/") {
				digests++
			} else {
				logs++
			}
		}
		if infos, err = st.List(ctxT(t), "crash-logs", "all/", infos[len(infos)-1].Key, 1000); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(cairnBin, "validate-logs", "--endpoint", n.endpoint, "--trail-arn", arn, "--start-time", validFrom, "--s3-endpoint", m.Endpoint)
	cmd.Env = append(cli.env, "CAIRN_S3_ACCESS_KEY_ID="+m.AccessKey, "CAIRN_S3_SECRET_ACCESS_KEY="+m.SecretKey)
	out, err := cmd.CombinedOutput()
	d, l := summary(string(out))
	if err != nil || strings.Contains(string(out), "No log files were delivered") ||
		d != fmt.Sprintf("%d/%d digest files valid", digests, digests) || l != fmt.Sprintf("%d/%d log files valid", logs, logs) {
		t.Fatalf("cairn validate-logs after the kills (%v), want all %d digests and %d log files valid in one chain:\n%s", err, digests, logs, out)
	}
	t.Logf("%s, %s", d, l)
}

// diffSorted returns what is in want but not got, and what got has beyond
// want (repeats included).
func diffSorted(want, got []string) (missing, extra []string) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j >= len(got) || (i < len(want) && want[i] < got[j]):
			missing = append(missing, want[i])
			i++
		case i >= len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

func firstFew(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}
