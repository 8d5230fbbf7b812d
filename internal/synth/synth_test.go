package synth

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func generate(o Options, n int) [][]byte {
	g := New(o)
	out := make([][]byte, n)
	var buf []byte
	for i := range out {
		buf = g.Next(buf[:0])
		out[i] = append([]byte(nil), buf...)
	}
	return out
}

// TestRecordsAreCloudTrail checks every record's JSON, its required fields
// and their types, the uniqueness of eventIDs and the order of eventTimes.
func TestRecordsAreCloudTrail(t *testing.T) {
	const n = 20000
	recs := generate(Options{Seed: 7, Accounts: []string{"111111111111", "222222222222"}, Start: testStart}, n)
	ids := make(map[string]bool, n)
	var last time.Time
	var data, failed, withResources int
	for i, raw := range recs {
		if !json.Valid(raw) {
			t.Fatalf("record %d is not JSON: %s", i, raw)
		}
		if bytes.Contains(raw, []byte("{{")) {
			t.Fatalf("record %d has an unfilled placeholder: %s", i, raw)
		}
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
			"sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID", "eventID", "readOnly",
			"eventType", "managementEvent", "recipientAccountId", "eventCategory"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("record %d lacks %s: %s", i, k, raw)
			}
		}
		for _, k := range []string{"eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
			"userAgent", "requestID", "eventID", "eventType", "recipientAccountId", "eventCategory"} {
			if s, ok := r[k].(string); !ok || s == "" {
				t.Fatalf("record %d: %s is %v, want a non-empty string", i, k, r[k])
			}
		}
		for _, k := range []string{"readOnly", "managementEvent"} {
			if _, ok := r[k].(bool); !ok {
				t.Fatalf("record %d: %s is %v, want a boolean", i, k, r[k])
			}
		}
		if v := r["eventVersion"].(string); v < "1.08" || v > "1.11" {
			t.Fatalf("record %d: eventVersion %s", i, v)
		}
		ui, ok := r["userIdentity"].(map[string]any)
		if !ok {
			t.Fatalf("record %d: userIdentity is %v", i, r["userIdentity"])
		}
		switch ui["type"] {
		case "IAMUser":
			for _, k := range []string{"principalId", "arn", "accountId", "accessKeyId", "userName"} {
				if s, _ := ui[k].(string); s == "" {
					t.Fatalf("record %d: IAMUser without %s: %s", i, k, raw)
				}
			}
		case "AssumedRole":
			sc, _ := ui["sessionContext"].(map[string]any)
			if sc == nil || sc["sessionIssuer"] == nil || ui["accessKeyId"] == nil {
				t.Fatalf("record %d: role without session: %s", i, raw)
			}
		}
		id := r["eventID"].(string)
		if len(id) != 36 || id[14] != '4' || strings.IndexByte("89ab", id[19]) < 0 {
			t.Fatalf("record %d: eventID %s is not a version 4 UUID", i, id)
		}
		if ids[id] {
			t.Fatalf("record %d repeats eventID %s", i, id)
		}
		ids[id] = true
		ts, err := time.Parse("2006-01-02T15:04:05Z", r["eventTime"].(string))
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if i == 0 && !ts.Equal(testStart) {
			t.Fatalf("first eventTime %s, want Start %s", ts, testStart)
		}
		if ts.Before(last) {
			t.Fatalf("record %d goes back in time: %s after %s", i, ts, last)
		}
		last = ts
		if r["recipientAccountId"] != "111111111111" && r["recipientAccountId"] != "222222222222" {
			t.Fatalf("record %d: recipientAccountId %v", i, r["recipientAccountId"])
		}
		switch r["eventCategory"] {
		case "Data":
			data++
			if r["managementEvent"] != false || r["eventSource"] != "s3.amazonaws.com" {
				t.Fatalf("record %d: odd data event: %s", i, raw)
			}
		case "Management":
			if r["managementEvent"] != true {
				t.Fatalf("record %d: management event with managementEvent false", i)
			}
		default:
			t.Fatalf("record %d: eventCategory %v", i, r["eventCategory"])
		}
		if _, ok := r["errorCode"]; ok {
			failed++
		}
		if res, ok := r["resources"].([]any); ok && len(res) > 0 {
			withResources++
		}
	}
	// 1ms steps over 20,000 records span about 20 seconds.
	if span := last.Sub(testStart); span < 15*time.Second || span > 25*time.Second {
		t.Errorf("20000 records at 1ms span %s", span)
	}
	if share := float64(data) / n; share < 0.04 || share > 0.06 {
		t.Errorf("data events are %.3f of records, want about 0.05", share)
	}
	if failed == 0 || withResources == 0 {
		t.Errorf("%d failed calls and %d records with resources; want some of each", failed, withResources)
	}
	t.Logf("%d data events, %d errors, %d with resources", data, failed, withResources)
}

func TestSameSeedSameStream(t *testing.T) {
	o := Options{Seed: 42, Start: testStart, Users: 20}
	a, b := generate(o, 2000), generate(o, 2000)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("record %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
	o.Seed = 43
	c := generate(o, 2000)
	same := 0
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 share %d of 2000 records", same)
	}
}

