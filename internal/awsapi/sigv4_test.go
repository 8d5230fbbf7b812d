package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/smithy-go"
)

// The access key and secret are AWS's documentation examples, which also
// lets the published SigV4 test vectors run against the same lookup.
const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "us-west-2"
	testHost   = "https://cloudtrail.us-west-2.amazonaws.com"
)

var (
	signTime        = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	testServices    = []string{"cloudtrail"}
	errStoreOffline = errors.New("store offline")
)

func testLookup(id string) (string, error) {
	switch id {
	case testAKID:
		return testSecret, nil
	case "AKIDOTHER":
		return "another-secret", nil
	case "AKIDBROKEN":
		return "", errStoreOffline
	}
	return "", ErrUnknownAccessKey
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

type signOpts struct {
	akid, secret, token string
	service, region     string
	at                  time.Time
	payloadHash         string // defaults to the body's hash
}

func (o signOpts) withDefaults(body []byte) signOpts {
	if o.akid == "" {
		o.akid = testAKID
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	if o.service == "" {
		o.service = "cloudtrail"
	}
	if o.region == "" {
		o.region = testRegion
	}
	if o.at.IsZero() {
		o.at = signTime
	}
	if o.payloadHash == "" {
		o.payloadHash = payloadHash(body)
	}
	return o
}

// signSDK signs req the way aws-sdk-go-v2 does for every JSON service.
func signSDK(t testing.TB, req *http.Request, body []byte, o signOpts) {
	t.Helper()
	o = o.withDefaults(body)
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret, SessionToken: o.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, o.payloadHash, o.service, o.region, o.at); err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
}

// newSigned builds a client-side request for target (path and query) on
// testHost, lets prepare add headers, and signs it.
func newSigned(t testing.TB, method, target string, body []byte, o signOpts, prepare func(*http.Request)) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, testHost+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if prepare != nil {
		prepare(req)
	}
	signSDK(t, req, body, o)
	return req
}

type verifyResult struct {
	cred Credential
	err  error
}

// verifyOverHTTP sends the request returned by build (given the server's
// base URL) to a real server and verifies it there, so that what is checked
// is what net/http hands a handler after the wire: Host with its port, the
// RequestURI as sent, Content-Length, and headers the transport adds after
// signing.
func verifyOverHTTP(t *testing.T, services []string, now time.Time, build func(base string) *http.Request) (Credential, error) {
	t.Helper()
	results := make(chan verifyResult, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			results <- verifyResult{err: err}
			return
		}
		cred, err := VerifySigV4(r, body, services, testLookup, now)
		results <- verifyResult{cred, err}
	}))
	defer srv.Close()

	resp, err := srv.Client().Do(build(srv.URL))
	if err != nil {
		t.Fatalf("sending request: %v", err)
	}
	resp.Body.Close()
	res := <-results
	return res.cred, res.err
}

func wantAuthError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v (%T), want *AuthError %s", err, err, code)
	}
	if ae.Code != code || ae.Message != message {
		t.Fatalf("got\n  %s: %s\nwant\n  %s: %s", ae.Code, ae.Message, code, message)
	}
}

