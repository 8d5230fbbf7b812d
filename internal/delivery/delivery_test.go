package delivery

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a ledger, trails and a memory bucket.
type fixture struct {
	t       testing.TB
	dir     string
	db, ids *pebble.DB
	ledger  *ledger.Ledger
	trails  *trail.Store
	mem     *objstore.Mem
	buckets *fakeBuckets
	orgs    fakeOrgs
	stop    func()
	n       int
}

type fakeBuckets struct {
	st     objstore.Store
	denied atomic.Bool
	keep   atomic.Int64 // retention, as a time.Duration
}

func (b *fakeBuckets) Retention(string) (time.Duration, error) {
	return time.Duration(b.keep.Load()), nil
}

func (b *fakeBuckets) Store(string) (objstore.Store, error) { return b.st, nil }
func (b *fakeBuckets) CanDeliver(bucket, account, arn, key string) bool {
	return !b.denied.Load()
}

type fakeOrgs map[string]trail.Org

func (o fakeOrgs) OrgOf(account string) (trail.Org, bool) {
	for _, org := range o {
		if org.Has(account) {
			return org, true
		}
	}
	return trail.Org{}, false
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), mem: objstore.NewMem(), orgs: fakeOrgs{}}
	f.buckets = &fakeBuckets{st: f.mem}
	if err := f.mem.CreateBucket(context.Background(), "logs", false); err != nil {
		t.Fatal(err)
	}
	f.open()
	t.Cleanup(f.close)
	return f
}

func (f *fixture) open() {
	var err error
	if f.db, err = store.Open(f.dir+"/ledger", store.Options{}); err != nil {
		f.t.Fatal(err)
	}
	if f.ids, err = store.Open(f.dir+"/ids", store.Options{NoWAL: true}); err != nil {
		f.t.Fatal(err)
	}
	if f.ledger, err = ledger.New(f.db, f.ids, quiet); err != nil {
		f.t.Fatal(err)
	}
	if f.trails, err = trail.Open(f.db); err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.ledger.Run(ctx); close(done) }()
	f.stop = func() { cancel(); <-done }
}

func (f *fixture) close() {
	if f.stop == nil {
		return
	}
	f.stop()
	f.stop = nil
	f.ids.Close()
	f.db.Close()
}

