package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cairn-audit/cairn/internal/auth"
)

type fakeDir map[string]auth.Principal

func (d fakeDir) Principal(id string) (auth.Principal, error) {
	p, ok := d[id]
	if !ok {
		return auth.Principal{}, auth.ErrUnknownKey
	}
	return p, nil
}

type recorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (r *recorder) audit(b []byte) {
	var m map[string]any
	json.Unmarshal(b, &m)
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
}

func testServer(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	s := &Server{
		Services: []*Service{{
			Targets:     []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", "CloudTrail_20131101"},
			SigningName: "cloudtrail",
			EventSource: "cloudtrail.amazonaws.com",
			Ops: map[string]Op{
				"Echo": {ReadOnly: true, Handle: func(ctx context.Context, c *Call) (any, error) {
					var in map[string]any
					if err := c.Decode(&in); err != nil {
						return nil, err
					}
					return map[string]any{"Account": c.AccountID, "Region": c.Region, "In": in}, nil
				}},
				"Write": {Handle: func(ctx context.Context, c *Call) (any, error) {
					return map[string]any{"TrailARN": "arn:x", "S3BucketName": "b"}, nil
				}},
				"Fail": {Handle: func(ctx context.Context, c *Call) (any, error) {
					return nil, Errorf("TrailNotFoundException", "Unknown trail: x for the user: %s", c.AccountID)
				}},
				"Panic": {Handle: func(ctx context.Context, c *Call) (any, error) { panic("boom") }},
			},
		}},
		Dir: fakeDir{
			"AKIAADMIN":  {Key: auth.Key{AccessKeyID: "AKIAADMIN", SecretAccessKey: "admin-secret", AccountID: "111111111111"}, Admin: true},
			"AKIATENANT": {Key: auth.Key{AccessKeyID: "AKIATENANT", SecretAccessKey: "tenant-secret", AccountID: "222222222222", UserName: "alice", UserID: "AIDAALICE"}},
		},
		Audit:   rec.audit,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     time.Now,
		MaxBody: 1024,
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, rec
}

func call(t *testing.T, url, key, secret, region, target, body string, header map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "cloudtrail", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

func TestRoutingAndErrors(t *testing.T) {
	ts, rec := testServer(t)
	for _, target := range []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.Echo", "CloudTrail_20131101.Echo"} {
		st, out, h := call(t, ts.URL, "AKIATENANT", "tenant-secret", "eu-west-1", target, `{"A":1}`, nil)
		if st != 200 || out["Account"] != "222222222222" || out["Region"] != "eu-west-1" || h.Get("x-amzn-RequestId") == "" {
			t.Fatalf("%s: %d %v", target, st, out)
		}
	}
	cases := []struct {
		name, key, secret, target, body string
		header                          map[string]string
		status                          int
		code                            string
	}{
		{"unknown op", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Nope", `{}`, nil, 400, CodeUnknownOperation},
		{"unknown prefix", "AKIATENANT", "tenant-secret", "Other_2020.Echo", `{}`, nil, 400, CodeUnknownOperation},
		{"malformed JSON", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Echo", `{"A":`, nil, 400, CodeSerialization},
		{"not an object", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Echo", `[1]`, nil, 400, CodeSerialization},
		{"unknown key", "AKIANOPE", "x", "CloudTrail_20131101.Echo", `{}`, nil, 400, CodeUnrecognizedClient},
		{"wrong secret", "AKIATENANT", "wrong", "CloudTrail_20131101.Echo", `{}`, nil, 400, CodeInvalidSignature},
		{"operation error", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Fail", `{}`, nil, 400, "TrailNotFoundException"},
		{"panic", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Panic", `{}`, nil, 500, CodeInternalFailure},
		{"too large", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Echo", `{"A":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, CodeRequestTooLarge},
		{"tenant acting on another account", "AKIATENANT", "tenant-secret", "CloudTrail_20131101.Echo", `{}`, map[string]string{AccountHeader: "333333333333"}, 400, CodeAccessDenied},
		{"admin with a bad account", "AKIAADMIN", "admin-secret", "CloudTrail_20131101.Echo", `{}`, map[string]string{AccountHeader: "12"}, 400, CodeValidation},
	}
	for _, c := range cases {
		st, out, h := call(t, ts.URL, c.key, c.secret, "us-east-1", c.target, c.body, c.header)
		if st != c.status || out["__type"] != c.code || out["Message"] == "" || h.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, out, c.status, c.code)
		}
	}
	st, out, _ := call(t, ts.URL, "AKIAADMIN", "admin-secret", "us-east-1", "CloudTrail_20131101.Echo", `{}`, map[string]string{AccountHeader: "333333333333"})
	if st != 200 || out["Account"] != "333333333333" {
		t.Fatalf("admin acting on another account: %d %v", st, out)
	}
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}

	// Audited: authenticated calls to known operations, failures included,
	// also those refused for acting on another account (7 Echo calls).
	rec.mu.Lock()
	defer rec.mu.Unlock()
	names := map[string]int{}
	for _, r := range rec.recs {
		names[r["eventName"].(string)]++
	}
	if names["Echo"] != 7 || names["Fail"] != 1 || names["Panic"] != 1 || names["Nope"] != 0 {
		t.Errorf("audited calls: %v", names)
	}
}

func TestAuditRecordShape(t *testing.T) {
	ts, rec := testServer(t)
	_, _, h := call(t, ts.URL, "AKIATENANT", "tenant-secret", "eu-west-1", "CloudTrail_20131101.Write", `{"Name":"t","S3BucketName":"b","TagsList":[{"Key":"k"}]}`, nil)
	call(t, ts.URL, "AKIATENANT", "tenant-secret", "eu-west-1", "CloudTrail_20131101.Fail", `{"Name":"x"}`, nil)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.recs) != 2 {
		t.Fatalf("%d records", len(rec.recs))
	}
	w, f := rec.recs[0], rec.recs[1]
	ui := w["userIdentity"].(map[string]any)
	checks := map[string]bool{
		"eventVersion":        w["eventVersion"] == "1.11",
		"eventSource":         w["eventSource"] == "cloudtrail.amazonaws.com",
		"awsRegion":           w["awsRegion"] == "eu-west-1",
		"recipientAccountId":  w["recipientAccountId"] == "222222222222",
		"readOnly":            w["readOnly"] == false,
		"managementEvent":     w["managementEvent"] == true,
		"eventCategory":       w["eventCategory"] == "Management",
		"requestID":           w["requestID"] == h.Get("x-amzn-RequestId"),
		"sourceIPAddress":     w["sourceIPAddress"] == "127.0.0.1",
		"userIdentity.type":   ui["type"] == "IAMUser",
		"userIdentity.arn":    ui["arn"] == "arn:aws:iam::222222222222:user/alice",
		"userIdentity.userId": ui["principalId"] == "AIDAALICE",
		"requestParameters":   jsonOf(w["requestParameters"]) == `{"name":"t","s3BucketName":"b","tagsList":[{"key":"k"}]}`,
		"responseElements":    jsonOf(w["responseElements"]) == `{"s3BucketName":"b","trailARN":"arn:x"}`,
		"errorCode":           f["errorCode"] == "TrailNotFoundException",
		"errorMessage":        f["errorMessage"] == "Unknown trail: x for the user: 222222222222",
		"failed response":     f["responseElements"] == nil,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s wrong in %v / %v", name, w, f)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTimeJSON(t *testing.T) {
	for in, want := range map[string]int64{`1454022144`: 1454022144000, `1454022144.869`: 1454022144869, `"2016-01-28T23:02:24Z"`: 1454022144000, `"1454022144.5"`: 1454022144500} {
		var tm Time
		if err := json.Unmarshal([]byte(in), &tm); err != nil || tm.UnixMilli() != want {
			t.Errorf("%s: %v %d", in, err, tm.UnixMilli())
		}
	}
	for _, bad := range []string{`"soon"`, `true`, `1e300`} {
		var tm Time
		if err := json.Unmarshal([]byte(bad), &tm); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	b, _ := json.Marshal(Time{time.UnixMilli(1454022144869)})
	if !bytes.Equal(b, []byte("1454022144.869")) {
		t.Errorf("marshal: %s", b)
	}
}