func TestVerifySigV4AcceptsSDKSignedRequests(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		service  string
		token    string
		services []string
		prepare  func(*http.Request)
	}{
		{
			name:   "json body with unicode",
			method: http.MethodPost,
			target: "/",
			body:   `{"Name":"trail-ünïcødé-日本語-🚀","Tags":[{"Key":"naïve","Value":"\u00e9"}]}`,
			prepare: func(r *http.Request) {
				r.Header.Set("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail")
			},
		},
		{name: "empty body", method: http.MethodGet, target: "/"},
		{
			name:   "repeated query keys and special characters",
			method: http.MethodGet,
			target: "/?b=2&a=3&a=1&a=&c=x%2Fy&d=%E2%9C%93&e&f=a+b&g=%20~*!&h=%3D%26%3B&%C3%A9=%c3%a9",
		},
		{name: "path with spaces and plus", method: http.MethodPost, target: "/a%20b/c+d/e%2Bf/%E2%9C%93", body: "{}"},
		{name: "path with dot and empty segments", method: http.MethodPost, target: "/a/./b//c/../d/", body: "{}"},
		{
			name:     "cloudtrail-data PutAuditEvents",
			method:   http.MethodPost,
			target:   "/PutAuditEvents?channelArn=arn:aws:cloudtrail:us-west-2:123456789012:channel/01234567-89ab-cdef-0123-456789abcdef&externalId=x",
			body:     `{"auditEvents":[{"id":"1","eventData":"{\"ü\":1}"}]}`,
			service:  "cloudtrail-data",
			services: []string{"cloudtrail", "cloudtrail-data"},
			prepare: func(r *http.Request) {
				r.Header.Set("Content-Type", "application/json")
			},
		},
		{name: "session token", method: http.MethodPost, target: "/", body: "{}", token: "FwoGZXIvYXdzEJr//////////token=="},
		{
			name:   "x-amz-content-sha256 sent and signed",
			method: http.MethodPost,
			target: "/",
			body:   `{"a":1}`,
			prepare: func(r *http.Request) {
				r.Header.Set("X-Amz-Content-Sha256", payloadHash([]byte(`{"a":1}`)))
			},
		},
		{
			name:   "multi-valued header with runs of spaces",
			method: http.MethodPost,
			target: "/",
			body:   "{}",
			prepare: func(r *http.Request) {
				r.Header.Add("X-Custom", "  a   b  c ")
				r.Header.Add("X-Custom", "d")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			service := tc.service
			if service == "" {
				service = "cloudtrail"
			}
			services := tc.services
			if services == nil {
				services = testServices
			}
			body := []byte(tc.body)
			o := signOpts{service: service, token: tc.token}
			_, rawQuery, _ := strings.Cut(tc.target, "?")

			// Over the wire, as a server sees it.
			cred, err := verifyOverHTTP(t, services, signTime.Add(3*time.Minute), func(base string) *http.Request {
				req, err := http.NewRequest(tc.method, base+tc.target, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.prepare != nil {
					tc.prepare(req)
				}
				signSDK(t, req, body, o)
				// The Go signer rewrites RawQuery into canonical order; put
				// back the order and encoding the test asked for, as other
				// clients send them.
				req.URL.RawQuery = rawQuery
				return req
			})
			if err != nil {
				t.Fatalf("over HTTP: %v", err)
			}
			want := Credential{AccessKeyID: testAKID, Date: "20240101", Region: testRegion, Service: service, SecurityToken: tc.token}
			if cred != want {
				t.Fatalf("credential = %+v, want %+v", cred, want)
			}

			// And directly, on the client-side request (no RequestURI).
			req := newSigned(t, tc.method, tc.target, body, o, tc.prepare)
			req.URL.RawQuery = rawQuery
			if _, err := VerifySigV4(req, body, services, testLookup, signTime); err != nil {
				t.Fatalf("direct: %v", err)
			}
		})
	}
}

func TestVerifySigV4UnsignedHeadersMayChange(t *testing.T) {
	body := []byte(`{"TrailName":"t"}`)
	req := newSigned(t, http.MethodPost, "/", body, signOpts{}, nil)
	req.Header.Set("User-Agent", "something-else/2.0")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000")
	req.Header.Add("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	if _, err := VerifySigV4(req, body, testServices, testLookup, signTime); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySigV4RejectsTampering(t *testing.T) {
	body := []byte(`{"TrailName":"t"}`)
	tests := []struct {
		name   string
		tamper func(r *http.Request) []byte
	}{
		{"signed header changed", func(r *http.Request) []byte {
			r.Header.Set("Content-Type", "application/json")
			return body
		}},
		{"signed header gains a value", func(r *http.Request) []byte {
			r.Header.Add("Content-Type", "text/plain")
			return body
		}},
		{"body changed, same length", func(r *http.Request) []byte {
			return []byte(`{"TrailName":"u"}`)
		}},
		{"method changed", func(r *http.Request) []byte {
			r.Method = http.MethodPut
			return body
		}},
		{"path changed", func(r *http.Request) []byte {
			r.URL.Path = "/other"
			return body
		}},
		{"query added", func(r *http.Request) []byte {
			r.URL.RawQuery = "a=1"
			return body
		}},
		{"host changed", func(r *http.Request) []byte {
			r.Host = "evil.example.com"
			return body
		}},
		{"date moved within skew", func(r *http.Request) []byte {
			r.Header.Set("X-Amz-Date", "20240101T000001Z")
			return body
		}},
		{"signature flipped", func(r *http.Request) []byte {
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(flip))
			return body
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newSigned(t, http.MethodPost, "/", body, signOpts{}, nil)
			got := tc.tamper(req)
			_, err := VerifySigV4(req, got, testServices, testLookup, signTime)
			wantAuthError(t, err, "InvalidSignatureException", msgSignatureMismatch)
		})
	}
}

