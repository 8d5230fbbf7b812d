package e2e

import (
	"encoding/json"
	"fmt"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"sort"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/synth"
)

// isoProbe is a handmade record with values no synthetic record has.
func isoProbe(account, region, id, eventName, user, accessKey string, at time.Time) []byte {
	rec := map[string]any{
		"eventVersion": "1.08",
		"userIdentity": map[string]any{
			"type": "IAMUser", "principalId": "AIDAPROBE" + account, "arn": "arn:aws:iam::" + account + ":user/" + user,
			"accountId": account, "accessKeyId": accessKey, "userName": user,
		},
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        "ec2.amazonaws.com",
		"eventName":          eventName,
		"awsRegion":          region,
		"sourceIPAddress":    "198.51.100.7",
		"userAgent":          "isolation-probe/1.0",
		"requestParameters":  map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": "i-0probe" + account}}}},
		"responseElements":   nil,
		"requestID":          "req-" + id,
		"eventID":            id,
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": account,
		"eventCategory":      "Management",
	}
	b, _ := json.Marshal(rec)
	return b
}

// isoSet is what the test sent for one account.
type isoSet struct {
	raws []json.RawMessage
	envs []*event.Envelope
	ids  map[string]*event.Envelope
	// values[attribute key] is the set of values its management events have.
	values map[string]map[string]bool
}

func newIsoSet() *isoSet {
	return &isoSet{ids: map[string]*event.Envelope{}, values: map[string]map[string]bool{}}
}

func (s *isoSet) add(t *testing.T, raw []byte) {
	t.Helper()
	e, err := event.Parse(raw, event.Defaults{})
	if err != nil {
		t.Fatalf("record does not parse: %v", err)
	}
	if _, dup := s.ids[e.EventID]; dup {
		return
	}
	s.raws = append(s.raws, append(json.RawMessage(nil), raw...))
	s.envs = append(s.envs, e)
	s.ids[e.EventID] = e
	if e.Category != event.Management {
		return
	}
	for k, v := range isoAttrValues(e) {
		for _, x := range v {
			if s.values[k] == nil {
				s.values[k] = map[string]bool{}
			}
			s.values[k][x] = true
		}
	}
}

// isoAttrValues are the LookupEvents attribute values of an event.
func isoAttrValues(e *event.Envelope) map[string][]string {
	ro := "false"
	if e.ReadOnly {
		ro = "true"
	}
	m := map[string][]string{
		"EventId":     {e.EventID},
		"EventName":   {e.EventName},
		"EventSource": {e.EventSource},
		"ReadOnly":    {ro},
	}
	if e.Username != "" {
		m["Username"] = []string{e.Username}
	}
	if e.AccessKeyID != "" {
		m["AccessKeyId"] = []string{e.AccessKeyID}
	}
	for _, r := range e.Resources {
		if r.Type != "" {
			m["ResourceType"] = append(m["ResourceType"], r.Type)
		}
		if r.Name != "" {
			m["ResourceName"] = append(m["ResourceName"], r.Name)
		}
	}
	return m
}

// isoSample is a value of one attribute that exists in only one account,
// with an event that has it.
type isoSample struct {
	key, value, region, eventID string
}

// isoOnly picks, for every attribute key, up to perKey values that the
// management events of `of` have and those of `other` do not (nor the audit
// records `other`'s own calls leave: reserved), spread over the sorted values.
func isoOnly(of, other *isoSet, reserved map[string]bool, perKey int) []isoSample {
	var out []isoSample
	for _, key := range []string{"EventId", "EventName", "EventSource", "ReadOnly", "Username", "AccessKeyId", "ResourceType", "ResourceName"} {
		var vals []string
		for v := range of.values[key] {
			if !other.values[key][v] && !reserved[v] {
				vals = append(vals, v)
			}
		}
		sort.Strings(vals)
		step := max(1, len(vals)/perKey)
		for i := 0; i < len(vals) && i/step < perKey; i += step {
			v := vals[i]
			for _, e := range of.envs {
				if e.Category == event.Management && isoContains(isoAttrValues(e)[key], v) {
					out = append(out, isoSample{key, v, e.Region, e.EventID})
					break
				}
			}
		}
	}
	return out
}

func isoContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTenantIsolation proves that a tenant's keys see nothing of another
// account, whatever they ask:
//   - LookupEvents with every attribute key and values that exist only in
//     the other account (each shown, as a control, to find its event with
//     the owner's key), with no filter, with time windows (among them one
//     where only the other account has events), across every page and in
//     every region, returns only the caller's own events, and none at all
//     for the other account's values;
//   - a NextToken issued to one account is refused (InvalidNextToken) or
//     yields only the other account's own events when reused by it;
//   - X-Cairn-Account-Id naming another account is AccessDenied for a
//     tenant key, whatever the operation, while the root key may use it;
//   - PutEvents records for another account are refused one by one with
//     AccessDenied, and are stored nowhere (sending them later with the
//     root key accepts them as new);
//   - CreateAccount and keys for another account are AccessDenied, and
//     ListAccounts shows a tenant only its own account;
//   - the audit records of the refused calls stay in the caller's account.
func TestTenantIsolation(t *testing.T) {
	const (
		acctA = "410000000001"
		acctB = "420000000002"
	)
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}
	n := startNode(t, t.TempDir())
	ctx := ctxT(t)
	now := time.Now()
	rootK := n.rootKey()
	keyA := n.tenantKey(acctA, "")
	keyAlice := n.tenantKey(acctA, "alice")
	keyB := n.tenantKey(acctB, "")
	ownKeys := map[string]map[string]bool{
		acctA: {keyA.AccessKeyID: true, keyAlice.AccessKeyID: true},
		acctB: {keyB.AccessKeyID: true, rootK.AccessKeyID: true},
	}

	// Events of A from 40 minutes ago, of B from 45 (B alone in its
	// window), each with handmade probes in every region.
	sets := map[string]*isoSet{acctA: newIsoSet(), acctB: newIsoSet()}
	bStart, bEnd := now.Add(-45*time.Minute), now.Add(-45*time.Minute)
	for i, acct := range []string{acctA, acctB} {
		start := now.Add(-40 * time.Minute)
		if acct == acctB {
			start = bStart
		}
		g := synth.New(synth.Options{Seed: int64(i + 1), Accounts: []string{acct}, Start: start, Step: 2 * time.Millisecond})
		var buf []byte
		for range 500 {
			buf = g.Next(buf[:0])
			sets[acct].add(t, buf)
		}
		for j, region := range regions[:3] {
			id := fmt.Sprintf("0000%s-%04d-4000-8000-000000000000", acct[:4], j)
			sets[acct].add(t, isoProbe(acct, region, id, "IsolationProbe"+acct, "probe-user-"+acct,
				fmt.Sprintf("AKIAPROBE%s%d", acct[:10], j), start.Add(time.Duration(j)*time.Second)))
		}
	}
	for _, e := range sets[acctB].envs {
		if e.EventTime.After(bEnd) {
			bEnd = e.EventTime
		}
	}
	root := keyClient(t, n.endpoint, rootK, "us-east-1", "")
	for _, acct := range []string{acctA, acctB} {
		var resp ingest.PutEventsResponse
		if err := root.Call(ctx, ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: sets[acct].raws}, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Accepted != len(sets[acct].raws) {
			t.Fatalf("PutEvents for %s: %+v", acct, resp)
		}
	}
	waitIndexed(t, n)

	clientsFor := func(k keyPair, account string) map[string]*client.Client {
		m := map[string]*client.Client{}
		for _, r := range regions {
			m[r] = keyClient(t, n.endpoint, k, r, account)
		}
		return m
	}
	cA, cAlice, cB := clientsFor(keyA, ""), clientsFor(keyAlice, ""), clientsFor(keyB, "")
	cRootB := clientsFor(rootK, acctB)
	callers := map[string]map[string]*client.Client{"A": cA, "A/alice": cAlice}

	// check asserts that every event is `owner`'s own: one of its records,
	// or the audit record of a call by one of its keys.
	check := func(what, owner, other string, events []ctEvent) {
		t.Helper()
		for _, e := range events {
			h, err := e.head()
			if err != nil {
				t.Errorf("%s: CloudTrailEvent of %s does not decode: %v", what, e.EventID, err)
				continue
			}
			_, mine := sets[owner].ids[e.EventID]
			_, theirs := sets[other].ids[e.EventID]
			audit := h.EventSource == "cloudtrail.amazonaws.com" && ownKeys[owner][h.UserIdentity.AccessKeyID]
			if theirs || h.RecipientAccountID != owner || !mine && !audit {
				t.Errorf("%s: LEAK: event %s of account %s shown to %s: %.300s", what, e.EventID, h.RecipientAccountID, owner, e.CloudTrailEvent)
			}
		}
	}
	lookupAll := func(what string, c *client.Client, q ctQuery) []ctEvent {
		t.Helper()
		events, err := ctLookupAll(ctx, c, q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return events
	}
	has := func(events []ctEvent, id string) bool {
		for _, e := range events {
			if e.EventID == id {
				return true
			}
		}
		return false
	}

	// Controls: each account sees all of its own management events.
	for acct, cs := range map[string]map[string]*client.Client{acctA: cA, acctB: cB} {
		other := acctB
		if acct == acctB {
			other = acctA
		}
		got := map[string]bool{}
		for _, r := range regions {
			events := lookupAll("control walk "+acct+" "+r, cs[r], ctQuery{})
			check("control walk "+acct+" "+r, acct, other, events)
			for _, e := range events {
				got[e.EventID] = true
			}
		}
		for _, e := range sets[acct].envs {
			if e.Category == event.Management && !got[e.EventID] {
				t.Fatalf("control: account %s does not see its own event %s", acct, e.EventID)
			}
		}
	}

	// Values only B has, and only A has (audit records of A's and B's own
	// calls carry these values too, so they are not "only" anyone's).
	reserved := map[string]bool{"root": true, "alice": true, "cloudtrail.amazonaws.com": true, "LookupEvents": true,
		"PutEvents": true, "CreateAccount": true, "CreateAccessKey": true, "ListAccounts": true, "true": true, "false": true}
	for _, ks := range ownKeys {
		for k := range ks {
			reserved[k] = true
		}
	}
	onlyB := isoOnly(sets[acctB], sets[acctA], reserved, 5)
	onlyA := isoOnly(sets[acctA], sets[acctB], reserved, 2)
	keysSeen := map[string]int{}
	for _, s := range onlyB {
		keysSeen[s.key]++
	}
	for _, k := range []string{"EventId", "EventName", "Username", "AccessKeyId", "ResourceName"} {
		if keysSeen[k] == 0 {
			t.Fatalf("no value of %s exists only in B: the test data is too uniform", k)
		}
	}
	t.Logf("%d values only B has (%v), %d only A has", len(onlyB), keysSeen, len(onlyA))

	queries := 0
	for _, s := range onlyB {
		q := ctAttrQuery(s.key, s.value)
		// Control: B finds the event by this value.
		if events := lookupAll("control", cB[s.region], q); !has(events, s.eventID) {
			t.Errorf("control: B's %s=%q in %s does not find B's event %s", s.key, s.value, s.region, s.eventID)
		}
		// Root acting on B finds it too.
		if events := lookupAll("root as B", cRootB[s.region], q); !has(events, s.eventID) {
			t.Errorf("root with %s %s: %s=%q in %s does not find B's event %s", "X-Cairn-Account-Id", acctB, s.key, s.value, s.region, s.eventID)
		}
		for who, cs := range callers {
			for _, r := range regions {
				what := fmt.Sprintf("%s asks %s=%q in %s", who, s.key, s.value, r)
				events := lookupAll(what, cs[r], q)
				queries++
				check(what, acctA, acctB, events)
				if len(events) != 0 {
					t.Errorf("%s: %d events for a value only B has", what, len(events))
				}
				// With a time window around B's event, and a small page size.
				e := sets[acctB].ids[s.eventID]
				wq := q
				wq.StartTime, wq.EndTime, wq.MaxResults = epoch(e.EventTime.Add(-time.Minute)), epoch(e.EventTime.Add(time.Minute)), 3
				events = lookupAll(what+" in a window", cs[r], wq)
				queries++
				check(what+" in a window", acctA, acctB, events)
				if len(events) != 0 {
					t.Errorf("%s in a window: %d events for a value only B has", what, len(events))
				}
			}
		}
	}
	// The other way round, briefly: B never sees A's values.
	for _, s := range onlyA {
		for _, r := range regions {
			what := fmt.Sprintf("B asks %s=%q in %s", s.key, s.value, r)
			events := lookupAll(what, cB[r], ctAttrQuery(s.key, s.value))
			queries++
			check(what, acctB, acctA, events)
			if len(events) != 0 {
				t.Errorf("%s: %d events for a value only A has", what, len(events))
			}
		}
	}
	// Values both have, no filter, windows: only A's own events, every page.
	shared := []ctQuery{
		{},
		{MaxResults: 7},
		ctAttrQuery("ReadOnly", "true"),
		ctAttrQuery("ReadOnly", "false"),
		ctAttrQuery("EventSource", "ec2.amazonaws.com"),
		ctAttrQuery("EventSource", "s3.amazonaws.com"),
		ctAttrQuery("Username", "root"),
		ctAttrQuery("ResourceType", "AWS::S3::Bucket"),
		ctAttrQuery("ResourceType", "AWS::EC2::Instance"),
		{StartTime: epoch(now.Add(-2 * time.Hour)), EndTime: epoch(now.Add(time.Hour))},
		{StartTime: epoch(now.Add(-2 * time.Hour)), EndTime: epoch(now.Add(time.Hour)), MaxResults: 13},
		{StartTime: epoch(now.Add(-41 * time.Minute))},
		{EndTime: epoch(now.Add(-39 * time.Minute))},
	}
	for who, cs := range callers {
		for _, r := range regions {
			for i, q := range shared {
				what := fmt.Sprintf("%s query %d %+v in %s", who, i, q, r)
				check(what, acctA, acctB, lookupAll(what, cs[r], q))
				queries++
			}
			// The window where only B has events.
			what := fmt.Sprintf("%s window of B's events in %s", who, r)
			events := lookupAll(what, cs[r], ctQuery{StartTime: epoch(bStart.Add(-time.Second)), EndTime: epoch(bEnd)})
			queries++
			check(what, acctA, acctB, events)
			if len(events) != 0 {
				t.Errorf("%s: %d events in a window where only B has events", what, len(events))
			}
		}
	}
	if events := lookupAll("B window control", cB["us-east-1"], ctQuery{StartTime: epoch(bStart.Add(-time.Second)), EndTime: epoch(bEnd)}); len(events) == 0 {
		t.Errorf("control: B sees nothing in the window of its own events")
	}
	t.Logf("%d lookups by A's keys and B's key checked", queries)

	// A NextToken of one account reused by the other.
	tokenQueries := []ctQuery{
		{MaxResults: 5},
		{MaxResults: 5, LookupAttributes: []ctAttr{{"ReadOnly", "true"}}},
		{MaxResults: 5, StartTime: epoch(now.Add(-2 * time.Hour)), EndTime: epoch(now.Add(time.Hour))},
	}
	for _, pair := range []struct {
		from, to       string
		fromC, toC     map[string]*client.Client
		fromAc, toAcct string
	}{
		{"A", "B", cA, cB, acctA, acctB},
		{"A/alice", "B", cAlice, cB, acctA, acctB},
		{"B", "A", cB, cA, acctB, acctA},
	} {
		for i, q := range tokenQueries {
			p, err := ctLookup(ctx, pair.fromC["us-east-1"], q)
			if err != nil {
				t.Fatal(err)
			}
			if p.NextToken == "" {
				t.Fatalf("%s query %d: no NextToken (%d events)", pair.from, i, len(p.Events))
			}
			check(pair.from+" first page", pair.fromAc, pair.toAcct, p.Events)
			q.NextToken = p.NextToken
			what := fmt.Sprintf("%s reuses %s's NextToken of query %d", pair.to, pair.from, i)
			events, err := ctLookupAll(ctx, pair.toC["us-east-1"], q)
			switch {
			case apiCode(err) == "InvalidNextTokenException":
			case err != nil:
				t.Errorf("%s: %v", what, err)
			default:
				check(what, pair.toAcct, pair.fromAc, events)
			}
		}
	}

	// X-Cairn-Account-Id naming another account.
	for _, c := range []struct {
		who  string
		k    keyPair
		acct string
	}{{"A", keyA, acctB}, {"A/alice", keyAlice, acctB}, {"B", keyB, acctA}} {
		hc := keyClient(t, n.endpoint, c.k, "us-east-1", c.acct)
		calls := []struct {
			target, op string
			in         any
		}{
			{client.CloudTrailTarget, "LookupEvents", ctQuery{}},
			{client.CloudTrailTarget, "LookupEvents", ctAttrQuery("EventId", onlyB[0].eventID)},
			{ingest.Target, "PutEvents", ingest.PutEventsRequest{Records: []json.RawMessage{isoProbe(c.acct, "us-east-1", "00000000-dead-4000-8000-00000000000"+c.acct[1:2], "HeaderProbe", "mallory", "AKIAMALLORY000000001", now)}}},
			{ingest.Target, "ListAccounts", struct{}{}},
			{ingest.Target, "CreateAccessKey", map[string]string{"UserName": "mallory"}},
		}
		for _, call := range calls {
			var out json.RawMessage
			err := hc.Call(ctx, call.target, call.op, call.in, &out)
			if code := apiCode(err); code != "AccessDeniedException" {
				t.Errorf("%s with X-Cairn-Account-Id %s calls %s: want AccessDeniedException, got %v (%s)", c.who, c.acct, call.op, err, out)
			}
		}
	}
	// The root key may act on B.
	{
		events := lookupAll("root as B walk", cRootB["us-east-1"], ctQuery{})
		found := 0
		for _, e := range events {
			h, _ := e.head()
			if h.RecipientAccountID != acctB {
				t.Errorf("root acting on B sees event %s of %s", e.EventID, h.RecipientAccountID)
			}
			if _, ok := sets[acctB].ids[e.EventID]; ok {
				found++
			}
		}
		if found == 0 {
			t.Errorf("root acting on B sees none of B's events in us-east-1")
		}
		// Without the header, the root key sees its own account only.
		mine := lookupAll("root walk", root, ctQuery{})
		for _, e := range mine {
			h, _ := e.head()
			if h.RecipientAccountID != "111122223333" {
				t.Errorf("root on its own account sees event %s of %s", e.EventID, h.RecipientAccountID)
			}
		}
	}

	// PutEvents by A with records of B: refused one by one.
	mkB := func(i int, region string) []byte {
		return isoProbe(acctB, region, fmt.Sprintf("0000beef-%04d-4000-8000-000000000000", i), "ForgedByA", "forged-user", "AKIAFORGED0000000001", now.Add(-10*time.Minute))
	}
	aOwn := isoProbe(acctA, "us-east-1", "0000a0a0-0001-4000-8000-000000000000", "WrittenByA", "writer", "AKIAWRITER0000000001", now.Add(-10*time.Minute))
	forged := [][]byte{mkB(1, "us-east-1"), mkB(2, "eu-west-1"), mkB(3, "us-west-2")}
	var noRecipient []json.RawMessage
	for i, region := range []string{"us-east-1", "us-west-2"} {
		var m map[string]any
		json.Unmarshal(mkB(10+i, region), &m)
		delete(m, "recipientAccountId")
		b, _ := json.Marshal(m)
		noRecipient = append(noRecipient, b)
		forged = append(forged, b)
	}
	type putCase struct {
		who     string
		c       *client.Client
		req     ingest.PutEventsRequest
		denied  []int
		accepts int
	}
	putCases := []putCase{
		{"A", cA["us-east-1"], ingest.PutEventsRequest{Records: []json.RawMessage{forged[0], aOwn, forged[1], forged[2]}}, []int{0, 2, 3}, 1},
		{"A/alice", cAlice["eu-west-1"], ingest.PutEventsRequest{Records: []json.RawMessage{forged[1], forged[0]}}, []int{0, 1}, 0},
		{"A with DefaultAccountId B", cA["us-east-1"], ingest.PutEventsRequest{DefaultAccountID: acctB, Records: noRecipient}, []int{0, 1}, 0},
	}
	for _, pc := range putCases {
		var resp ingest.PutEventsResponse
		if err := pc.c.Call(ctx, ingest.Target, "PutEvents", pc.req, &resp); err != nil {
			t.Errorf("%s PutEvents: %v", pc.who, err)
			continue
		}
		var denied []int
		for _, f := range resp.Failed {
			if f.ErrorCode != awsapi.CodeRecordAccessDenied {
				t.Errorf("%s PutEvents: record %d failed with %s (%s), want AccessDenied", pc.who, f.Index, f.ErrorCode, f.ErrorMessage)
			}
			denied = append(denied, f.Index)
		}
		if fmt.Sprint(denied) != fmt.Sprint(pc.denied) || resp.Accepted != pc.accepts || resp.Duplicates != 0 {
			t.Errorf("%s PutEvents: accepted %d, duplicates %d, refused %v; want accepted %d, refused %v (%+v)", pc.who, resp.Accepted, resp.Duplicates, denied, pc.accepts, pc.denied, resp.Failed)
		}
	}
	// Nothing of them is anywhere: not in B, not in A, not for root.
	waitIndexed(t, n)
	var forgedEnvs []*event.Envelope
	for _, raw := range forged {
		e, err := event.Parse(raw, event.Defaults{AccountID: acctB})
		if err != nil {
			t.Fatal(err)
		}
		forgedEnvs = append(forgedEnvs, e)
	}
	for _, e := range forgedEnvs {
		for who, cs := range map[string]map[string]*client.Client{"B": cB, "A": cA, "root as B": cRootB} {
			for _, q := range []ctQuery{ctAttrQuery("EventId", e.EventID), ctAttrQuery("EventName", "ForgedByA"), ctAttrQuery("Username", "forged-user")} {
				if events := lookupAll(who, cs[e.Region], q); len(events) != 0 {
					t.Errorf("%s finds %d events for %+v after A's refused PutEvents", who, len(events), q.LookupAttributes)
				}
			}
		}
	}
	if events := lookupAll("A finds its own", cA["us-east-1"], ctAttrQuery("EventName", "WrittenByA")); len(events) != 1 {
		t.Errorf("A's own record of the mixed PutEvents: %d events", len(events))
	}

	// Accounts: A may not create one, nor keys for B; it lists only itself.
	for who, k := range map[string]keyPair{"A": keyA, "A/alice": keyAlice} {
		c := keyClient(t, n.endpoint, k, "us-east-1", "")
		err := c.Call(ctx, ingest.Target, "CreateAccount", map[string]string{"AccountId": "430000000003", "Name": "sneaky"}, nil)
		if apiCode(err) != "AccessDeniedException" {
			t.Errorf("%s CreateAccount: want AccessDeniedException, got %v", who, err)
		}
		err = c.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{"AccountId": acctB, "UserName": "mallory"}, nil)
		if apiCode(err) != "AccessDeniedException" {
			t.Errorf("%s CreateAccessKey for B: want AccessDeniedException, got %v", who, err)
		}
		var list struct {
			Accounts []struct {
				AccountID string `json:"AccountId"`
			}
		}
		if err := c.Call(ctx, ingest.Target, "ListAccounts", struct{}{}, &list); err != nil {
			t.Errorf("%s ListAccounts: %v", who, err)
		} else if len(list.Accounts) != 1 || list.Accounts[0].AccountID != acctA {
			t.Errorf("%s ListAccounts: %+v", who, list.Accounts)
		}
	}
	var list struct {
		Accounts []struct {
			AccountID string `json:"AccountId"`
		}
	}
	if err := root.Call(ctx, ingest.Target, "ListAccounts", struct{}{}, &list); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Accounts {
		if a.AccountID == "430000000003" {
			t.Errorf("the account A tried to create exists")
		}
	}

	// The audit records of A's refused calls stay in A: B's history, all
	// regions, holds only B's events and the records of B's and root's calls.
	waitIndexed(t, n)
	for _, r := range regions {
		check("final walk of B in "+r, acctB, acctA, lookupAll("final walk", cB[r], ctQuery{}))
	}
	// Every refused call is in its caller's own history, in us-east-1,
	// with errorCode AccessDeniedException: for each of A's keys the two
	// LookupEvents, ListAccounts and CreateAccessKey made with the header,
	// CreateAccount, and CreateAccessKey for B; for B's key the header calls.
	// (PutEvents is recorded as a data event, outside Event history.)
	type deniedKey struct{ key, op string }
	wantDenied := map[string]map[deniedKey]int{acctA: {}, acctB: {}}
	for _, k := range []keyPair{keyA, keyAlice} {
		wantDenied[acctA][deniedKey{k.AccessKeyID, "LookupEvents"}] = 2
		wantDenied[acctA][deniedKey{k.AccessKeyID, "ListAccounts"}] = 1
		wantDenied[acctA][deniedKey{k.AccessKeyID, "CreateAccessKey"}] = 2
		wantDenied[acctA][deniedKey{k.AccessKeyID, "CreateAccount"}] = 1
	}
	wantDenied[acctB][deniedKey{keyB.AccessKeyID, "LookupEvents"}] = 2
	wantDenied[acctB][deniedKey{keyB.AccessKeyID, "ListAccounts"}] = 1
	wantDenied[acctB][deniedKey{keyB.AccessKeyID, "CreateAccessKey"}] = 1
	for acct, cs := range map[string]map[string]*client.Client{acctA: cA, acctB: cB} {
		// Audit records are written in the background: allow them a moment.
		var got map[deniedKey]int
		for deadline := time.Now().Add(5 * time.Second); ; {
			got = map[deniedKey]int{}
			for _, e := range lookupAll("denied calls of "+acct, cs["us-east-1"], ctAttrQuery("EventSource", "cloudtrail.amazonaws.com")) {
				var rec struct {
					ErrorCode string `json:"errorCode"`
				}
				json.Unmarshal([]byte(e.CloudTrailEvent), &rec)
				h, _ := e.head()
				if rec.ErrorCode == "AccessDeniedException" {
					if h.RecipientAccountID != acct {
						t.Errorf("refused call recorded in account %s, listed for %s", h.RecipientAccountID, acct)
					}
					got[deniedKey{h.UserIdentity.AccessKeyID, h.EventName}]++
				}
			}
			if fmt.Sprint(got) == fmt.Sprint(wantDenied[acct]) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for k, want := range wantDenied[acct] {
			if got[k] != want {
				t.Errorf("account %s history holds %d AccessDenied records of %s by key %s; want %d", acct, got[k], k.op, k.key, want)
			}
		}
		for k, n := range got {
			if _, ok := wantDenied[acct][k]; !ok {
				t.Errorf("account %s history holds %d unexpected AccessDenied records of %s by key %s", acct, n, k.op, k.key)
			}
		}
	}

	// The refused records were never stored: the root key now writes them
	// as new, and B finds them.
	var resp ingest.PutEventsResponse
	if err := root.Call(ctx, ingest.Target, "PutEvents", ingest.PutEventsRequest{DefaultAccountID: acctB, Records: func() []json.RawMessage {
		out := make([]json.RawMessage, len(forged))
		for i, f := range forged {
			out[i] = f
		}
		return out
	}()}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != len(forged) || resp.Duplicates != 0 || len(resp.Failed) != 0 {
		t.Errorf("root re-sending the %d records A was refused: %+v (a duplicate means one was stored)", len(forged), resp)
	}
	for _, e := range forgedEnvs {
		if events := lookupAll("B finds", cB[e.Region], ctAttrQuery("EventId", e.EventID)); len(events) != 1 {
			t.Errorf("B does not find %s after the root key wrote it", e.EventID)
		}
	}
}
