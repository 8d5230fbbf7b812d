package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/synth"
)

// ctTarget is CloudTrail's X-Amz-Target prefix.
const ctTarget = "CloudTrail_20131101"

// trailSelectors are the selectors of the benchmark's trails, each
// different, as a platform's teams would set them: the first is the
// default (every management event).
var trailSelectors = []string{
	``,
	`{"EventSelectors":[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true}]}`,
	`{"EventSelectors":[{"ReadWriteType":"ReadOnly","IncludeManagementEvents":true}]}`,
	`{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":true,"ExcludeManagementEventSources":["kms.amazonaws.com"]}]}`,
	`{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]}`,
	`{"AdvancedEventSelectors":[{"Name":"writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","Equals":["false"]}]}]}`,
	`{"AdvancedEventSelectors":[{"Name":"s3 reads","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"eventName","Equals":["GetObject"]}]}]}`,
	`{"EventSelectors":[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]}`,
	`{"AdvancedEventSelectors":[{"Name":"no kms","FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventSource","NotEquals":["kms.amazonaws.com"]}]}]}`,
	`{"EventSelectors":[{"ReadWriteType":"All","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::Lambda::Function","Values":["arn:aws:lambda"]}]}]}`,
}

// MaxDeliveryTrails is how many differently-selecting trails the
// delivery benchmark can make.
var MaxDeliveryTrails = len(trailSelectors)

// DeliveryOptions shape a delivery run.
type DeliveryOptions struct {
	Trails  int // 1 to MaxDeliveryTrails
	Events  int
	Rate    int // events per second to send; 0 sends as fast as the server takes them
	Batch   int
	Workers int
	// Backlog holds delivery back (by a bucket policy that denies the
	// trails' account) until every event is in, then lifts it and times
	// the catch-up: the delivery rate without ingest competing.
	Backlog bool
	// Validation turns on log file validation for every trail: digests
	// are written and signed as the server's --digest-interval says.
	Validation bool
	Seed       int64
	// Bucket reads the delivered files: the same S3 endpoint the server
	// delivers to.
	Bucket objstore.Store
}

// DeliveryResult is what a delivery run measured.
type DeliveryResult struct {
	Account, Bucket string
	Events          int // acknowledged
	IngestRate      float64
	// Visible is acknowledgement → object visible in the bucket, for
	// sampled events of the first trail.
	Visible Percentiles
	// Delivered counts the events in each trail's files.
	Delivered []int
	Files     int
	// Digests counts the digest files of every trail.
	Digests int
	// DeliveryRate is the first trail's events per second from the
	// first acknowledgement to its last event visible; with Backlog, the
	// events of all trails per second from the lifting of the block to
	// the last delivery, as the server counts them.
	DeliveryRate float64
	CatchUp      time.Duration
	// ServerCPU is the server's CPU seconds over the whole run.
	ServerCPU   float64
	MaxRSSBytes float64
}

