package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/trail"
)

// TestDigestChain runs a trail with log file validation through three
// digest intervals (one without events), a stop and a restart, and
// validates the bucket as `aws cloudtrail validate-logs` would.
func TestDigestChain(t *testing.T) {
	f := newFixture(t)
	keys, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tr := f.trail("signed", func(t *trail.Trail) { t.LogFileValidationEnabled = true; t.IsMultiRegionTrail = true })
	d := f.deliverer(Config{DigestInterval: time.Hour, Signer: keys})
	d.now = func() time.Time { return clock }
	pass := func() {
		t.Helper()
		if _, err := d.pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pass() // starts the home Region's chain at 10:00
	var want []string
	for h := range 3 {
		clock = clock.Add(20 * time.Minute)
		if h != 1 {
			want = append(want, f.add(
				ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"},
				ev{account: "111111111111", region: "eu-west-1", source: "ec2.amazonaws.com", name: "RunInstances"})...)
		}
		pass()
		clock = clock.Add(40 * time.Minute)
		pass()
	}
	// Stop: a final digest once the last files are in.
	want = append(want, f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "StopLogging"})...)
	tr.IsLogging = false
	tr.Windows[0].To = f.ledger.Last()
	f.trails.Put(tr)
	clock = clock.Add(10 * time.Minute)
	pass()
	st := d.stateOf(tr.ID)
	if len(st.Chains) != 0 {
		t.Fatalf("chains left after the stop: %d", len(st.Chains))
	}
	if d.Status(tr.ID).LatestDigestDeliveryTime.IsZero() {
		t.Fatal("no digest delivery time")
	}

	fp := map[string][]byte{}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		k, _ := keys.Current(r, clock)
		fp[k.Fingerprint()] = k.DER
	}
	v := &digest.Validator{Store: f.mem, Keys: fp}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	east, err := v.Validate(context.Background(), digest.Trail{Bucket: "logs", Account: "111111111111", Region: "us-east-1", Name: "signed", HomeRegion: "us-east-1"}, start, clock)
	if err != nil {
		t.Fatal(err)
	}
	// 10:00–11:00, 11:00–12:00 (no events), 12:00–13:00, 13:00–13:10 (final).
	if !east.OK() || east.ValidDigests != 4 || east.ValidLogs != 3 {
		t.Fatalf("us-east-1: %+v", east)
	}
	west, err := v.Validate(context.Background(), digest.Trail{Bucket: "logs", Account: "111111111111", Region: "eu-west-1", Name: "signed", HomeRegion: "us-east-1"}, start, clock)
	if err != nil {
		t.Fatal(err)
	}
	if !west.OK() || west.ValidLogs != 2 || west.ValidDigests < 2 {
		t.Fatalf("eu-west-1: %+v", west)
	}
	equal(t, "delivered", ids(f.delivered("AWSLogs/111111111111/CloudTrail/")), want)
}

// TestDigestsHonourTheBucketPolicy: a bucket that refuses the trail gets
// no digest either, and the status says why.
func TestDigestsHonourTheBucketPolicy(t *testing.T) {
	f := newFixture(t)
	keys, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tr := f.trail("signed", func(t *trail.Trail) { t.LogFileValidationEnabled = true })
	d := f.deliverer(Config{DigestInterval: time.Hour, Signer: keys})
	d.now = func() time.Time { return clock }
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.buckets.denied.Store(true)
	clock = clock.Add(61 * time.Minute)
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(tr.ID); st.LatestDigestDeliveryError != "AccessDenied" || !st.LatestDigestDeliveryTime.IsZero() {
		t.Fatalf("status: %+v", st)
	}
	if infos, _ := f.mem.List(context.Background(), "logs", "AWSLogs/111111111111/CloudTrail-Digest/", "", 10); len(infos) != 0 {
		t.Fatalf("%d digests written into a refusing bucket", len(infos))
	}
	f.buckets.denied.Store(false)
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(tr.ID); st.LatestDigestDeliveryError != "" || st.LatestDigestDeliveryTime.IsZero() {
		t.Fatalf("status after the policy allows again: %+v", st)
	}
}

