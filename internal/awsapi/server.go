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
	// AdminOnly refuses the call to every key but the administrator
	// account's, before the handler runs.
	AdminOnly bool
	// MaxBody bounds the request body in bytes; 0 takes the server's
	// default. Only operations that take bulk input raise it.
	MaxBody int64
	// Redact names members of the request and of the response (at any
	// depth, by their wire names) that the call's audit record must not
	// show, and how each is hidden. Members that always hold secrets
	// (SecretAccessKey, SessionToken, Password, …) are hidden whatever
	// the operation says.
	Redact map[string]Redaction
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

// Typed adapts a handler that takes its request decoded: malformed bodies
// are answered with SerializationException before fn runs, the same way
// for every operation.
func Typed[Req any](fn func(ctx context.Context, c *Call, req *Req) (any, error)) func(ctx context.Context, c *Call) (any, error) {
	return func(ctx context.Context, c *Call) (any, error) {
		var req Req
		if err := c.Decode(&req); err != nil {
			return nil, err
		}
		return fn(ctx, c, &req)
	}
}

// Directory is what the server needs of accounts and keys.
type Directory interface {
	Principal(accessKeyID string) (auth.Principal, error)
}

// AccountHeader lets an administrator key act on another account.
const AccountHeader = "X-Cairn-Account-Id"

// DefaultMaxBody is the body bound of an operation that sets none: far
// above any CloudTrail request, far below what could hurt the server.
const DefaultMaxBody = 1 << 20

// Server serves AWS JSON 1.1 calls.
type Server struct {
	Services []*Service
	// Routes are the operations reached by "METHOD /path" rather than by
	// X-Amz-Target at /.
	Routes map[string]Route
	Dir    Directory
	// Audit receives each call's audit record as CloudTrail JSON. It must
	// not block for long.
	Audit func(record []byte)
	Log   *slog.Logger
	Now   func() time.Time
	// MaxBody bounds the body of an operation that sets no bound of its
	// own (see DefaultMaxBody).
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
	svc, opName, known := s.resolve(r.Header.Get("X-Amz-Target"))
	if routed {
		svc, opName, known = route.Service, route.Op, true
	}
	signing := []string{"cloudtrail"}
	if svc != nil {
		signing = []string{svc.SigningName}
	}
	authFail := func(err error) {
		var ae *AuthError
		if errors.As(err, &ae) {
			fail(&Error{Code: ae.Code, Message: ae.Message, Status: http.StatusBadRequest})
			return
		}
		s.Log.Error("verify signature", "err", err)
		fail(Internal())
	}
	// Everything the headers decide is checked before a byte of the body
	// is read, so an unauthenticated caller cannot make the server buffer
	// anything.
	sig, err := PrepareSigV4(r, signing, s.secret, start)
	if err != nil {
		authFail(err)
		return
	}
	// The account header changes what the call acts on, so it must be
	// signed: otherwise anyone who captured an administrator's request
	// could replay it against another account.
	if r.Header.Get(AccountHeader) != "" && !sig.Signs(AccountHeader) {
		fail(&Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf("'%s' must be a 'SignedHeader' in the AWS Authorization.", AccountHeader), Status: http.StatusBadRequest})
		return
	}
	limit := s.MaxBody
	if known && svc.Ops[opName].MaxBody > 0 {
		limit = svc.Ops[opName].MaxBody
	}
	body, e := readBody(r, limit)
	if e != nil {
		fail(e)
		return
	}
	cred, err := sig.Verify(body)
	if err != nil {
		authFail(err)
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
	if err == nil && spec.AdminOnly && !c.Principal.Admin {
		err = Errorf(CodeAccessDenied, "User: %s is not authorized to perform: %s. Only the administrator account's keys may.", c.Principal.ARN(), c.Operation)
	}
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

// readBody reads a request body of at most limit bytes. A declared length
// over the limit is refused before anything is read.
func readBody(r *http.Request, limit int64) ([]byte, *Error) {
	tooLarge := &Error{Code: CodeRequestTooLarge, Message: fmt.Sprintf("Request body is larger than %d bytes.", limit), Status: http.StatusRequestEntityTooLarge}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, Errorf(CodeSerialization, "Could not read the request body.")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	return body, nil
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