func TestVerifySigV4Keys(t *testing.T) {
	body := []byte(`{}`)

	t.Run("wrong secret", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{secret: "not-the-secret"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. "+
				"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	})
	t.Run("another key's secret", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{akid: "AKIDOTHER"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException", msgSignatureMismatch)
	})
	t.Run("unknown key", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{akid: "AKIDNOBODY"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")
	})
	t.Run("lookup failure is not an AuthError", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{akid: "AKIDBROKEN"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		var ae *AuthError
		if errors.As(err, &ae) || !errors.Is(err, errStoreOffline) {
			t.Fatalf("got %v, want a wrapped store error", err)
		}
	})
}

func TestVerifySigV4Clock(t *testing.T) {
	body := []byte(`{}`)
	tests := []struct {
		name    string
		now     time.Time
		wantMsg string // empty: accepted
	}{
		{"exact", signTime, ""},
		{"15 minutes later", signTime.Add(15 * time.Minute), ""},
		{"15 minutes earlier", signTime.Add(-15 * time.Minute), ""},
		{"sub-second past the limit is still the same second", signTime.Add(15*time.Minute + 999*time.Millisecond), ""},
		{"expired", signTime.Add(30 * time.Minute),
			"Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z (20240101T003000Z - 15 min.)"},
		{"just expired", signTime.Add(15*time.Minute + time.Second),
			"Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T001501Z - 15 min.)"},
		{"future", signTime.Add(-30 * time.Minute),
			"Signature not yet current: 20240101T000000Z is still later than 20231231T234500Z (20231231T233000Z + 15 min.)"},
		{"now in another zone", signTime.Add(time.Hour).In(time.FixedZone("X", 5*3600)),
			"Signature expired: 20240101T000000Z is now earlier than 20240101T004500Z (20240101T010000Z - 15 min.)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newSigned(t, http.MethodPost, "/", body, signOpts{}, nil)
			_, err := VerifySigV4(req, body, testServices, testLookup, tc.now)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantAuthError(t, err, "InvalidSignatureException", tc.wantMsg)
		})
	}
}

func TestVerifySigV4Scope(t *testing.T) {
	body := []byte(`{}`)
	t.Run("wrong service", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{service: "s3"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "IncompleteSignatureException", "Credential should be scoped to correct service: 'cloudtrail'.")
	})
	t.Run("no services accepted", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{}, nil)
		_, err := VerifySigV4(req, body, nil, testLookup, signTime)
		wantAuthError(t, err, "IncompleteSignatureException", "Credential should be scoped to correct service: ''.")
	})
	t.Run("any region is the caller's region", func(t *testing.T) {
		for _, region := range []string{"us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1", "local"} {
			req := newSigned(t, http.MethodPost, "/", body, signOpts{region: region}, nil)
			cred, err := VerifySigV4(req, body, testServices, testLookup, signTime)
			if err != nil || cred.Region != region {
				t.Fatalf("region %q: cred %+v, err %v", region, cred, err)
			}
		}
	})
	t.Run("invalid region", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{region: "US_WEST_2"}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "IncompleteSignatureException", "Credential should be scoped to a valid region, not 'US_WEST_2'.")
	})
	t.Run("scope date differs from request date", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{}, nil)
		req.Header.Set("X-Amz-Date", "20240102T000000Z")
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240101' != '20240102', from '20240102T000000Z'.")
	})
}