// TestRetainedFiles: with a retention period every log and digest file is
// written retained from its delivery, so that neither can be changed or
// removed; a bucket that cannot retain gets nothing, and the status says
// why.
func TestRetainedFiles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keys, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tr := f.trail("signed", func(t *trail.Trail) { t.LogFileValidationEnabled = true })
	d := f.deliverer(Config{DigestInterval: time.Hour, Signer: keys, MaxFileBytes: 1 << 20, MaxBatchBytes: 1 << 20, Uploads: 2})
	d.now = func() time.Time { return clock }
	f.buckets.keep.Store(int64(24 * time.Hour))
	if _, err := d.pass(ctx); err != nil {
		t.Fatal(err)
	}
	f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	clock = clock.Add(61 * time.Minute)
	if _, err := d.pass(ctx); err != nil {
		t.Fatal(err)
	}
	st := d.Status(tr.ID)
	want := "InvalidRequest: Bucket is missing Object Lock Configuration"
	if st.LatestDeliveryError != want || st.LatestDigestDeliveryError != want {
		t.Fatalf("status with a bucket without Object Lock: %+v", st)
	}
	if infos, _ := f.mem.List(ctx, "logs", "", "", 10); len(infos) != 0 {
		t.Fatalf("%d files written unretained", len(infos))
	}

	// The same bucket with Object Lock takes the files, retained.
	locked := objstore.NewMem()
	locked.SetClock(func() time.Time { return clock })
	if err := locked.CreateBucket(ctx, "logs", true); err != nil {
		t.Fatal(err)
	}
	f.buckets.st, f.mem = locked, locked
	if _, err := d.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(tr.ID); st.LatestDeliveryError != "" || st.LatestDigestDeliveryError != "" {
		t.Fatalf("status with Object Lock: %+v", st)
	}
	infos, err := locked.List(ctx, "logs", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var logs, digests int
	for _, info := range infos {
		if strings.Contains(info.Key, "/CloudTrail-Digest/") {
			digests++
		} else {
			logs++
		}
		if err := locked.Delete(ctx, "logs", info.Key); !errors.Is(err, objstore.ErrObjectLocked) {
			t.Errorf("delete %s: %v, want ErrObjectLocked", info.Key, err)
		}
		if err := locked.Put(ctx, "logs", info.Key, []byte("forged"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrObjectLocked) {
			t.Errorf("overwrite %s: %v, want ErrObjectLocked", info.Key, err)
		}
	}
	if logs != 1 || digests != 1 {
		t.Fatalf("%d log files and %d digests, want 1 and 1", logs, digests)
	}
	// A day after delivery the retention has run out.
	locked.SetClock(func() time.Time { return clock.Add(24*time.Hour + time.Second) })
	if err := locked.Delete(ctx, "logs", infos[0].Key); err != nil {
		t.Errorf("delete after the retention: %v", err)
	}
}

// crashingStore dies at its at-th Put, before or after the object lands,
// and fails every Put after it, as a process killed there would.
type crashingStore struct {
	objstore.Store
	at      int64
	after   bool
	n       atomic.Int64
	crashed atomic.Bool
}

var errCrashed = errors.New("crashed")

func (s *crashingStore) Put(ctx context.Context, bucket, key string, body []byte, o objstore.PutOptions) error {
	if s.crashed.Load() {
		return errCrashed
	}
	if s.n.Add(1) == s.at {
		s.crashed.Store(true)
		if s.after {
			if err := s.Store.Put(ctx, bucket, key, body, o); err != nil {
				return err
			}
		}
		return errCrashed
	}
	return s.Store.Put(ctx, bucket, key, body, o)
}

// TestDigestChainSurvivesACrashAtEveryWrite kills delivery at each of its
// writes in turn, before and after the object lands, and restarts it. The
// bucket retains every file, so a replay that wrote different bytes
// would be refused; the chain must validate whole every time, with every
// event in exactly one log file.
func TestDigestChainSurvivesACrashAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	keys, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	run := func(t *testing.T, at int64, after bool) (puts int64) {
		f := newFixture(t)
		locked := objstore.NewMem()
		if err := locked.CreateBucket(ctx, "logs", true); err != nil {
			t.Fatal(err)
		}
		f.mem = locked
		f.buckets.keep.Store(int64(365 * 24 * time.Hour))
		cs := &crashingStore{Store: locked, at: at, after: after}
		f.buckets.st = cs
		clock := start
		locked.SetClock(func() time.Time { return clock })
		tr := f.trail("signed", func(t *trail.Trail) { t.LogFileValidationEnabled = true; t.IsMultiRegionTrail = true })
		deliverer := func() *Deliverer {
			d := f.deliverer(Config{DigestInterval: 10 * time.Minute, Signer: keys, MaxFileBytes: 1 << 20, MaxBatchBytes: 1 << 20, Uploads: 1})
			d.now = func() time.Time { return clock }
			return d
		}
		d := deliverer()
		pass := func() {
			t.Helper()
			if _, err := d.pass(ctx); err != nil {
				t.Fatal(err)
			}
			if cs.crashed.Load() && f.buckets.st == cs {
				f.close()
				f.open()
				f.buckets.st = locked
				d = deliverer()
				if _, err := d.pass(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		pass()
		var want []string
		for step := range 9 {
			if step%4 != 2 { // some intervals have no events
				want = append(want, f.add(
					ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"},
					ev{account: "111111111111", region: "eu-west-1", source: "ec2.amazonaws.com", name: "RunInstances"})...)
			}
			clock = clock.Add(4 * time.Minute)
			pass()
		}
		tr.IsLogging = false
		tr.Windows[0].To = f.ledger.Last()
		if err := f.trails.Put(tr); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Minute)
		pass()
		if st := d.Status(tr.ID); st.LatestDeliveryError != "" || st.LatestDigestDeliveryError != "" || len(d.stateOf(tr.ID).Chains) != 0 {
			t.Fatalf("crash at put %d (after=%v): delivery did not finish: %+v", at, after, st)
		}

		fp := map[string][]byte{}
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			k, _ := keys.Current(r, clock)
			fp[k.Fingerprint()] = k.DER
		}
		v := &digest.Validator{Store: locked, Keys: fp}
		infos, _ := locked.List(ctx, "logs", "", "", 1000)
		var logs, digests int
		for _, info := range infos {
			if strings.Contains(info.Key, "/CloudTrail-Digest/") {
				digests++
			} else {
				logs++
			}
		}
		var rep digest.Report
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			got, err := v.Validate(ctx, digest.Trail{Bucket: "logs", Account: "111111111111", Region: r, Name: "signed", HomeRegion: "us-east-1"}, start, clock)
			if err != nil {
				t.Fatal(err)
			}
			if !got.OK() || len(got.Gaps) != 0 {
				t.Fatalf("crash at put %d (after=%v): %s: %+v", at, after, r, got)
			}
			rep.ValidDigests += got.ValidDigests
			rep.ValidLogs += got.ValidLogs
		}
		if rep.ValidDigests != digests || rep.ValidLogs != logs {
			t.Fatalf("crash at put %d (after=%v): validated %d digests and %d logs of %d and %d in the bucket", at, after, rep.ValidDigests, rep.ValidLogs, digests, logs)
		}
		equal(t, fmt.Sprintf("crash at put %d (after=%v)", at, after), ids(f.delivered("AWSLogs/111111111111/CloudTrail/")), want)
		return cs.n.Load()
	}
	total := run(t, 0, false)
	if total < 20 {
		t.Fatalf("only %d writes in the script", total)
	}
	for at := int64(1); at <= total; at++ {
		for _, after := range []bool{false, true} {
			run(t, at, after)
		}
	}
}

