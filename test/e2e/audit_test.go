package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cairn-audit/cairn/internal/client"
)

// rawReply is the answer to a raw signed call.
type rawReply struct {
	status    int
	requestID string // x-amzn-RequestId
	body      []byte
	answered  time.Time
}

// signedPost makes one AWS JSON 1.1 call to endpoint, signed with k for
// region, with the given User-Agent; account, if set, goes in
// X-Cairn-Account-Id. Unlike the clients, it shows the response headers.
func signedPost(t *testing.T, ctx context.Context, endpoint string, k keyPair, region, account, target, op, body, userAgent string) rawReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target+"."+op)
	req.Header.Set("User-Agent", userAgent)
	if account != "" {
		req.Header.Set("X-Cairn-Account-Id", account)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudtrail", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawReply{status: resp.StatusCode, requestID: resp.Header.Get("x-amzn-RequestId"), body: rb, answered: time.Now()}
}

// findAudit polls LookupEvents EventName=LookupEvents (every page) with c
// until the audit record of the call with requestID shows, and returns it
// and when it was first seen; ok is false if it never shows within wait.
func findAudit(t *testing.T, ctx context.Context, c *client.Client, eventName, requestID string, wait time.Duration) (ev ctEvent, seen time.Time, ok bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		events, err := ctLookupAll(ctx, c, ctAttrQuery("EventName", eventName))
		seen = time.Now()
		if err != nil {
			t.Fatalf("LookupEvents EventName=%s: %v", eventName, err)
		}
		for _, e := range events {
			if h, err := e.head(); err == nil && h.RequestID == requestID {
				return e, seen, true
			}
		}
		if time.Now().After(deadline) {
			return ctEvent{}, seen, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestSelfAudit proves that cairn records the calls it serves as CloudTrail
// management events in the caller's account and region, as CloudTrail
// records its own API:
//   - a LookupEvents call by IAM user bob in eu-west-1 is listed by
//     LookupEvents within a second of its answer, with every field of the
//     record as CloudTrail writes it (request parameters in lower camel
//     case, null response elements for a read-only call, the request ID of
//     the response header, the caller's user agent and address, and bob's
//     identity);
//   - a failing call is recorded with its errorCode and errorMessage;
//   - Username=bob finds exactly bob's calls, each in its own region;
//   - the root key's calls carry userIdentity type Root, also when it acts
//     on another account (recorded there, with the root's own account ID
//     in userIdentity).
func TestSelfAudit(t *testing.T) {
	const (
		acct   = "510000000005"
		rootID = "111122223333"
		ua     = "cairn-e2e-selfaudit/1.0 (audit probe)"
	)
	n := startNode(t, t.TempDir())
	ctx := ctxT(t)
	bob := n.tenantKey(acct, "bob")
	// The poller is another user of the account, so its own calls (also
	// recorded) are not bob's.
	poller := keyClient(t, n.endpoint, n.tenantKey(acct, "auditor"), "eu-west-1", "")
	pollerUS := keyClient(t, n.endpoint, n.tenantKey(acct, "auditor2"), "us-east-1", "")
	rootK := n.rootKey()

	// 1. A successful call.
	body := `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"ConsoleLogin"}],"MaxResults":7}`
	sent := time.Now()
	r := signedPost(t, ctx, n.endpoint, bob, "eu-west-1", "", client.CloudTrailTarget, "LookupEvents", body, ua)
	if r.status != 200 || r.requestID == "" {
		t.Fatalf("LookupEvents: %d %s (request ID %q)", r.status, r.body, r.requestID)
	}
	e, seen, ok := findAudit(t, ctx, poller, "LookupEvents", r.requestID, time.Second)
	if !ok {
		e, seen, ok = findAudit(t, ctx, poller, "LookupEvents", r.requestID, 10*time.Second)
		if !ok {
			t.Fatalf("the audit record of request %s never showed in LookupEvents", r.requestID)
		}
		t.Errorf("the audit record of request %s showed %v after the call's answer; want within 1s", r.requestID, seen.Sub(r.answered))
	} else {
		t.Logf("audit record listed %v after the call's answer", seen.Sub(r.answered))
	}
	t.Logf("audit record: %s", e.CloudTrailEvent)
	var rec map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.CloudTrailEvent), &rec); err != nil {
		t.Fatalf("CloudTrailEvent is not a JSON object: %v: %s", err, e.CloudTrailEvent)
	}
	str := func(name string) string {
		var s string
		if err := json.Unmarshal(rec[name], &s); err != nil {
			return "<" + string(rec[name]) + ">"
		}
		return s
	}
	wantStr := map[string]string{
		"eventSource":        "cloudtrail.amazonaws.com",
		"eventName":          "LookupEvents",
		"awsRegion":          "eu-west-1",
		"recipientAccountId": acct,
		"eventType":          "AwsApiCall",
		"eventCategory":      "Management",
		"sourceIPAddress":    "127.0.0.1",
		"requestID":          r.requestID,
	}
	for k, want := range wantStr {
		if got := str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"readOnly", "managementEvent"} {
		if string(rec[k]) != "true" {
			t.Errorf("%s = %s, want true", k, rec[k])
		}
	}
	if v := str("eventVersion"); !regexp.MustCompile(`^1\.(0[5-9]|1[01])$`).MatchString(v) {
		t.Errorf("eventVersion = %q, want a CloudTrail version that has eventCategory", v)
	}
	if v := str("eventID"); v != e.EventID || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(v) {
		t.Errorf("eventID = %q (listed as %q), want a UUID", v, e.EventID)
	}
	if tm, err := time.Parse(time.RFC3339, str("eventTime")); err != nil || tm.Before(sent.Add(-time.Second)) || tm.After(r.answered.Add(time.Second)) {
		t.Errorf("eventTime = %q, want the time of the call (%s)", str("eventTime"), sent.UTC().Format(time.RFC3339))
	}
	if got := str("userAgent"); !strings.Contains(got, ua) {
		t.Errorf("userAgent = %q, want it to contain %q", got, ua)
	}
	wantParams := `{"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"ConsoleLogin"}],"maxResults":7}`
	if !jsonEqual(rec["requestParameters"], []byte(wantParams)) {
		t.Errorf("requestParameters = %s, want %s", rec["requestParameters"], wantParams)
	}
	if v, ok := rec["responseElements"]; !ok || string(v) != "null" {
		t.Errorf("responseElements = %s (present %v), want null", v, ok)
	}
	for _, k := range []string{"errorCode", "errorMessage"} {
		if v, ok := rec[k]; ok {
			t.Errorf("a successful call's record has %s %s", k, v)
		}
	}
	var who struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
	}
	if err := json.Unmarshal(rec["userIdentity"], &who); err != nil {
		t.Fatalf("userIdentity: %v: %s", err, rec["userIdentity"])
	}
	if who.Type != "IAMUser" || who.UserName != "bob" || who.AccountID != acct || who.AccessKeyID != bob.AccessKeyID ||
		who.ARN != "arn:aws:iam::"+acct+":user/bob" || who.PrincipalID == "" || who.PrincipalID == acct {
		t.Errorf("userIdentity = %s, want IAMUser bob of %s with key %s and a principalId of its own", rec["userIdentity"], acct, bob.AccessKeyID)
	}
	// The listing's own fields agree.
	if e.EventName != "LookupEvents" || e.EventSource != "cloudtrail.amazonaws.com" || e.Username != "bob" ||
		e.AccessKeyID != bob.AccessKeyID || e.ReadOnly != "true" {
		t.Errorf("listed as %+v", e)
	}

	// 2. A failing call: two lookup attributes.
	badBody := `{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"ConsoleLogin"},{"AttributeKey":"Username","AttributeValue":"bob"}]}`
	bad := signedPost(t, ctx, n.endpoint, bob, "eu-west-1", "", client.CloudTrailTarget, "LookupEvents", badBody, ua)
	var apiErr struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	json.Unmarshal(bad.body, &apiErr)
	if bad.status != 400 || apiErr.Type != "InvalidLookupAttributesException" || apiErr.Message == "" {
		t.Fatalf("LookupEvents with two attributes: %d %s", bad.status, bad.body)
	}
	be, _, ok := findAudit(t, ctx, poller, "LookupEvents", bad.requestID, 10*time.Second)
	if !ok {
		t.Fatalf("the failing call %s was not recorded", bad.requestID)
	}
	var badRec struct {
		ErrorCode         string          `json:"errorCode"`
		ErrorMessage      string          `json:"errorMessage"`
		RequestParameters json.RawMessage `json:"requestParameters"`
		ResponseElements  json.RawMessage `json:"responseElements"`
		AWSRegion         string          `json:"awsRegion"`
		UserIdentity      struct {
			UserName string `json:"userName"`
		} `json:"userIdentity"`
	}
	if err := json.Unmarshal([]byte(be.CloudTrailEvent), &badRec); err != nil {
		t.Fatal(err)
	}
	wantBadParams := `{"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"ConsoleLogin"},{"attributeKey":"Username","attributeValue":"bob"}]}`
	if badRec.ErrorCode != "InvalidLookupAttributesException" || badRec.ErrorMessage != apiErr.Message ||
		!jsonEqual(badRec.RequestParameters, []byte(wantBadParams)) || string(badRec.ResponseElements) != "null" ||
		badRec.AWSRegion != "eu-west-1" || badRec.UserIdentity.UserName != "bob" {
		t.Errorf("record of the failing call: %s; want errorCode InvalidLookupAttributesException, errorMessage %q", be.CloudTrailEvent, apiErr.Message)
	}

	// 3. Username=bob finds bob's calls, each in its own region.
	us := signedPost(t, ctx, n.endpoint, bob, "us-east-1", "", client.CloudTrailTarget, "LookupEvents", `{}`, ua)
	if us.status != 200 {
		t.Fatalf("LookupEvents in us-east-1: %d %s", us.status, us.body)
	}
	if _, _, ok := findAudit(t, ctx, pollerUS, "LookupEvents", us.requestID, 10*time.Second); !ok {
		t.Fatalf("bob's call in us-east-1 was not recorded")
	}
	for _, c := range []struct {
		region string
		pc     *client.Client
		want   []string
	}{
		{"eu-west-1", poller, []string{r.requestID, bad.requestID}},
		{"us-east-1", pollerUS, []string{us.requestID}},
	} {
		events, err := ctLookupAll(ctx, c.pc, ctAttrQuery("Username", "bob"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			h, _ := e.head()
			if h.UserIdentity.UserName != "bob" || e.Username != "bob" {
				t.Errorf("Username=bob in %s lists an event of %q: %.300s", c.region, h.UserIdentity.UserName, e.CloudTrailEvent)
			}
			got = append(got, h.RequestID)
		}
		// Newest first: the listing is in reverse order of the calls.
		want := append([]string(nil), c.want...)
		for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
			want[i], want[j] = want[j], want[i]
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Username=bob in %s lists requests %v; want bob's calls %v", c.region, got, want)
		}
	}

	// 4. The root key on its own account: userIdentity type Root.
	rr := signedPost(t, ctx, n.endpoint, rootK, "us-east-1", "", client.CloudTrailTarget, "LookupEvents", `{"MaxResults":3}`, ua)
	if rr.status != 200 {
		t.Fatalf("root LookupEvents: %d %s", rr.status, rr.body)
	}
	rootC := keyClient(t, n.endpoint, rootK, "us-east-1", "")
	re, _, ok := findAudit(t, ctx, rootC, "LookupEvents", rr.requestID, 10*time.Second)
	if !ok {
		t.Fatalf("the root key's call was not recorded in its account")
	}
	var rootRec struct {
		RecipientAccountID string `json:"recipientAccountId"`
		UserIdentity       struct {
			Type        string `json:"type"`
			PrincipalID string `json:"principalId"`
			ARN         string `json:"arn"`
			AccountID   string `json:"accountId"`
			AccessKeyID string `json:"accessKeyId"`
			UserName    *string
		} `json:"userIdentity"`
	}
	json.Unmarshal([]byte(re.CloudTrailEvent), &rootRec)
	ri := rootRec.UserIdentity
	if rootRec.RecipientAccountID != rootID || ri.Type != "Root" || ri.ARN != "arn:aws:iam::"+rootID+":root" ||
		ri.AccountID != rootID || ri.AccessKeyID != rootK.AccessKeyID || ri.PrincipalID != rootID || ri.UserName != nil {
		t.Errorf("record of the root key's call: %s; want userIdentity type Root, arn arn:aws:iam::%s:root, principalId and accountId %s", re.CloudTrailEvent, rootID, rootID)
	}
	if re.Username != "root" {
		t.Errorf("the root key's call is listed with Username %q, want root", re.Username)
	}

	// 5. The root key acting on the tenant: recorded in the tenant's account
	// and region, as the root of its own account.
	ra := signedPost(t, ctx, n.endpoint, rootK, "eu-west-1", acct, client.CloudTrailTarget, "LookupEvents", `{"MaxResults":2}`, ua)
	if ra.status != 200 {
		t.Fatalf("root LookupEvents on %s: %d %s", acct, ra.status, ra.body)
	}
	ae, _, ok := findAudit(t, ctx, poller, "LookupEvents", ra.requestID, 10*time.Second)
	if !ok {
		t.Fatalf("the root key's call on account %s was not recorded there", acct)
	}
	if h, _ := ae.head(); h.RecipientAccountID != acct || h.UserIdentity.Type != "Root" || h.UserIdentity.AccountID != rootID || h.AWSRegion != "eu-west-1" {
		t.Errorf("record of the root key's call on %s: %s", acct, ae.CloudTrailEvent)
	}
}
