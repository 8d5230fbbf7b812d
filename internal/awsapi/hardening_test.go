package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cairn-audit/cairn/internal/auth"
)

// TestAccountHeaderMustBeSigned replays an administrator's signed call
// with X-Cairn-Account-Id added after signing: the header is not covered
// by the signature, so the call is refused and acts on nothing.
func TestAccountHeaderMustBeSigned(t *testing.T) {
	ts, rec := testServer(t)
	body := `{}`
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "CloudTrail_20131101.Echo")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAADMIN", SecretAccessKey: "admin-secret"}, req, hex.EncodeToString(sum[:]), "cloudtrail", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set(AccountHeader, "333333333333") // added by whoever captured the request
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), CodeIncompleteSignature) || strings.Contains(string(b), "333333333333\"") {
		t.Fatalf("unsigned account header: %d %s", resp.StatusCode, b)
	}
	if len(rec.recs) != 0 {
		t.Fatalf("a refused call was recorded: %v", rec.recs)
	}
	// Signed, the same header is honoured.
	st, out, _ := call(t, ts.URL, "AKIAADMIN", "admin-secret", "us-east-1", "CloudTrail_20131101.Echo", `{}`, map[string]string{AccountHeader: "333333333333"})
	if st != 200 || out["Account"] != "333333333333" {
		t.Fatalf("signed account header: %d %v", st, out)
	}
}

// countingBody counts the bytes the server reads of a request body.
type countingBody struct {
	n    atomic.Int64
	left int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), b.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	b.left -= n
	b.n.Add(n)
	return int(n), nil
}

// TestNoBodyReadBeforeAuthentication sends large bodies that fail
// authentication for every reason the headers decide: the server answers
// without reading the body.
func TestNoBodyReadBeforeAuthentication(t *testing.T) {
	s := &Server{
		Services: []*Service{{Targets: []string{"CloudTrail_20131101"}, SigningName: "cloudtrail", EventSource: "cloudtrail.amazonaws.com",
			Ops: map[string]Op{"Echo": {MaxBody: 64 << 20, Handle: func(ctx context.Context, c *Call) (any, error) { return nil, nil }}}}},
		Dir: fakeDir{"AKIATENANT": {Key: auth.Key{AccessKeyID: "AKIATENANT", SecretAccessKey: "tenant-secret", AccountID: "222222222222"}}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, MaxBody: 1024,
	}
	sign := func(req *http.Request, key, secret string, at time.Time) {
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, "UNSIGNED-PAYLOAD", "cloudtrail", "us-east-1", at); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		prep func(*http.Request)
		code string
	}{
		{"unsigned", func(r *http.Request) {}, CodeMissingAuthenticationToken},
		{"unknown key", func(r *http.Request) { sign(r, "AKIANOPE", "x", time.Now()) }, CodeUnrecognizedClient},
		{"expired", func(r *http.Request) { sign(r, "AKIATENANT", "tenant-secret", time.Now().Add(-time.Hour)) }, CodeInvalidSignature},
		{"garbage authorization", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense") }, CodeIncompleteSignature},
		{"unsigned account header", func(r *http.Request) {
			sign(r, "AKIATENANT", "tenant-secret", time.Now())
			r.Header.Set(AccountHeader, "333333333333")
		}, CodeIncompleteSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := &countingBody{left: 32 << 20}
			req := httptest.NewRequest(http.MethodPost, "/", body)
			req.ContentLength = -1 // as a chunked body: no length to refuse by
			req.Header.Set("X-Amz-Target", "CloudTrail_20131101.Echo")
			c.prep(req)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if !strings.Contains(w.Body.String(), c.code) {
				t.Errorf("answer %d %s, want %s", w.Code, w.Body, c.code)
			}
			if n := body.n.Load(); n != 0 {
				t.Errorf("the server read %d bytes of an unauthenticated body", n)
			}
		})
	}
}