// TestPairFrequencies compares how often each call is made with the model:
// among management events, the ten commonest pairs must come out within 6%
// of their modelled share (about three standard deviations at this size).
func TestPairFrequencies(t *testing.T) {
	const n = 100000
	g := New(Options{Seed: 3, Start: testStart})
	var buf []byte
	counts := map[string]int{}
	mgmt := 0
	for range n {
		buf = g.Next(buf[:0])
		var r struct {
			EventSource, EventName, EventCategory string
		}
		if err := json.Unmarshal(buf, &r); err != nil {
			t.Fatal(err)
		}
		if r.EventCategory == "Management" {
			mgmt++
			counts[r.EventSource+" "+r.EventName]++
		}
	}
	var total int
	for _, p := range modelPairs {
		total += int(p.N)
	}
	for _, f := range modelFolded {
		total += int(f.N)
	}
	for _, p := range modelPairs[:10] {
		want := float64(p.N) / float64(total)
		got := float64(counts[p.Source+" "+p.Name]) / float64(mgmt)
		if math.Abs(got-want)/want > 0.06 {
			t.Errorf("%s %s: share %.4f, model %.4f", p.Source, p.Name, got, want)
		}
	}
}

// TestLookupSpread checks what lookup benchmarks rely on: many user names,
// one access key per identity, and resources that repeat within bounded
// pools.
func TestLookupSpread(t *testing.T) {
	const n = 50000
	recs := generate(Options{Seed: 11, Start: testStart, Users: 50}, n)
	keyOwner := map[string]string{}
	users := map[string]int{}
	resources := map[string]int{}
	names := map[string]bool{}
	var size int
	for _, raw := range recs {
		size += len(raw)
		var r struct {
			EventName    string
			UserIdentity struct {
				Type, PrincipalID, AccessKeyID, UserName string
			}
			Resources []struct{ ARN, ARNPrefix, Type string }
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		names[r.EventName] = true
		u := r.UserIdentity
		if u.UserName != "" {
			users[u.UserName]++
		}
		if u.AccessKeyID != "" {
			if o, ok := keyOwner[u.AccessKeyID]; ok && o != u.PrincipalID {
				t.Fatalf("access key %s used by %s and %s", u.AccessKeyID, o, u.PrincipalID)
			}
			keyOwner[u.AccessKeyID] = u.PrincipalID
		}
		for _, res := range r.Resources {
			if res.Type == "" {
				continue // some services name what they touched without a type
			}
			id := res.ARN + res.ARNPrefix
			if res.Type == "AWS::EC2::Instance" || res.Type == "AWS::KMS::Key" {
				// The ARN names the record's region; the pool is per account.
				id = id[strings.LastIndexByte(id, '/')+1:]
			}
			resources[res.Type+" "+id]++
		}
	}
	if len(users) < 30 || len(users) > 41 {
		t.Errorf("%d distinct user names, want most of the 40 IAM users", len(users))
	}
	if len(names) < 100 {
		t.Errorf("only %d distinct event names", len(names))
	}
	types := map[string]int{}
	repeated, pooled := 0, 0
	for k, c := range resources {
		typ, _, _ := strings.Cut(k, " ")
		types[typ]++
		if typ == "AWS::S3::Object" {
			continue // objects are many, as in a real bucket
		}
		pooled++
		if c > 1 {
			repeated++
		}
	}
	for _, want := range []string{"AWS::S3::Bucket", "AWS::S3::Object", "AWS::EC2::Instance", "AWS::KMS::Key"} {
		if types[want] == 0 {
			t.Errorf("no resources of type %s", want)
		}
	}
	if types["AWS::S3::Bucket"] > bucketsPerAccount || types["AWS::EC2::Instance"] > instancesPerAccount || types["AWS::KMS::Key"] > kmsKeysPerAccount {
		t.Errorf("resource pools overflow: %v", types)
	}
	if repeated*2 < pooled {
		t.Errorf("only %d of %d buckets, instances and keys occur more than once", repeated, pooled)
	}
	// Records carry fields the corpus's older ones lack, so they run
	// somewhat larger; they must stay in the 1-1.5 KB range benchmarks
	// are sized for.
	mean := size / n
	if mean < modelSizeMean || mean > 1600 {
		t.Errorf("mean record size %d bytes; corpus mean %d", mean, modelSizeMean)
	}
	t.Logf("%d users, %d access keys, %d resources (%v), mean size %d bytes (corpus %d)",
		len(users), len(keyOwner), len(resources), types, mean, modelSizeMean)
}

func TestOptions(t *testing.T) {
	g := New(Options{Seed: 1, Regions: []string{"ap-south-1"}, Start: testStart, Step: time.Second})
	var buf []byte
	prev := ""
	for range 200 {
		buf = g.Next(buf[:0])
		var r struct{ AWSRegion, EventSource, EventTime string }
		if err := json.Unmarshal(buf, &r); err != nil {
			t.Fatal(err)
		}
		if r.AWSRegion != "ap-south-1" && !globalSources[r.EventSource] {
			t.Fatalf("region %s for %s", r.AWSRegion, r.EventSource)
		}
		if r.EventTime < prev {
			t.Fatalf("time went back: %s after %s", r.EventTime, prev)
		}
		prev = r.EventTime
	}
	// 200 steps of 1s on average end about 200s after the start.
	end, _ := time.Parse(time.RFC3339, prev)
	if d := end.Sub(testStart); d < 150*time.Second || d > 250*time.Second {
		t.Errorf("200 one-second steps took %s", d)
	}
	for _, bad := range []Options{{Accounts: []string{"12345"}}, {Regions: []string{`us"east`}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", bad)
				}
			}()
			New(bad)
		}()
	}
}