// BenchmarkDeliveryWithValidation delivers 20,000 events per iteration
// for one trail into memory, with and without log file validation (a
// digest every few iterations), to show what digests add to delivery.
func BenchmarkDeliveryWithValidation(b *testing.B) {
	for _, validation := range []bool{false, true} {
		b.Run(fmt.Sprintf("validation=%v", validation), func(b *testing.B) {
			f := newFixture(b)
			cfg := DefaultConfig()
			if validation {
				keys, err := digest.OpenKeyring(b.TempDir(), 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Signer = keys
			}
			clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
			if cfg.Signer != nil {
				// Keys are made once per Region and 20 days: not per event.
				for _, r := range regions {
					if _, err := cfg.Signer.Current(r, clock); err != nil {
						b.Fatal(err)
					}
				}
			}
			f.trail("t", func(t *trail.Trail) { t.LogFileValidationEnabled = validation; t.IsMultiRegionTrail = true })
			d := f.deliverer(cfg)
			d.now = func() time.Time { return clock }
			evs := make([]ev, 20000)
			for i := range evs {
				evs[i] = ev{account: "111111111111", region: regions[i%3], source: "ec2.amazonaws.com", name: "RunInstances"}
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				f.add(evs...)
				clock = clock.Add(20 * time.Minute)
				b.StartTimer()
				for {
					more, err := d.pass(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if !more {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
		})
	}
}
