// Package awsapi speaks the AWS JSON 1.1 protocol: it authenticates calls
// with SigV4, routes them by X-Amz-Target to operations, writes results and
// errors in AWS's shape, and records every call it serves as a CloudTrail
// management event of the caller's account and region.
//
// Operations belong to the packages of their capabilities; this package
// knows none of them.
package awsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/event"
)

// Op is one operation.
type Op struct {
	// ReadOnly is the readOnly value of the call's audit event; read-only
	// calls record responseElements as null, as CloudTrail does.
	ReadOnly bool
	// Data records the call as a data event rather than a management
	// event (as CloudTrail does for PutAuditEvents), keeping bulk ingest
	// out of Event history.
	Data bool
	// Handle runs the call and returns the value to write as the body.
	Handle func(ctx context.Context, c *Call) (any, error)
}

// Service is a set of operations behind one X-Amz-Target prefix.
type Service struct {
	// Targets are the accepted prefixes, e.g. the long and the short form
	// of CloudTrail's.
	Targets []string
	// SigningName is the SigV4 service name the scope must carry.
	SigningName string
	// EventSource is the eventSource of the service's audit events.
	EventSource string
	Ops         map[string]Op
}

// Route is an operation reached by its method and path, as services of
// the rest-json protocol are (PutAuditEvents is POST /PutAuditEvents).
type Route struct {
	Service *Service
	Op      string
}

// Call is one authenticated call, as a handler sees it.
type Call struct {
	RequestID string
	Operation string
	// Query is the URL's query, for an operation reached by a Route.
	Query     url.Values
	Principal auth.Principal
	AccountID string // the account the call acts on
	Region    string
	Body      []byte
	SourceIP  string
	UserAgent string
	Time      time.Time
}

// Decode reads the call's JSON body into v, answering malformed input with
// SerializationException.
func (c *Call) Decode(v any) error {
	body := bytes.TrimSpace(c.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Errorf(CodeSerialization, "Unexpected value for member %s: expected %s.", te.Field, te.Type)
		}
		if body[0] != '{' {
			return Errorf(CodeSerialization, "Start of structure or map expected: the request body must be a JSON object.")
		}
		return Errorf(CodeSerialization, "The request body is not valid JSON: %v.", err)
	}
	return nil
}

// Directory is what the server needs of accounts and keys.
type Directory interface {
	Principal(accessKeyID string) (auth.Principal, error)
}

// AccountHeader lets an administrator key act on another account.
const AccountHeader = "X-Cairn-Account-Id"

// Server serves AWS JSON 1.1 calls.
type Server struct {
	Services []*Service
	// Routes are the operations reached by "METHOD /path" rather than by
	// X-Amz-Target at /.
	Routes map[string]Route
	Dir    Directory
	// Audit receives each call's audit record as CloudTrail JSON. It must
	// not block for long.
	Audit   func(record []byte)
	Log     *slog.Logger
	Now     func() time.Time
	MaxBody int64
	// Observe, if set, is told of every call's outcome, for metrics.
	Observe func(op, code string, d time.Duration)
}

func (s *Server) resolve(target string) (*Service, string, bool) {
	i := strings.LastIndexByte(target, '.')
	if i < 0 {
		return nil, "", false
	}
	prefix, op := target[:i], target[i+1:]
	for _, svc := range s.Services {
		for _, t := range svc.Targets {
			if t == prefix {
				_, ok := svc.Ops[op]
				return svc, op, ok
			}
		}
	}
	return nil, "", false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	op, code := "", ""
	defer func() {
		if s.Observe != nil {
			s.Observe(op, code, s.Now().Sub(start))
		}
	}()
	fail := func(e *Error) {
		code = e.Code
		writeError(w, e)
	}
	route, routed := s.Routes[r.Method+" "+r.URL.Path]
	if !routed && r.Method != http.MethodPost {
		fail(&Error{Code: CodeUnknownOperation, Message: "Only POST requests are accepted.", Status: http.StatusMethodNotAllowed})
		return
	}
	if !routed && r.URL.Path != "/" && r.URL.Path != "" {
		fail(&Error{Code: CodeUnknownOperation, Message: fmt.Sprintf("No operation at %s %s.", r.Method, r.URL.Path), Status: http.StatusNotFound})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.MaxBody+1))
	if err != nil {
		fail(Errorf(CodeSerialization, "Could not read the request body: %v", err))
		return
	}
	if int64(len(body)) > s.MaxBody {
		fail(&Error{Code: CodeRequestTooLarge, Message: fmt.Sprintf("Request body is larger than %d bytes.", s.MaxBody), Status: http.StatusRequestEntityTooLarge})
		return
	}
	svc, opName, known := s.resolve(r.Header.Get("X-Amz-Target"))
	if routed {
		svc, opName, known = route.Service, route.Op, true
	}
	signing := []string{"cloudtrail"}
	if svc != nil {
		signing = []string{svc.SigningName}
	}
	cred, err := VerifySigV4(r, body, signing, s.secret, start)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			fail(&Error{Code: ae.Code, Message: ae.Message, Status: http.StatusBadRequest})
			return
		}
		s.Log.Error("verify signature", "err", err)
		fail(Internal())
		return
	}
	if !known {
		fail(Errorf(CodeUnknownOperation, "Operation %q is not supported by this service.", r.Header.Get("X-Amz-Target")))
		return
	}
	op = opName
	p, err := s.Dir.Principal(cred.AccessKeyID)
	if err != nil {
		fail(Errorf(CodeUnrecognizedClient, "The security token included in the request is invalid."))
		return
	}
	c := &Call{
		RequestID: reqID,
		Operation: opName,
		Principal: p,
		AccountID: p.Key.AccountID,
		Region:    cred.Region,
		Body:      body,
		SourceIP:  sourceIP(r),
		UserAgent: r.UserAgent(),
		Time:      start,
	}
	if routed {
		c.Query = r.URL.Query()
	}
	spec := svc.Ops[opName]
	var result any
	// A refused call is still recorded, in the caller's own account.
	err = s.actOn(c, r.Header.Get(AccountHeader))
	if err == nil {
		result, err = s.run(r.Context(), spec, c)
	}
	var apiErr *Error
	if err != nil {
		if !errors.As(err, &apiErr) {
			s.Log.Error("operation failed", "op", opName, "request_id", reqID, "err", err)
			apiErr = Internal()
		}
		fail(apiErr)
	} else {
		code = "OK"
		writeJSON(w, http.StatusOK, result)
	}
	if s.Audit != nil {
		s.Audit(auditRecord(svc, spec, c, r, result, apiErr))
	}
}