func (f *fixture) deliverer(cfg Config) *Deliverer {
	d, err := New(f.db, f.ledger, f.trails, f.buckets, f.orgs, nil, cfg, quiet)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// ev describes a test event.
type ev struct {
	account, region, source, name string
	readOnly                      bool
	category                      string
}

// add appends events and returns their IDs.
func (f *fixture) add(evs ...ev) []string {
	f.t.Helper()
	var entries []ledger.Entry
	var ids []string
	for _, e := range evs {
		f.n++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.n)
		cat := e.category
		if cat == "" {
			cat = "Management"
		}
		raw := fmt.Sprintf(`{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","accountId":"%s","arn":"arn:aws:iam::%s:user/alice"},"eventTime":"2026-11-22T10:00:00Z","eventSource":"%s","eventName":"%s","awsRegion":"%s","sourceIPAddress":"203.0.113.7","userAgent":"test","requestParameters":null,"responseElements":null,"eventID":"%s","readOnly":%v,"eventType":"AwsApiCall","managementEvent":%v,"recipientAccountId":"%s","eventCategory":"%s"}`,
			e.account, e.account, e.source, e.name, e.region, id, e.readOnly, cat == "Management", e.account, cat)
		env, err := event.Parse([]byte(raw), event.Defaults{})
		if err != nil {
			f.t.Fatal(err)
		}
		v, err := env.MarshalBinary()
		if err != nil {
			f.t.Fatal(err)
		}
		entries = append(entries, ledger.Entry{Account: env.AccountID, ID: env.EventID, Value: v})
		ids = append(ids, id)
	}
	if _, err := f.ledger.Append(context.Background(), entries); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// logging makes a logging trail starting at the ledger's current end.
func (f *fixture) trail(name string, mod func(*trail.Trail)) *trail.Trail {
	t := &trail.Trail{ID: "id-" + name, Name: name, Account: "111111111111", HomeRegion: "us-east-1", S3BucketName: "logs",
		IncludeGlobalServiceEvents: true, Created: time.Now(), IsLogging: true,
		Windows: []trail.Window{{From: f.ledger.Last()}}}
	if mod != nil {
		mod(t)
	}
	if err := f.trails.Put(t); err != nil {
		f.t.Fatal(err)
	}
	return t
}

var keyPattern = regexp.MustCompile(`^(?:(.+)/)?AWSLogs/(?:(o-[a-z0-9]{10})/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$`)

// delivered reads every file under prefix and returns event IDs by file
// key, checking each key and body as it goes.
func (f *fixture) delivered(prefix string) map[string][]string {
	f.t.Helper()
	ctx := context.Background()
	infos, err := f.mem.List(ctx, "logs", prefix, "", 100000)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, info := range infos {
		m := keyPattern.FindStringSubmatch(info.Key)
		if m == nil {
			f.t.Fatalf("key %q does not follow CloudTrail's layout", info.Key)
		}
		if m[3] != m[8] || m[4] != m[9] {
			f.t.Fatalf("key %q: account or region differ between folder and name", info.Key)
		}
		obj, err := f.mem.Get(ctx, "logs", info.Key)
		if err != nil {
			f.t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(obj.Body))
		if err != nil {
			f.t.Fatal(err)
		}
		zr.Multistream(false)
		body, err := io.ReadAll(zr)
		if err != nil {
			f.t.Fatal(err)
		}
		if rest, _ := io.ReadAll(io.MultiReader(zr)); len(rest) != 0 {
			f.t.Fatalf("%s: more than one gzip member", info.Key)
		}
		var doc struct {
			Records []struct {
				EventID            string `json:"eventID"`
				RecipientAccountID string `json:"recipientAccountId"`
				AWSRegion          string `json:"awsRegion"`
			}
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			f.t.Fatalf("%s: %v", info.Key, err)
		}
		for _, r := range doc.Records {
			if r.RecipientAccountID != m[3] || r.AWSRegion != m[4] {
				f.t.Fatalf("%s holds a record of %s/%s", info.Key, r.RecipientAccountID, r.AWSRegion)
			}
			out[info.Key] = append(out[info.Key], r.EventID)
		}
	}
	return out
}

// ids flattens delivered files into a sorted list of event IDs.
func ids(files map[string][]string) []string {
	var out []string
	for _, v := range files {
		out = append(out, v...)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(sorted(want), ",") {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(got), got, len(want), sorted(want))
	}
}

func TestDeliversSelectedEventsOnce(t *testing.T) {
	f := newFixture(t)
	f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"}) // before logging
	f.trail("all", func(t *trail.Trail) { t.S3KeyPrefix = "a" })
	f.trail("writes", func(t *trail.Trail) {
		t.S3KeyPrefix = "w"
		t.EventSelectors = []selector.EventSelector{{ReadWriteType: "WriteOnly"}}
	})
	read := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true})
	write := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	f.add(ev{account: "222222222222", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"}) // another account
	f.add(ev{account: "111111111111", region: "eu-west-1", source: "ec2.amazonaws.com", name: "RunInstances"}) // another region
	data := f.add(ev{account: "111111111111", region: "us-east-1", source: "s3.amazonaws.com", name: "GetObject", readOnly: true, category: "Data"})
	d := f.deliverer(Config{})
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	equal(t, "trail all", ids(f.delivered("a/")), append(read, write...))
	equal(t, "trail writes", ids(f.delivered("w/")), write)
	_ = data
	// A second pass has nothing new to write.
	puts := f.mem.Puts()
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.mem.Puts() != puts {
		t.Fatalf("an idle pass wrote %d objects", f.mem.Puts()-puts)
	}
	st := d.Status("id-all")
	if st.LatestDeliveryTime.IsZero() || st.LatestDeliveryError != "" {
		t.Fatalf("status after delivery: %+v", st)
	}
}

func TestMultiRegionGlobalAndOrganization(t *testing.T) {
	f := newFixture(t)
	f.orgs["o-aaaaaaaaaa"] = trail.Org{ID: "o-aaaaaaaaaa", Management: "111111111111", Members: []string{"111111111111", "333333333333"}}
	f.trail("multi", func(t *trail.Trail) { t.S3KeyPrefix = "m"; t.IsMultiRegionTrail = true; t.HomeRegion = "us-east-2" })
	f.trail("single", func(t *trail.Trail) { t.S3KeyPrefix = "s" })
	f.trail("noglobal", func(t *trail.Trail) { t.S3KeyPrefix = "n"; t.IncludeGlobalServiceEvents = false })
	f.trail("org", func(t *trail.Trail) {
		t.S3KeyPrefix = "o"
		t.IsMultiRegionTrail, t.IsOrganizationTrail, t.OrganizationID = true, true, "o-aaaaaaaaaa"
	})
	east := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	west := f.add(ev{account: "111111111111", region: "eu-west-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	global := f.add(ev{account: "111111111111", region: "us-east-1", source: "iam.amazonaws.com", name: "CreateUser"})
	member := f.add(ev{account: "333333333333", region: "ap-south-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	f.add(ev{account: "444444444444", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	d := f.deliverer(Config{})
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	equal(t, "multi-region", ids(f.delivered("m/")), append(append(east, west...), global...))
	equal(t, "single-region", ids(f.delivered("s/")), append(east, global...))
	equal(t, "without global events", ids(f.delivered("n/")), east)
	orgFiles := f.delivered("o/")
	equal(t, "organization", ids(orgFiles), append(append(append(east, west...), global...), member...))
	for k := range orgFiles {
		if !strings.HasPrefix(k, "o/AWSLogs/o-aaaaaaaaaa/") {
			t.Fatalf("organization trail file %s lacks the organization folder", k)
		}
	}
}

func TestStopAndStartWindows(t *testing.T) {
	f := newFixture(t)
	tr := f.trail("t", nil)
	first := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "A"})
	tr.IsLogging = false
	tr.Windows[0].To = f.ledger.Last()
	f.trails.Put(tr)
	f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "B"}) // while stopped
	tr.IsLogging = true
	tr.Windows = append(tr.Windows, trail.Window{From: f.ledger.Last()})
	f.trails.Put(tr)
	third := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "C"})
	d := f.deliverer(Config{})
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	equal(t, "windows", ids(f.delivered("")), append(first, third...))
}