func TestVerifySigV4Payload(t *testing.T) {
	body := []byte(`{"a":1}`)
	t.Run("declared hash differs from body", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{}, func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", payloadHash([]byte("something else")))
		})
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	})
	t.Run("unsigned payload refused", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{payloadHash: "UNSIGNED-PAYLOAD"}, func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		})
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException", msgPayloadHashMismatch)
	})
	t.Run("signed for another payload", func(t *testing.T) {
		req := newSigned(t, http.MethodPost, "/", body, signOpts{payloadHash: payloadHash([]byte("x"))}, nil)
		_, err := VerifySigV4(req, body, testServices, testLookup, signTime)
		wantAuthError(t, err, "InvalidSignatureException", msgSignatureMismatch)
	})
}

// TestVerifySigV4MalformedAuthorization covers the structural checks, each
// of which must be reported before any key lookup.
func TestVerifySigV4MalformedAuthorization(t *testing.T) {
	const (
		goodCred   = "Credential=AKIDEXAMPLE/20240101/us-west-2/cloudtrail/aws4_request"
		goodSH     = "SignedHeaders=host;x-amz-date"
		goodSig    = "Signature=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		needCred   = "Authorization header requires 'Credential' parameter."
		needSig    = "Authorization header requires 'Signature' parameter."
		needSH     = "Authorization header requires 'SignedHeaders' parameter."
		needDate   = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
		incomplete = "IncompleteSignatureException"
	)
	good := "AWS4-HMAC-SHA256 " + goodCred + ", " + goodSH + ", " + goodSig
	tests := []struct {
		name    string
		authz   []string // Authorization header values; nil for none
		noDate  bool
		date    string // X-Amz-Date, default 20240101T000000Z
		query   string
		code    string
		message string
	}{
		{name: "no header", code: "MissingAuthenticationTokenException", message: "Missing Authentication Token"},
		{name: "blank header", authz: []string{"   "}, code: "MissingAuthenticationTokenException", message: "Missing Authentication Token"},
		{
			name:  "presigned query instead of header",
			query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-west-2%2Fcloudtrail%2Faws4_request&X-Amz-Signature=00",
			code:  incomplete,
			message: "Query-string (presigned URL) authentication is not supported by this service; " +
				"sign the request with an Authorization header.",
		},
		{
			name: "bearer token", authz: []string{"Bearer abc.def"}, code: incomplete,
			message: needCred + " " + needSig + " " + needSH + " Authorization=Bearer abc.def",
		},
		{
			name: "bearer token and no date", authz: []string{"Bearer abc"}, noDate: true, code: incomplete,
			message: needCred + " " + needSig + " " + needSH + " " + needDate + " Authorization=Bearer abc",
		},
		{
			name: "algorithm only", authz: []string{"AWS4-HMAC-SHA256"}, code: incomplete,
			message: needCred + " " + needSig + " " + needSH + " Authorization=AWS4-HMAC-SHA256",
		},
		{
			name: "no space after algorithm", authz: []string{"AWS4-HMAC-SHA256" + goodCred + ", " + goodSH + ", " + goodSig}, code: incomplete,
			message: needCred + " " + needSig + " " + needSH + " Authorization=AWS4-HMAC-SHA256" + goodCred + ", " + goodSH + ", " + goodSig,
		},
		{
			name: "credential only", authz: []string{"AWS4-HMAC-SHA256 " + goodCred}, code: incomplete,
			message: needSig + " " + needSH + " Authorization=AWS4-HMAC-SHA256 " + goodCred,
		},
		{
			name: "no signature", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + ", " + goodSH}, code: incomplete,
			message: needSig + " Authorization=AWS4-HMAC-SHA256 " + goodCred + ", " + goodSH,
		},
		{
			name: "no date header", authz: []string{good}, noDate: true, code: incomplete,
			message: needDate + " Authorization=" + good,
		},
		{
			name: "space inside credential", authz: []string{"AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE/20240101/us-west-2/cloudtrail/aws4_request, " + goodSH + ", " + goodSig},
			code: incomplete,
			message: "'AKIDEXAMPLE/20240101/us-west-2/cloudtrail/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: " +
				"'AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE/20240101/us-west-2/cloudtrail/aws4_request, " + goodSH + ", " + goodSig + "'.",
		},
		{
			name: "duplicate signature", authz: []string{good + ", " + goodSig}, code: incomplete,
			message: "Authorization header has more than one 'Signature' parameter. Authorization=" + good + ", " + goodSig,
		},
		{
			name: "two authorization headers", authz: []string{good, good}, code: incomplete,
			message: "Only one Authorization header may be sent.",
		},
		{
			name: "sigv4a", authz: []string{"AWS4-ECDSA-P256-SHA256 " + goodCred + ", " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.",
		},
		{
			name: "credential too short", authz: []string{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2, " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20240101/us-west-2'",
		},
		{
			name: "credential empty", authz: []string{"AWS4-HMAC-SHA256 Credential=, " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got ''",
		},
		{
			name: "wrong terminator", authz: []string{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2/cloudtrail/x, " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'x'.",
		},
		{
			name: "empty region", authz: []string{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101//cloudtrail/aws4_request, " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Credential should be scoped to a valid region, not ''.",
		},
		{
			name: "wrong service", authz: []string{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2/sts/aws4_request, " + goodSH + ", " + goodSig}, code: incomplete,
			message: "Credential should be scoped to correct service: 'cloudtrail'.",
		},
		{
			name: "host not signed", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=x-amz-date, " + goodSig}, code: incomplete,
			message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
		},
		{
			name: "empty signed headers", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=, " + goodSig}, code: incomplete,
			message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
		},
		{
			name: "x-amz-date not signed", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=content-type;host, " + goodSig}, code: incomplete,
			message: "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
		},
		{
			name: "x-amz-date not basic ISO-8601", authz: []string{good}, date: "2024-01-01T00:00:00Z", code: incomplete,
			message: "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
		},
		{
			name: "x-amz-date impossible", authz: []string{good}, date: "20240231T000000Z", code: incomplete,
			message: "Date must be in ISO-8601 'basic format'. Got '20240231T000000Z'. See http://en.wikipedia.org/wiki/ISO_8601",
		},
		{
			name: "scope date malformed", authz: []string{"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2024-01-01/us-west-2/cloudtrail/aws4_request, " + goodSH + ", " + goodSig},
			code:    "InvalidSignatureException",
			message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '2024-01-01' != '20240101', from '20240101T000000Z'.",
		},
		{
			name: "empty access key", authz: []string{"AWS4-HMAC-SHA256 Credential=/20240101/us-west-2/cloudtrail/aws4_request, " + goodSH + ", " + goodSig},
			code: "UnrecognizedClientException", message: msgUnrecognizedClient,
		},
		{
			name: "signature not hex", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + ", " + goodSH + ", Signature=xyz"},
			code: "InvalidSignatureException", message: msgSignatureMismatch,
		},
		{
			name: "signature well-formed but wrong", authz: []string{good},
			code: "InvalidSignatureException", message: msgSignatureMismatch,
		},
		{
			name: "comma-only separators and unknown parameter are tolerated", authz: []string{"AWS4-HMAC-SHA256 " + goodCred + "," + goodSH + ",Foo=bar," + goodSig},
			code: "InvalidSignatureException", message: msgSignatureMismatch,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := testHost + "/"
			if tc.query != "" {
				target += "?" + tc.query
			}
			req, err := http.NewRequest(http.MethodPost, target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.authz {
				req.Header.Add("Authorization", a)
			}
			if !tc.noDate {
				date := tc.date
				if date == "" {
					date = "20240101T000000Z"
				}
				req.Header.Set("X-Amz-Date", date)
			}
			_, err = VerifySigV4(req, nil, testServices, testLookup, signTime)
			wantAuthError(t, err, tc.code, tc.message)
		})
	}
}

func TestVerifySigV4EchoIsBounded(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, testHost+"/", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 100000))
	req.Header.Set("X-Amz-Date", "20240101T000000Z")
	_, err := VerifySigV4(req, nil, testServices, testLookup, signTime)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != "IncompleteSignatureException" {
		t.Fatalf("got %v", err)
	}
	if len(ae.Message) > 2*maxEchoLen {
		t.Fatalf("message is %d bytes long", len(ae.Message))
	}
}

// TestVerifySigV4DateHeader uses the request from AWS's original SigV4 test
// suite (get-vanilla), which is dated with an RFC 1123 Date header instead of
// X-Amz-Date, and its relative-path variants, which sign the same canonical
// URI "/".
func TestVerifySigV4DateHeader(t *testing.T) {
	const authz = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, " +
		"Signature=b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470"
	now := time.Date(2011, 9, 9, 23, 40, 0, 0, time.UTC)
	for _, path := range []string{"/", "/foo/..", "/foo/bar/../..", "/./", "//"} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://host.foo.com"+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Date", "Mon, 09 Sep 2011 23:36:00 GMT")
			req.Header.Set("Authorization", authz)
			cred, err := VerifySigV4(req, nil, []string{"host"}, testLookup, now)
			if err != nil {
				t.Fatal(err)
			}
			if cred.Date != "20110909" || cred.Region != "us-east-1" || cred.Service != "host" {
				t.Fatalf("credential = %+v", cred)
			}
		})
	}
	t.Run("date not signed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://host.foo.com/", nil)
		req.Header.Set("Date", "Mon, 09 Sep 2011 23:36:00 GMT")
		req.Header.Set("Authorization", strings.Replace(authz, "date;host", "host", 1))
		_, err := VerifySigV4(req, nil, []string{"host"}, testLookup, now)
		wantAuthError(t, err, "IncompleteSignatureException", "'Date' must be a 'SignedHeader' in the AWS Authorization.")
	})
	t.Run("date not an HTTP date", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://host.foo.com/", nil)
		req.Header.Set("Date", "yesterday")
		req.Header.Set("Authorization", authz)
		_, err := VerifySigV4(req, nil, []string{"host"}, testLookup, now)
		wantAuthError(t, err, "IncompleteSignatureException",
			"Date header must be an HTTP date such as 'Mon, 02 Jan 2006 15:04:05 GMT'. Got 'yesterday'.")
	})
	t.Run("expired by Date", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://host.foo.com/", nil)
		req.Header.Set("Date", "Mon, 09 Sep 2011 23:36:00 GMT")
		req.Header.Set("Authorization", authz)
		_, err := VerifySigV4(req, nil, []string{"host"}, testLookup, now.Add(time.Hour))
		wantAuthError(t, err, "InvalidSignatureException",
			"Signature expired: 20110909T233600Z is now earlier than 20110910T002500Z (20110910T004000Z - 15 min.)")
	})
}