// Delivery makes an account, a bucket and trails with different
// selectors, sends synthetic events, and watches the bucket.
func Delivery(ctx context.Context, admin *client.Client, o DeliveryOptions, progress io.Writer) (DeliveryResult, error) {
	if o.Trails < 0 || o.Trails > len(trailSelectors) {
		return DeliveryResult{}, fmt.Errorf("trails must be 0 to %d", len(trailSelectors))
	}
	if o.Batch <= 0 || o.Workers <= 0 || o.Events <= 0 {
		return DeliveryResult{}, fmt.Errorf("events, batch and workers must be positive")
	}
	rng := rand.New(rand.NewSource(o.Seed + time.Now().UnixNano()))
	acct := fmt.Sprintf("7%011d", rng.Int63n(1e11))
	owner := fmt.Sprintf("8%011d", rng.Int63n(1e11))
	mgmt := fmt.Sprintf("6%011d", rng.Int63n(1e11))
	bucket := "bench-" + acct
	res := DeliveryResult{Account: acct, Bucket: bucket}
	root := admin.ForAccount("")
	root.ClearAccount()
	for _, a := range []string{acct, owner, mgmt} {
		if err := root.Call(ctx, ingest.Target, "CreateAccount", map[string]string{"AccountId": a, "Name": "delivery benchmark"}, nil); err != nil {
			return res, fmt.Errorf("create account: %w", err)
		}
	}
	c, bo := admin.ForAccount(acct), admin.ForAccount(owner)
	// The bucket belongs to another account that lets the trails' account
	// deliver, so that a policy can hold delivery back (Backlog).
	if err := bo.Call(ctx, ingest.Target, "CreateBucket", map[string]any{"Bucket": bucket}, nil); err != nil {
		return res, fmt.Errorf("create bucket: %w", err)
	}
	for _, a := range []string{acct, mgmt} {
		if err := bo.Call(ctx, ingest.Target, "AllowBucketAccount", map[string]any{"Bucket": bucket, "AccountId": a}, nil); err != nil {
			return res, fmt.Errorf("allow: %w", err)
		}
	}
	// An account holds at most five trails in a Region, so trails beyond
	// five are organization trails of a management account whose
	// organization holds the events' account: the most trails AWS lets
	// one event reach.
	mc := admin.ForAccount(mgmt)
	if o.Trails > 5 {
		var org struct{ Organization struct{ Id string } }
		if err := root.Call(ctx, ingest.Target, "CreateOrganization", map[string]string{"ManagementAccountId": mgmt}, &org); err != nil {
			return res, fmt.Errorf("create organization: %w", err)
		}
		if err := root.Call(ctx, ingest.Target, "AddOrganizationMember", map[string]string{"OrganizationId": org.Organization.Id, "AccountId": acct}, nil); err != nil {
			return res, fmt.Errorf("organization member: %w", err)
		}
	}
	trailClient := func(i int) *client.Client {
		if i >= 5 {
			return mc
		}
		return c
	}
	deny := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
	open := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
	for i := range o.Trails {
		name := fmt.Sprintf("trail%d", i)
		in := map[string]any{"Name": name, "S3BucketName": bucket, "S3KeyPrefix": name, "IsMultiRegionTrail": true, "IsOrganizationTrail": i >= 5, "EnableLogFileValidation": o.Validation}
		if err := trailClient(i).Call(ctx, ctTarget, "CreateTrail", in, nil); err != nil {
			return res, fmt.Errorf("create trail %s: %w", name, err)
		}
		if sel := trailSelectors[i]; sel != "" {
			var body map[string]any
			json.Unmarshal([]byte(sel), &body)
			body["TrailName"] = name
			if err := trailClient(i).Call(ctx, ctTarget, "PutEventSelectors", body, nil); err != nil {
				return res, fmt.Errorf("selectors of %s: %w", name, err)
			}
		}
	}
	if o.Backlog {
		if err := bo.Call(ctx, ingest.Target, "PutBucketPolicy", map[string]any{"Bucket": bucket, "Policy": deny}, nil); err != nil {
			return res, fmt.Errorf("deny policy: %w", err)
		}
	}
	for i := range o.Trails {
		if err := trailClient(i).Call(ctx, ctTarget, "StartLogging", map[string]any{"Name": fmt.Sprintf("trail%d", i)}, nil); err != nil {
			return res, err
		}
	}
	endpoint := admin.Endpoint()
	cpu0 := scrape(endpoint, "process_cpu_seconds_total")
	mem := &memWatcher{endpoint: endpoint}
	mctx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	go mem.run(mctx)

	// Sampled management events: eventID → acknowledgement time.
	var (
		mu       sync.Mutex
		sampled  = map[string]time.Time{}
		seen     = map[string]bool{}
		visible  []time.Duration
		lastSeen time.Time
		sent     atomic.Int64
		firstErr error
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan struct{})
	watch := func() {
		defer close(watchDone)
		known := map[string]bool{}
		for watchCtx.Err() == nil {
			infos, err := listAll(watchCtx, o.Bucket, bucket, "trail0/")
			if err == nil {
				for _, info := range infos {
					if known[info.Key] || isDigest(info.Key) {
						continue
					}
					obj, err := o.Bucket.Get(watchCtx, bucket, info.Key)
					if err != nil {
						continue
					}
					now := time.Now()
					known[info.Key] = true
					ids, _ := recordIDs(obj.Body)
					mu.Lock()
					for _, id := range ids {
						if at, ok := sampled[id]; ok && !seen[id] {
							seen[id] = true
							visible = append(visible, now.Sub(at))
							lastSeen = now
						}
					}
					mu.Unlock()
				}
			}
			select {
			case <-watchCtx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if !o.Backlog && o.Trails > 0 {
		go watch()
	}

	start := time.Now()
	per := (o.Events + o.Workers - 1) / o.Workers
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.Batch*o.Workers) / float64(o.Rate))
	}
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := synth.New(synth.Options{Seed: o.Seed*1000 + int64(w), Accounts: []string{acct}, Start: time.Now().Add(-time.Hour), Step: time.Millisecond})
			body := make([]byte, 0, o.Batch*1400)
			var rec []byte
			next := time.Now()
			for done := 0; done < per && ctx.Err() == nil; {
				n := min(o.Batch, per-done)
				body = append(body[:0], `{"Records":[`...)
				var ids []string
				for i := range n {
					if i > 0 {
						body = append(body, ',')
					}
					rec = g.Next(rec[:0])
					body = append(body, rec...)
					if i%50 == 0 {
						if e, err := event.Parse(rec, event.Defaults{}); err == nil && e.Category == event.Management {
							ids = append(ids, e.EventID)
						}
					}
				}
				body = append(body, `]}`...)
				if interval > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
				}
				var resp ingest.PutEventsResponse
				if err := c.CallRaw(ctx, ingest.Target, "PutEvents", body, &resp); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				acked := time.Now()
				mu.Lock()
				for _, id := range ids {
					sampled[id] = acked
				}
				mu.Unlock()
				sent.Add(int64(resp.Accepted))
				done += n
			}
		}()
	}
	wg.Wait()
	res.Events = int(sent.Load())
	res.IngestRate = float64(res.Events) / time.Since(start).Seconds()
	if firstErr != nil {
		return res, firstErr
	}
	if o.Trails == 0 {
		// A baseline: what the same ingest costs without delivery.
		time.Sleep(3 * time.Second)
		res.ServerCPU = scrape(endpoint, "process_cpu_seconds_total") - cpu0
		mem.poll()
		res.MaxRSSBytes = mem.MaxRSS()
		return res, nil
	}
	if progress != nil {
		fmt.Fprintf(progress, "  %d events in at %.0f events/s; waiting for delivery\n", res.Events, res.IngestRate)
	}
	from := start
	if o.Backlog {
		from = time.Now()
		if err := bo.Call(ctx, ingest.Target, "PutBucketPolicy", map[string]any{"Bucket": bucket, "Policy": open}, nil); err != nil {
			return res, fmt.Errorf("lift the deny policy: %w", err)
		}
		// The catch-up is timed by the server's own count of delivered
		// events, so that reading the files back does not compete with it.
		d0 := scrape(endpoint, "cairn_delivery_events_total")
		last, lastAt := d0, from
		for time.Since(lastAt) < 3*time.Second {
			time.Sleep(50 * time.Millisecond)
			if v := scrape(endpoint, "cairn_delivery_events_total"); v > last {
				last, lastAt = v, time.Now()
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
		res.CatchUp = lastAt.Sub(from)
		res.DeliveryRate = (last - d0) / res.CatchUp.Seconds()
		mu.Lock()
		for id := range sampled {
			sampled[id] = from // visibility is measured from the lifting
		}
		mu.Unlock()
		go watch()
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		mu.Lock()
		done := len(seen) == len(sampled)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return res, fmt.Errorf("delivery did not finish: %d of %d sampled events seen", len(seen), len(sampled))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopWatch()
	<-watchDone
	mu.Lock()
	if !o.Backlog {
		res.Visible = percentiles(visible)
		res.CatchUp = lastSeen.Sub(from)
	}
	mu.Unlock()

	// Count every trail's events once the files stop changing.
	stable := 0
	prev := -1
	counted := map[string]int{}
	for stable < 3 {
		time.Sleep(time.Second)
		total, per, files, digests, err := countDelivered(ctx, o.Bucket, bucket, o.Trails, counted)
		if err != nil {
			return res, err
		}
		res.Delivered, res.Files, res.Digests = per, files, digests
		if total == prev {
			stable++
		} else {
			stable = 0
		}
		prev = total
	}
	if !o.Backlog {
		res.DeliveryRate = float64(res.Delivered[0]) / res.CatchUp.Seconds()
	}
	res.ServerCPU = scrape(endpoint, "process_cpu_seconds_total") - cpu0
	mem.poll()
	res.MaxRSSBytes = mem.MaxRSS()
	return res, nil
}

func listAll(ctx context.Context, st objstore.Store, bucket, prefix string) ([]objstore.ObjectInfo, error) {
	var out []objstore.ObjectInfo
	after := ""
	for {
		infos, err := st.List(ctx, bucket, prefix, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
		if len(infos) < 1000 {
			return out, nil
		}
		after = infos[len(infos)-1].Key
	}
}

// recordIDs returns the eventIDs in a gzipped log file.
func recordIDs(gz []byte) ([]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, err
	}
	recs := v.GetArray("Records")
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, string(r.GetStringBytes("eventID")))
	}
	return ids, nil
}

// countDelivered counts the records of every trail's files; counted
// remembers files already read.
func countDelivered(ctx context.Context, st objstore.Store, bucket string, trails int, counted map[string]int) (total int, per []int, files, digests int, err error) {
	per = make([]int, trails)
	for i := range trails {
		infos, err := listAll(ctx, st, bucket, fmt.Sprintf("trail%d/", i))
		if err != nil {
			return 0, nil, 0, 0, err
		}
		for _, info := range infos {
			if isDigest(info.Key) {
				digests++
				continue
			}
			files++
			n, ok := counted[info.Key]
			if !ok {
				obj, err := st.Get(ctx, bucket, info.Key)
				if err != nil {
					return 0, nil, 0, 0, err
				}
				ids, err := recordIDs(obj.Body)
				if err != nil {
					return 0, nil, 0, 0, fmt.Errorf("%s: %w", info.Key, err)
				}
				n = len(ids)
				counted[info.Key] = n
			}
			per[i] += n
			total += n
		}
	}
	return total, per, files, digests, nil
}

func isDigest(key string) bool { return strings.Contains(key, "/CloudTrail-Digest/") }

// scrape reads one unlabelled value from the server's /metrics.
func scrape(endpoint, name string) float64 {
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