func TestBucketOutageLosesNothing(t *testing.T) {
	f := newFixture(t)
	f.trail("t", nil)
	want := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "A"})
	d := f.deliverer(Config{})
	f.mem.SetFailure(errors.New("connection refused"))
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := d.Status("id-t")
	if st.LatestDeliveryError == "" || !st.LatestDeliveryTime.IsZero() || st.LatestDeliveryAttemptTime.IsZero() {
		t.Fatalf("status during an outage: %+v", st)
	}
	want = append(want, f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "B"})...)
	f.buckets.denied.Store(true)
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status("id-t"); st.LatestDeliveryError != "AccessDenied" {
		t.Fatalf("a refused delivery shows %q", st.LatestDeliveryError)
	}
	f.buckets.denied.Store(false)
	f.mem.SetFailure(nil)
	for range 2 {
		if _, err := d.pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	equal(t, "after the outage", ids(f.delivered("")), want)
	if st := d.Status("id-t"); st.LatestDeliveryError != "" || st.LatestDeliveryTime.IsZero() {
		t.Fatalf("status after the outage: %+v", st)
	}
}

// failingStore fails every put after the first n, as a crash would cut
// a batch short.
type failingStore struct {
	objstore.Store
	left atomic.Int64
}

func (s *failingStore) Put(ctx context.Context, bucket, key string, body []byte, o objstore.PutOptions) error {
	if s.left.Add(-1) < 0 {
		return errors.New("crashed")
	}
	return s.Store.Put(ctx, bucket, key, body, o)
}

// crashAndReplay runs a pass that a crash cuts short after written files,
// restarts, and runs a pass again, which must rewrite the files of the
// first attempt byte for byte and leave the trail with files in all. It
// returns the deliverer after the restart and the delivered files.
func (f *fixture) crashAndReplay(written, files int) (*Deliverer, map[string][]string) {
	f.t.Helper()
	fs := &failingStore{Store: f.mem}
	fs.left.Store(int64(written))
	f.buckets.st = fs
	if _, err := f.deliverer(Config{Uploads: 1}).pass(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	partial := f.delivered("")
	if len(partial) != written {
		f.t.Fatalf("the interrupted batch wrote %d files, want %d", len(partial), written)
	}
	bodies := map[string][]byte{}
	for k := range partial {
		o, _ := f.mem.Get(context.Background(), "logs", k)
		bodies[k] = o.Body
	}
	// Restart: a new process finds the pending batch and replays it.
	f.close()
	f.open()
	f.buckets.st = f.mem
	d := f.deliverer(Config{})
	if _, err := d.pass(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	got := f.delivered("")
	if len(got) != files {
		f.t.Fatalf("after the replay %d files, want %d", len(got), files)
	}
	for k, b := range bodies {
		o, err := f.mem.Get(context.Background(), "logs", k)
		if err != nil || !bytes.Equal(o.Body, b) {
			f.t.Fatalf("the replay did not rewrite %s identically (err %v)", k, err)
		}
	}
	return d, got
}

func TestInterruptedBatchReplaysIdentically(t *testing.T) {
	f := newFixture(t)
	f.trail("t", func(t *trail.Trail) { t.IsMultiRegionTrail = true })
	rng := rand.New(rand.NewSource(7))
	var want []string
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"}
	for range 50 {
		want = append(want, f.add(ev{account: "111111111111", region: regions[rng.Intn(len(regions))], source: "ec2.amazonaws.com", name: "RunInstances"})...)
	}
	_, files := f.crashAndReplay(2, len(regions))
	equal(t, "after the replay", ids(files), want)
}

func TestFilesSplitAtTheSizeLimit(t *testing.T) {
	f := newFixture(t)
	f.trail("t", nil)
	var want []string
	for range 40 {
		want = append(want, f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})...)
	}
	d := f.deliverer(Config{MaxFileBytes: 4096})
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := f.delivered("")
	if len(files) < 5 {
		t.Fatalf("40 records of ~700 bytes under a 4 KB limit made %d files", len(files))
	}
	for k := range files {
		o, _ := f.mem.Get(context.Background(), "logs", k)
		zr, _ := gzip.NewReader(bytes.NewReader(o.Body))
		b, _ := io.ReadAll(zr)
		if len(b) > 4096 {
			t.Fatalf("%s holds %d bytes uncompressed, over the limit", k, len(b))
		}
	}
	equal(t, "split files", ids(files), want)
}