// TestVerifySigV4PublishedVectors checks requests signed in AWS's published
// examples (the 2015 SigV4 test suite and the IAM ListUsers walkthrough),
// which are independent of the signer the other tests use.
func TestVerifySigV4PublishedVectors(t *testing.T) {
	const amzDate = "20150830T123600Z"
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	tests := []struct {
		name, url, service, signedHeaders, signature string
		header                                       map[string]string
	}{
		{
			name: "get-vanilla", url: "https://example.amazonaws.com/", service: "service",
			signedHeaders: "host;x-amz-date", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "get-vanilla-query-order-key-case", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1", service: "service",
			signedHeaders: "host;x-amz-date", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		},
		{
			name: "iam ListUsers", url: "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", service: "iam",
			signedHeaders: "content-type;host;x-amz-date", signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			req.Header.Set("X-Amz-Date", amzDate)
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"+tc.service+
				"/aws4_request, SignedHeaders="+tc.signedHeaders+", Signature="+tc.signature)
			if _, err := VerifySigV4(req, nil, []string{tc.service}, testLookup, now); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifySigV4RequestURIPreferred(t *testing.T) {
	// A handler mounted under a prefix sees a rewritten r.URL, but the
	// client signed the path it sent.
	body := []byte(`{}`)
	results := make(chan error, 1)
	srv := httptest.NewServer(http.StripPrefix("/api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, err := VerifySigV4(r, b, testServices, testLookup, signTime)
		results <- err
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/", bytes.NewReader(body))
	signSDK(t, req, body, signOpts{})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-results; err != nil {
		t.Fatalf("behind StripPrefix: %v", err)
	}
}

// TestVerifySigV4CloudTrailClient runs the real aws-sdk-go-v2 CloudTrail
// client, with its full middleware stack, against a verifying server.
func TestVerifySigV4CloudTrailClient(t *testing.T) {
	var mu sync.Mutex
	var got []verifyResult
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cred, err := VerifySigV4(r, body, testServices, testLookup, time.Now())
		mu.Lock()
		got = append(got, verifyResult{cred, err})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var ae *AuthError
		if errors.As(err, &ae) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": ae.Code, "message": ae.Message})
			return
		}
		io.WriteString(w, `{"Events":[]}`)
	}))
	defer srv.Close()

	client := func(secret, token string) *cloudtrail.Client {
		return cloudtrail.New(cloudtrail.Options{
			Region:           testRegion,
			Credentials:      credentials.NewStaticCredentialsProvider(testAKID, secret, token),
			BaseEndpoint:     aws.String(srv.URL),
			RetryMaxAttempts: 1,
		})
	}
	ctx := context.Background()

	if _, err := client(testSecret, "").LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(5)}); err != nil {
		t.Fatalf("LookupEvents: %v", err)
	}
	if _, err := client(testSecret, "session-token").LookupEvents(ctx, &cloudtrail.LookupEventsInput{}); err != nil {
		t.Fatalf("LookupEvents with session token: %v", err)
	}
	_, err := client("wrong", "").LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("wrong secret: got %v, want InvalidSignatureException", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(got))
	}
	if got[0].err != nil || got[0].cred.Region != testRegion || got[0].cred.Service != "cloudtrail" {
		t.Fatalf("first request: %+v", got[0])
	}
	if got[1].err != nil || got[1].cred.SecurityToken != "session-token" {
		t.Fatalf("second request: %+v", got[1])
	}
}