// actOn switches the call to the account named by the X-Cairn-Account-Id
// header, which only an administrator key may do.
func (s *Server) actOn(c *Call, acct string) error {
	if acct == "" || acct == c.AccountID {
		return nil
	}
	if !c.Principal.Admin {
		return Errorf(CodeAccessDenied, "User: %s is not authorized to act on account %s.", c.Principal.ARN(), acct)
	}
	// Events may arrive for accounts that were never created (an ingested
	// archive), so any well-formed account ID will do.
	if !event.ValidAccountID(acct) {
		return Errorf(CodeValidation, "%s %q is not a 12-digit account ID.", AccountHeader, acct)
	}
	c.AccountID = acct
	return nil
}

func (s *Server) run(ctx context.Context, spec Op, c *Call) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	result, err = spec.Handle(ctx, c)
	if err == nil && result == nil {
		result = struct{}{}
	}
	return result, err
}

func (s *Server) secret(accessKeyID string) (string, error) {
	p, err := s.Dir.Principal(accessKeyID)
	if err != nil {
		return "", ErrUnknownAccessKey
	}
	return p.Key.SecretAccessKey, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, Internal())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	w.Write(b)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// auditRecord builds the CloudTrail record of a served call.
func auditRecord(svc *Service, spec Op, c *Call, r *http.Request, result any, apiErr *Error) []byte {
	rec := event.Record{
		EventVersion: "1.11",
		UserIdentity: &event.UserIdentity{
			Type:        c.Principal.Type(),
			PrincipalID: c.Principal.PrincipalID(),
			ARN:         c.Principal.ARN(),
			AccountID:   c.Principal.Key.AccountID,
			AccessKeyID: c.Principal.Key.AccessKeyID,
			UserName:    c.Principal.Key.UserName,
		},
		EventTime:          c.Time.UTC().Format(event.TimeFormat),
		EventSource:        svc.EventSource,
		EventName:          c.Operation,
		AWSRegion:          c.Region,
		SourceIPAddress:    c.SourceIP,
		UserAgent:          truncate(c.UserAgent, 1024),
		RequestParameters:  requestParameters(c),
		RequestID:          c.RequestID,
		EventID:            newRequestID(),
		ReadOnly:           flex(spec.ReadOnly),
		EventType:          "AwsApiCall",
		ManagementEvent:    flex(!spec.Data),
		RecipientAccountID: c.AccountID,
		EventCategory:      "Management",
	}
	if spec.Data {
		rec.EventCategory = "Data"
	}
	if apiErr != nil {
		rec.ErrorCode = apiErr.Code
		rec.ErrorMessage = truncate(apiErr.Message, 1024)
	}
	rec.ResponseElements = json.RawMessage("null")
	if apiErr == nil && !spec.ReadOnly && result != nil {
		if b, err := json.Marshal(result); err == nil {
			rec.ResponseElements = lowerCamelJSON(b)
		}
	}
	if r.TLS != nil {
		rec.TLSDetails = &event.TLSDetails{
			TLSVersion:               tlsVersionName(r.TLS.Version),
			CipherSuite:              tls.CipherSuiteName(r.TLS.CipherSuite),
			ClientProvidedHostHeader: r.Host,
		}
	}
	b, _ := json.Marshal(rec)
	return b
}

// requestParameters is what a call's record shows of its request: the
// JSON body, or for a routed call its query (a body of events to ingest
// is the events themselves, not parameters).
func requestParameters(c *Call) json.RawMessage {
	if c.Query == nil {
		return lowerCamelJSON(c.Body)
	}
	m := map[string]string{}
	for k, v := range c.Query {
		if len(v) > 0 {
			m[k] = truncate(v[0], 1024)
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func flex(b bool) *event.FlexBool {
	v := event.FlexBool(b)
	return &v
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	}
	return "TLSv1"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// requestParametersLimit is CloudTrail's limit: larger parameters are omitted.
const requestParametersLimit = 100 * 1024

// lowerCamelJSON rewrites a JSON body the way CloudTrail records request
// parameters and response elements of its own API: member names start with
// a lower-case letter (S3BucketName → s3BucketName). Anything that is not a
// JSON object, or too large, is recorded as null.
func lowerCamelJSON(b []byte) json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || len(b) > requestParametersLimit {
		return json.RawMessage("null")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return json.RawMessage("null")
	}
	out, err := json.Marshal(lowerKeys(v))
	if err != nil {
		return json.RawMessage("null")
	}
	if string(out) == "{}" {
		return json.RawMessage("null")
	}
	return out
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[lowerFirst(k)] = lowerKeys(val)
		}
		return m
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
		return x
	}
	return v
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}
