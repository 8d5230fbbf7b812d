package delivery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/digest"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/trail"
)

// addUnchecked appends a record as a ledger written before ingest checked
// its members would hold it: the envelope is built by hand, not by
// event.Parse, which refuses it today.
func (f *fixture) addUnchecked(account, region string) string {
	f.t.Helper()
	f.n++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.n)
	raw := fmt.Sprintf(`{"eventVersion":"1.11","eventTime":"2026-11-22T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":%q,"eventID":%q,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":%q,"eventCategory":"Management"}`,
		region, id, account)
	if _, err := event.Parse([]byte(raw), event.Defaults{}); err == nil {
		f.t.Fatalf("ingest takes %s/%s: the test no longer stands for an old ledger", account, region)
	}
	e := &event.Envelope{EventID: id, EventTime: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), EventName: "RunInstances",
		EventSource: "ec2.amazonaws.com", AccountID: account, Region: region, Category: event.Management, Raw: []byte(raw)}
	v, err := e.MarshalBinary()
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.ledger.Append(context.Background(), []ledger.Entry{{Account: account, ID: id, Value: v}}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// regionsAsked is a signer that records the Regions it was asked for.
type regionsAsked struct {
	Signer
	mu   sync.Mutex
	seen map[string]bool
}

func (s *regionsAsked) Current(region string, now time.Time) (*digest.SigningKey, error) {
	s.mu.Lock()
	s.seen[region] = true
	s.mu.Unlock()
	return s.Signer.Current(region, now)
}

// TestHostileRecordIsQuarantined is the attack that stopped an
// organization trail for ever: a member account's record with awsRegion
// "../../x" in the ledger (as one got there before ingest refused it).
// Every trail that selects it delivers the other records, quarantines it,
// shows it in its status, and keeps going after a restart.
func TestHostileRecordIsQuarantined(t *testing.T) {
	f := newFixture(t)
	f.orgs["o-aaaaaaaaaa"] = trail.Org{ID: "o-aaaaaaaaaa", Management: "111111111111", Members: []string{"111111111111", "333333333333"}}
	keys, err := digest.OpenKeyring(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	signer := &regionsAsked{Signer: keys, seen: map[string]bool{}}
	clock := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.trail("org", func(t *trail.Trail) {
		t.S3KeyPrefix = "o"
		t.IsMultiRegionTrail, t.IsOrganizationTrail, t.OrganizationID = true, true, "o-aaaaaaaaaa"
		t.LogFileValidationEnabled = true
	})
	f.trail("multi", func(t *trail.Trail) { t.S3KeyPrefix = "m"; t.IsMultiRegionTrail = true })
	f.trail("single", func(t *trail.Trail) { t.S3KeyPrefix = "s" })

	before := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "RunInstances"},
		ev{account: "333333333333", region: "eu-west-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	f.addUnchecked("333333333333", "../../x") // the member's record
	mine := f.addUnchecked("111111111111", "../../x")
	f.addUnchecked("../../../x", "us-east-1") // selected by no trail: no account is "../../../x"
	for _, region := range []string{"..", "US-EAST-1", "us-east-1/../../y", "", strings.Repeat("a", 300), "us-east-1\x00"} {
		f.addUnchecked("111111111111", region)
	}
	after := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "TerminateInstances"},
		ev{account: "333333333333", region: "ap-south-1", source: "ec2.amazonaws.com", name: "RunInstances"})
	good := append(append([]string(nil), before...), after...)
	ownGood := []string{before[0], after[0]}

	d := f.deliverer(Config{Signer: signer, DigestInterval: time.Hour})
	d.now = func() time.Time { return clock }
	pass := func(d *Deliverer) {
		t.Helper()
		if _, err := d.pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	pass(d)
	equal(t, "organization trail", ids(f.delivered("o/")), good)
	equal(t, "multi-Region trail", ids(f.delivered("m/")), ownGood)
	equal(t, "single-Region trail", ids(f.delivered("s/")), ownGood)
	for _, c := range []struct {
		id   string
		want uint64
	}{{"id-org", 8}, {"id-multi", 7}, {"id-single", 0}} {
		st := d.Status(c.id)
		if st.QuarantinedRecords != c.want || st.LatestDeliveryError != "" || st.LatestDeliveryTime.IsZero() {
			t.Errorf("%s: status %+v, want %d quarantined and no error", c.id, st, c.want)
		}
	}
	if got := d.QuarantinedTotal(); got != 15 {
		t.Errorf("QuarantinedTotal = %d, want 15", got)
	}
	for region := range signer.seen {
		if !event.ValidRegion(region) {
			t.Errorf("the signer was asked for Region %q", region)
		}
	}

	// The list says which records, why, and where they are.
	list, next, err := d.Quarantined(func(id string) bool { return id == "id-multi" }, nil, 100)
	if err != nil || next != nil || len(list) != 7 {
		t.Fatalf("quarantine list of the multi-Region trail: %d records, next %x, %v", len(list), next, err)
	}
	q := list[0]
	if q.EventID != mine || q.Region != "../../x" || q.AccountID != "111111111111" || q.Reason != "awsRegion is not a Region name" ||
		!q.Time.Equal(clock) || !strings.HasSuffix(q.TrailARN, ":trail/multi") {
		t.Errorf("first quarantined record: %+v", q)
	}
	raw, err := f.ledger.Get(q.Sequence)
	var e event.Envelope
	if err != nil || e.UnmarshalBinary(raw) != nil || e.EventID != mine {
		t.Errorf("the record is not kept at its sequence number %d: %v", q.Sequence, err)
	}
	if long := list[5].Region; len(long) != maxQuarantineField {
		t.Errorf("a 300-byte Region is kept as %d bytes", len(long))
	}
	// Pages: one record at a time, in order, nothing twice.
	var paged []uint64
	var after0 []byte
	for {
		page, nx, err := d.Quarantined(func(string) bool { return true }, after0, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			paged = append(paged, r.Sequence)
		}
		if nx == nil {
			break
		}
		after0 = nx
	}
	if len(paged) != 15 {
		t.Errorf("paging one by one listed %d records, want 15", len(paged))
	}

	// Nothing is written or counted twice, in this process or the next.
	puts := f.mem.Puts()
	pass(d)
	f.close()
	f.open()
	d = f.deliverer(Config{Signer: signer, DigestInterval: time.Hour})
	d.now = func() time.Time { return clock }
	pass(d)
	if f.mem.Puts() != puts {
		t.Errorf("idle passes wrote %d objects", f.mem.Puts()-puts)
	}
	if st := d.Status("id-org"); st.QuarantinedRecords != 8 {
		t.Errorf("after a restart the organization trail counts %d quarantined records", st.QuarantinedRecords)
	}
	if d.QuarantinedTotal() != 0 {
		t.Errorf("a restart counted %d records again", d.QuarantinedTotal())
	}
	// And the trail keeps delivering.
	later := f.add(ev{account: "333333333333", region: "us-east-1", source: "ec2.amazonaws.com", name: "StopInstances"})
	pass(d)
	equal(t, "organization trail after the restart", ids(f.delivered("o/")), append(good, later...))
}

// TestPendingBatchFromBeforeQuarantine: a batch cut by a version without
// quarantine, holding the hostile record, is pending in the state (its
// every attempt failed). The new version delivers it without the record,
// lists the record once, and writes the same files as the batch's other
// files would have been.
func TestPendingBatchFromBeforeQuarantine(t *testing.T) {
	f := newFixture(t)
	tr := f.trail("t", func(t *trail.Trail) { t.IsMultiRegionTrail = true })
	from := f.ledger.Last()
	good := f.add(ev{account: "111111111111", region: "us-east-1", source: "ec2.amazonaws.com", name: "A"})
	f.addUnchecked("111111111111", "../../x")
	good = append(good, f.add(ev{account: "111111111111", region: "eu-west-1", source: "ec2.amazonaws.com", name: "B"})...)
	clock := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	d := f.deliverer(Config{})
	d.now = func() time.Time { return clock }
	st := d.stateOf(tr.ID)
	st.Cursor = from
	st.Pending = &batch{From: from, To: f.ledger.Last(), Time: clock.Add(-time.Hour), Trail: tr}
	st.Status.LatestDeliveryError = `objstore: invalid key "AWSLogs/111111111111/CloudTrail/../../x/..."`
	if err := d.saveState(tr.ID, st); err != nil {
		t.Fatal(err)
	}
	f.close()
	f.open()
	for range 2 {
		d = f.deliverer(Config{})
		d.now = func() time.Time { return clock }
		if _, err := d.pass(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	equal(t, "delivered", ids(f.delivered("")), good)
	for k := range f.delivered("") {
		if !strings.Contains(k, "/2026/11/22/111111111111_CloudTrail_") || !strings.Contains(k, "_20261122T0905Z_") {
			t.Errorf("%s is not stamped with the pending batch's time", k)
		}
	}
	s := d.Status(tr.ID)
	if s.QuarantinedRecords != 1 || s.LatestDeliveryError != "" {
		t.Fatalf("status %+v", s)
	}
}

// TestQuarantineReplaysIdentically: a batch with a quarantined record,
// cut short by a crash, is rebuilt after the restart into the same files
// byte for byte, and the record is counted once.
func TestQuarantineReplaysIdentically(t *testing.T) {
	f := newFixture(t)
	f.trail("t", func(t *trail.Trail) { t.IsMultiRegionTrail = true })
	var want []string
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	for i := range 30 {
		want = append(want, f.add(ev{account: "111111111111", region: regions[i%3], source: "ec2.amazonaws.com", name: "RunInstances"})...)
		if i%10 == 5 {
			f.addUnchecked("111111111111", fmt.Sprintf("../%d", i))
		}
	}
	d, files := f.crashAndReplay(1, len(regions))
	equal(t, "after the replay", ids(files), want)
	if s := d.Status("id-t"); s.QuarantinedRecords != 3 {
		t.Fatalf("%d quarantined after the replay, want 3", s.QuarantinedRecords)
	}
}

// TestPlaceableRecordsMakeValidKeys: whatever a record holds, once it is
// placeable its log file's key is one every bucket backend stores, and a
// Region that would make the trail's digest names too long is the
// record's fault only when the trail's own Region's are not.
func TestPlaceableRecordsMakeValidKeys(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("a", 63) + "1"
	for _, region := range []string{"us-east-1", "a", long, "local"} {
		e := &event.Envelope{AccountID: "111111111111", Region: region, Raw: []byte(`{}`)}
		if why := unplaceable(e); why != "" {
			t.Fatalf("%q: %s", region, why)
		}
		k := FileKey(strings.Repeat("p/", 100)[:199], "o-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", e.AccountID, region, at, Unique("id", 1, 2, e.AccountID, region, 0))
		if err := objstore.CheckKey(k); err != nil {
			t.Errorf("%v", err)
		}
	}
	for _, e := range []*event.Envelope{
		{AccountID: "111111111111", Region: "../../x", Raw: []byte(`{}`)},
		{AccountID: "1111111111", Region: "us-east-1", Raw: []byte(`{}`)},
		{AccountID: "111111111111", Region: "us-east-1", Raw: []byte(`[]`)},
		{AccountID: "111111111111", Region: "us-east-1"},
	} {
		if unplaceable(e) == "" {
			t.Errorf("%+v is taken as placeable", e)
		}
	}
	for _, c := range []struct {
		name, region string
		unfit        bool
	}{
		{strings.Repeat("n", 64), long, false},
		{strings.Repeat("n", 100), "eu-west-1", false},
		{strings.Repeat("n", 100), long, true},
		// The trail's own chain does not fit: the record is not to blame.
		{strings.Repeat("n", 128), long, false},
	} {
		w := &work{t: &trail.Trail{ID: "id", Name: c.name, Account: "111111111111", HomeRegion: "us-east-1", IsOrganizationTrail: true, OrganizationID: "o-aaaaaaaaaa"}}
		got := w.unfit(&event.Envelope{AccountID: "111111111111", Region: c.region}) != ""
		if got != c.unfit {
			t.Errorf("trail name of %d, Region of %d: unfit %v, want %v", len(c.name), len(c.region), got, c.unfit)
		}
		if !got && w.digestFits(w.t.HomeRegion) && !w.digestFits(c.region) && len(c.region) > len(w.t.HomeRegion) {
			t.Errorf("trail name of %d, Region of %d: a digest key that does not fit is taken", len(c.name), len(c.region))
		}
	}
}