// botocoreScript signs with botocore, as the AWS CLI and boto3 do: a
// CloudTrail JSON call, a cloudtrail-data REST call with query parameters,
// and a hand-built request whose path and query need encoding.
const botocoreScript = `
import sys, boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

endpoint, akid, secret = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="eu-west-1",
          aws_access_key_id=akid, aws_secret_access_key=secret)
boto3.client("cloudtrail", **kw).lookup_events(MaxResults=1)
boto3.client("cloudtrail-data", **kw).put_audit_events(
    channelArn="arn:aws:cloudtrail:eu-west-1:123456789012:channel/01234567-89ab",
    externalId="ext id+/é",
    auditEvents=[{"id": "1", "eventData": '{"k":"ü 日本"}'}])
req = AWSRequest(method="POST",
                 url=endpoint + "/a%20b/c%2Bd/./e%7E?x=2&x=1&y=a%20b&z&%C3%A9=%E2%9C%93",
                 data='{"k":"ü"}'.encode(), headers={"Content-Type": "application/json",
                                                     "X-Custom": "  a   b  "})
SigV4Auth(Credentials(akid, secret), "cloudtrail", "eu-west-1").add_auth(req)
resp = URLLib3Session().send(req.prepare())
if resp.status_code != 200:
    sys.exit("raw request: HTTP %d %s" % (resp.status_code, resp.text))
`