// TestBodyBoundByOperation: an operation without a bound of its own takes
// the server's; one with a bound takes that; a declared length over the
// bound is refused before reading.
func TestBodyBoundByOperation(t *testing.T) {
	s := &Server{
		Services: []*Service{{
			Targets: []string{"CloudTrail_20131101"}, SigningName: "cloudtrail", EventSource: "cloudtrail.amazonaws.com",
			Ops: map[string]Op{
				"Small": {Handle: func(ctx context.Context, c *Call) (any, error) { return map[string]int{"Len": len(c.Body)}, nil }},
				"Bulk":  {MaxBody: 8192, Handle: func(ctx context.Context, c *Call) (any, error) { return map[string]int{"Len": len(c.Body)}, nil }},
			},
		}},
		Dir: fakeDir{"AKIATENANT": {Key: auth.Key{AccessKeyID: "AKIATENANT", SecretAccessKey: "tenant-secret", AccountID: "222222222222"}}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, MaxBody: 1024,
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	body := `{"A":"` + strings.Repeat("x", 2000) + `"}`
	if st, out, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.Small", body, nil); st != 413 || out["__type"] != CodeRequestTooLarge {
		t.Fatalf("2 KB to a 1 KB operation: %d %v", st, out)
	}
	if st, out, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.Bulk", body, nil); st != 200 || out["Len"] != float64(len(body)) {
		t.Fatalf("2 KB to an 8 KB operation: %d %v", st, out)
	}
	big := `{"A":"` + strings.Repeat("x", 9000) + `"}`
	if st, out, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.Bulk", big, nil); st != 413 || out["__type"] != CodeRequestTooLarge {
		t.Fatalf("9 KB to an 8 KB operation: %d %v", st, out)
	}
}

// TestAuditRecordsHideSecrets: secrets in a request or a response never
// reach the audit record, whether the operation names them or their member
// name says what they are.
func TestAuditRecordsHideSecrets(t *testing.T) {
	rec := &recorder{}
	s := &Server{
		Services: []*Service{{
			Targets: []string{"CloudTrail_20131101"}, SigningName: "cloudtrail", EventSource: "cloudtrail.amazonaws.com",
			Ops: map[string]Op{
				"MintKey": {Handle: func(ctx context.Context, c *Call) (any, error) {
					return map[string]any{"AccessKey": map[string]any{"AccessKeyId": "AKIANEW", "SecretAccessKey": "s3cr3t-minted"}}, nil
				}},
				"Hook": {Redact: map[string]Redaction{"Webhook": HideURLSecrets, "ApiKey": HideValue}, Handle: func(ctx context.Context, c *Call) (any, error) {
					var in map[string]any
					c.Decode(&in)
					return in, nil
				}},
			},
		}},
		Dir:   fakeDir{"AKIATENANT": {Key: auth.Key{AccessKeyID: "AKIATENANT", SecretAccessKey: "tenant-secret", AccountID: "222222222222"}}},
		Audit: rec.audit,
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, MaxBody: 1 << 16,
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	if st, out, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.MintKey", `{"Password":"hunter2","Nested":[{"sessionToken":"tok-123"}]}`, nil); st != 200 || out["AccessKey"].(map[string]any)["SecretAccessKey"] != "s3cr3t-minted" {
		t.Fatalf("MintKey: %d %v (the caller still gets its secret)", st, out)
	}
	if st, _, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.Hook", `{"Webhook":"https://bot:pa55@hooks.example.com/services/T0/B0/XyZ?token=q1","ApiKey":"k-9","Name":"ops"}`, nil); st != 200 {
		t.Fatalf("Hook: %d", st)
	}
	// Spellings the JSON decoder takes for the same members: other cases,
	// and the KELVIN SIGN and long s it folds to k and s.
	if st, _, _ := call(t, ts.URL, "AKIATENANT", "tenant-secret", "us-east-1", "CloudTrail_20131101.Hook", `{"webhook":"https://hooks.example.com/services/T1/B1/AbC","APIKEY":"k-8","PASSWORD":"hunter3","ſecretAccessKey":"s3cr3t-long-s","apiKey":"k-7"}`, nil); st != 200 {
		t.Fatalf("Hook, other spellings: %d", st)
	}
	all, _ := json.Marshal(rec.recs)
	for _, secret := range []string{"s3cr3t-minted", "hunter2", "tok-123", "pa55", "XyZ", "q1", "k-9", "AbC", "k-8", "hunter3", "s3cr3t-long-s", "k-7"} {
		if strings.Contains(string(all), secret) {
			t.Errorf("audit records show %q: %s", secret, all)
		}
	}
	for _, want := range []string{`"secretAccessKey":"` + Hidden, `"webhook":"https://hooks.example.com/` + Hidden, `"name":"ops"`, `"accessKeyId":"AKIANEW"`} {
		if !strings.Contains(string(all), want) {
			t.Errorf("audit records lack %s: %s", want, all)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com":                "https://hooks.example.com",
		"https://hooks.example.com/":               "https://hooks.example.com",
		"https://u:p@hooks.example.com":            "https://hooks.example.com/" + Hidden,
		"https://hooks.example.com/services/T/B/X": "https://hooks.example.com/" + Hidden,
		"http://h:8080/?token=x":                   "http://h:8080/" + Hidden,
		"mailto:someone@example.com":               Hidden,
		"not a url at all":                         Hidden,
		"%zz":                                      Hidden,
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