func TestBatchMemoryBoundKeepsEverything(t *testing.T) {
	f := newFixture(t)
	f.trail("t", nil)
	var want []string
	for range 30 {
		want = append(want, f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"})...)
	}
	d := f.deliverer(Config{MaxBatchBytes: 2000})
	for range 30 {
		if _, err := d.pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	equal(t, "bounded batches", ids(f.delivered("")), want)
}

func TestIdenticalFilesAreCompressedOnce(t *testing.T) {
	f := newFixture(t)
	f.trail("default", func(t *trail.Trail) { t.S3KeyPrefix = "a" })
	f.trail("nokms", func(t *trail.Trail) {
		t.S3KeyPrefix = "b"
		t.EventSelectors = []selector.EventSelector{{ReadWriteType: "All", ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}}
	})
	f.trail("writes", func(t *trail.Trail) {
		t.S3KeyPrefix = "c"
		t.EventSelectors = []selector.EventSelector{{ReadWriteType: "WriteOnly"}}
	})
	f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"},
		ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true})
	d := f.deliverer(Config{})
	var ws []*work
	for _, tr := range f.trails.All() {
		ws = append(ws, d.workFor(tr, d.stateOf(tr.ID), nil, nil))
	}
	if _, err := d.scan(context.Background(), ws, 0, f.ledger.Last(), false); err != nil {
		t.Fatal(err)
	}
	share(ws)
	byName := map[string]*file{}
	for _, w := range ws {
		if len(w.files) != 1 {
			t.Fatalf("trail %s has %d files", w.t.Name, len(w.files))
		}
		byName[w.t.Name] = w.files[0]
	}
	if byName["default"].body != byName["nokms"].body {
		t.Fatal("two trails with the same records do not share their encoded body")
	}
	if byName["default"].body == byName["writes"].body {
		t.Fatal("trails with different records share a body")
	}
}

func TestPendingBatchFollowsANewBucket(t *testing.T) {
	f := newFixture(t)
	tr := f.trail("t", nil)
	want := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "A"})
	d := f.deliverer(Config{})
	f.mem.SetFailure(objstore.ErrNoSuchBucket)
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status("id-t"); st.LatestDeliveryError != "NoSuchBucket" {
		t.Fatalf("status: %+v", st)
	}
	// The user points the trail at another bucket (here: a prefix in a
	// working store) instead of bringing the old one back.
	f.mem.SetFailure(nil)
	tr.S3KeyPrefix = "fixed"
	f.trails.Put(tr)
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	equal(t, "after the fix", ids(f.delivered("fixed/")), want)
	equal(t, "under the old prefix", ids(f.delivered("AWSLogs/")), nil)
}

func TestDeliveryErrorNames(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", errAccessDenied), "AccessDenied"},
		{fmt.Errorf("put: %w", objstore.ErrNoSuchBucket), "NoSuchBucket"},
		{fmt.Errorf("put: %w", &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your rate"}), "SlowDown"},
		{fmt.Errorf("put: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), "the bucket's endpoint cannot be reached: connection refused"},
	} {
		if got := deliveryError(c.err); got != c.want {
			t.Errorf("deliveryError(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