// TestVerifySigV4Botocore checks interoperability with botocore, the signer
// behind the AWS CLI and boto3. It needs python3 with boto3 and is skipped
// without it.
func TestVerifySigV4Botocore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3")
	}
	python, err := exec.LookPath("python3")
	if err != nil || exec.Command(python, "-c", "import boto3").Run() != nil {
		t.Skip("python3 with boto3 not available")
	}

	var mu sync.Mutex
	var got []verifyResult
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cred, err := VerifySigV4(r, body, []string{"cloudtrail", "cloudtrail-data"}, testLookup, time.Now())
		mu.Lock()
		got = append(got, verifyResult{cred, err})
		mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"successful":[],"failed":[]}`)
	}))
	defer srv.Close()

	cmd := exec.Command(python, "-c", botocoreScript, srv.URL, testAKID, testSecret)
	cmd.Env = append(os.Environ(),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
	out, err := cmd.CombinedOutput()

	mu.Lock()
	defer mu.Unlock()
	for i, r := range got {
		if r.err != nil {
			t.Errorf("request %d: %v", i, r.err)
		}
	}
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if len(got) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(got))
	}
	if got[1].cred.Service != "cloudtrail-data" || got[1].cred.Region != "eu-west-1" {
		t.Fatalf("cloudtrail-data credential: %+v", got[1].cred)
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=10", "a=1&a=10&a=2"},
		{"flag", "flag="},
		{"a=b+c&d=e%20f&g=h%2Bi", "a=b%20c&d=e%20f&g=h%2Bi"},
		{"k=a/b:c@d~e*f", "k=a%2Fb%3Ac%40d~e%2Af"},
		{"x=%c3%a9", "x=%C3%A9"},
		{"&&a=1&&", "a=1"},
		{"a=1;b=2&c=3", "c=3"},
		{"bad=%zz&ok=1", "ok=1"},
		// Sorting happens after encoding: '%' (0x25) sorts before '-' (0x2D).
		{"v=a-b&v=a/b", "v=a%2Fb&v=a-b"},
	}
	for _, tc := range tests {
		if got := canonicalQuery(tc.raw); got != tc.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestCanonicalURIs(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"", []string{"/"}},
		{"/", []string{"/"}},
		{"/PutAuditEvents", []string{"/PutAuditEvents"}},
		{"/a%20b/c+d", []string{"/a%2520b/c%2Bd"}},
		{"/a/./b/../c", []string{"/a/c", "/a/./b/../c"}},
		{"//a//b/", []string{"/a/b/", "//a//b/"}},
		{"/..", []string{"/", "/.."}},
		{"/a%2Fb/%2E%2E", []string{"/a%252Fb/%252E%252E"}},
	}
	for _, tc := range tests {
		r := &http.Request{URL: &url.URL{}, RequestURI: tc.path}
		got := canonicalURIs(r)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("canonicalURIs(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestTrimAll(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"a":              "a",
		"  a  ":          "a",
		"a   b    c":     "a b c",
		"\t a  b \t":     "a b",
		"a\tb":           "a\tb",
		" \"a   b\"  ":   "\"a b\"",
		"x-amz-json-1.1": "x-amz-json-1.1",
	} {
		if got := trimAll(in); got != want {
			t.Errorf("trimAll(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzVerifySigV4(f *testing.F) {
	body := []byte(`{"a":"ü"}`)
	req, _ := http.NewRequest(http.MethodPost, "https://example.com/p?q=1", bytes.NewReader(body))
	signSDK(f, req, body, signOpts{})
	valid := req.Header.Get("Authorization")
	date := req.Header.Get("X-Amz-Date")

	f.Add(valid, date, "", "/p?q=1", "q=1", body)
	f.Add(valid, "", "Mon, 01 Jan 2024 00:00:00 GMT", "/", "", body)
	f.Add("", "", "", "/", "X-Amz-Algorithm=x", []byte(nil))
	f.Add("Bearer x", date, "", "/", "", []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz", date, "", "//../", "a&b=&=c", []byte("x"))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2/cloudtrail/aws4_request,SignedHeaders=;;host;;,Signature=", "20240101T000000Z", "", "/%zz", "%zz=%", []byte{})
	f.Add("AWS4-HMAC-SHA256 ===,,,  Credential==/==", "2024", "x", "", ";;;", []byte{0xff})

	f.Fuzz(func(t *testing.T, authz, amzDate, httpDate, requestURI, rawQuery string, body []byte) {
		r := &http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Path: "/p", RawQuery: rawQuery},
			Host:          "example.com",
			Header:        http.Header{},
			RequestURI:    requestURI,
			ContentLength: int64(len(body)),
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		if httpDate != "" {
			r.Header.Set("Date", httpDate)
		}
		cred, err := VerifySigV4(r, body, testServices, testLookup, signTime)
		if err == nil {
			if cred.AccessKeyID != testAKID || cred.Service != "cloudtrail" {
				t.Fatalf("accepted with credential %+v", cred)
			}
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
			t.Fatalf("error %v (%T) is not a complete *AuthError", err, err)
		}
	})
}