// TestModelTemplates compiles every template of the model and checks that
// each fills into valid JSON and uses only known placeholders.
func TestModelTemplates(t *testing.T) {
	g := New(Options{Seed: 5, Start: testStart})
	g.Next(nil) // sets up the per-record state that placeholders read
	check := func(what, s string) {
		if s == "" {
			return
		}
		for _, p := range strings.Split(s, "{{")[1:] {
			name, _, ok := strings.Cut(p, "}}")
			if _, known := phNames[name]; ok && !known {
				t.Errorf("%s: unknown placeholder {{%s}}", what, name)
			}
		}
		if out := g.appendTmpl(nil, compile(s)); !json.Valid(out) {
			t.Errorf("%s: not JSON once filled: %s", what, out)
		}
	}
	for _, p := range append(append([]mPair{}, modelPairs...), modelDataPairs...) {
		for _, e := range p.Ex {
			what := p.Source + " " + p.Name
			check(what, e.Req)
			check(what, e.Resp)
			check(what, e.Add)
			check(what, e.Res)
		}
		for _, e := range p.Errs {
			check(p.Name+" error", quote(e.Msg))
		}
	}
	for _, c := range modelCallers {
		check("agent", quote(c.Agent))
	}
	names := make([]string, 0, len(modelPairs))
	for _, p := range modelPairs {
		names = append(names, p.Source+" "+p.Name)
	}
	if !sort.SliceIsSorted(modelPairs, func(i, j int) bool { return modelPairs[i].N > modelPairs[j].N }) {
		t.Error("modelPairs is not sorted by frequency")
	}
	if len(names) < 100 {
		t.Errorf("the model describes only %d pairs", len(names))
	}
}

// TestModelIsAnonymised guards the rule that no account ID, access key,
// public address or e-mail address of the corpus reaches the model.
func TestModelIsAnonymised(t *testing.T) {
	var texts []string
	for _, ps := range [][]mPair{modelPairs, modelDataPairs} {
		for _, p := range ps {
			for _, e := range p.Ex {
				texts = append(texts, e.Req, e.Resp, e.Add, e.Res)
			}
			for _, e := range p.Errs {
				texts = append(texts, e.Msg)
			}
		}
	}
	for _, c := range modelCallers {
		texts = append(texts, c.Agent, c.IP, c.InvokedBy)
	}
	for _, h := range modelHosts {
		texts = append(texts, h.Host)
	}
	account := regexp.MustCompile(`(^|[^0-9A-Za-z])[0-9]{12}([^0-9A-Za-z]|$)`)
	key := regexp.MustCompile(`(AKIA|ASIA)[A-Z0-9]{16}`)
	ip := regexp.MustCompile(`(^|[^0-9A-Za-z./_-])([0-9]{1,3}(\.[0-9]{1,3}){3})([^0-9.]|$)`)
	email := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]+`)
	for _, s := range texts {
		if m := account.FindString(s); m != "" {
			t.Errorf("account-like number %q in %s", m, s)
		}
		if m := key.FindString(s); m != "" {
			t.Errorf("access key %q in %s", m, s)
		}
		for _, m := range ip.FindAllStringSubmatch(s, -1) {
			a := m[2]
			if a != "0.0.0.0" && !strings.HasPrefix(a, "10.") && !strings.HasPrefix(a, "192.168.") && !strings.HasPrefix(a, "172.") {
				t.Errorf("address %q in %s", a, s)
			}
		}
		for _, m := range email.FindAllString(s, -1) {
			if m != "{{USER}}@example.com" && !strings.HasSuffix(m, "}}@example.com") {
				t.Errorf("e-mail address %q in %s", m, s)
			}
		}
	}
}

func TestNextDoesNotAllocate(t *testing.T) {
	g := New(Options{Seed: 9, Start: testStart})
	buf := make([]byte, 0, 64<<10)
	for range 1000 {
		buf = g.Next(buf[:0])
	}
	if a := testing.AllocsPerRun(10000, func() { buf = g.Next(buf[:0]) }); a > 0 {
		t.Errorf("Next allocates %.2f times per record", a)
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Options{Seed: 1, Start: testStart})
	buf := make([]byte, 0, 64<<10)
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = g.Next(buf[:0])
		total += int64(len(buf))
	}
	b.ReportMetric(float64(total)/float64(b.N), "bytes/record")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
