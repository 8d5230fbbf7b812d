package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/event"
)

// Credential is what a verified request proves about its signer.
type Credential struct {
	AccessKeyID   string
	Date          string // yyyymmdd from the credential scope
	Region        string // region in the credential scope: the caller's region
	Service       string // service in the scope
	SecurityToken string // X-Amz-Security-Token if sent (accepted, not checked here)
}

// SecretLookup returns the secret for an access key id, or ErrUnknownAccessKey.
// Any other error is treated as an internal failure and returned unchanged
// (wrapped) by VerifySigV4, so that a store outage is not reported to clients
// as a bad key.
type SecretLookup func(accessKeyID string) (secret string, err error)

// ErrUnknownAccessKey is returned by a SecretLookup for an access key id it
// does not know.
var ErrUnknownAccessKey = errors.New("unknown access key")

// AuthError is a SigV4 failure with the AWS error code and message the client should see.
//
// The codes are those of AWS JSON-protocol services:
// MissingAuthenticationTokenException, IncompleteSignatureException,
// UnrecognizedClientException and InvalidSignatureException. AWS answers all
// of them with HTTP 400 on JSON services such as CloudTrail (the query
// protocol uses 403 for some); the status is left to the caller.
type AuthError struct{ Code, Message string }

// Error returns the code and the message, in the form "Code: Message".
func (e *AuthError) Error() string { return e.Code + ": " + e.Message }

const (
	msgMissingToken       = "Missing Authentication Token"
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgPayloadHashMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."

	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	scopeTerminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"
	maxClockSkew    = 15 * time.Minute

	// maxEchoLen bounds how much of a client-supplied Authorization header
	// is reflected back in an error message; AWS echoes it, and a legitimate
	// header is far shorter than this.
	maxEchoLen = 1024
)

// authErr builds an AuthError. Fixed messages bypass Sprintf so that they
// can never be misread as format strings.
func authErr(code, format string, args ...any) *AuthError {
	if len(args) == 0 {
		return &AuthError{Code: code, Message: format}
	}
	return &AuthError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// VerifySigV4 checks the Authorization header of r against body (the full
// request body, already read), for the given expected service names (e.g.
// "cloudtrail"; any of them accepted), at time now with AWS's 15-minute
// allowed skew.
//
// lookup must not be nil. A rejected request yields an *AuthError carrying
// the code and message AWS would send. Any other error comes from lookup and
// means the request could not be judged at all.
//
// Only the Authorization header form of SigV4 is supported. A request that
// carries presigned query-string authentication (X-Amz-Algorithm and friends
// in the URL) instead of the header is refused with
// IncompleteSignatureException rather than MissingAuthenticationToken, so the
// client learns why its signature was ignored.
//
// The region in the credential scope is not checked against anything but its
// syntax: a self-hosted service answers for every region, and the caller's
// region is reported in the returned Credential. An empty services list
// accepts no service at all.
func VerifySigV4(r *http.Request, body []byte, services []string, lookup SecretLookup, now time.Time) (Credential, error) {
	pre, err := PrepareSigV4(r, services, lookup, now)
	if err != nil {
		return Credential{}, err
	}
	return pre.Verify(body)
}

// Signature is a request whose SigV4 headers have been checked (the
// Authorization header's form, the credential scope, the date and its
// skew, and that the access key exists) but whose signature has not: that
// needs the body. It lets a server refuse a request before reading a byte
// of its body.
type Signature struct {
	r       *http.Request
	params  authParams
	scope   credentialScope
	signed  []string
	isoTime string
	secret  string
}

// PrepareSigV4 checks everything of r's signature that the headers alone
// decide, in the order and with the errors of VerifySigV4; Verify then
// checks the signature over the body.
func PrepareSigV4(r *http.Request, services []string, lookup SecretLookup, now time.Time) (*Signature, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 || strings.TrimSpace(authz[0]) == "" {
		if hasPresignParams(r) {
			return nil, authErr(CodeIncompleteSignature,
				"Query-string (presigned URL) authentication is not supported by this service; "+
					"sign the request with an Authorization header.")
		}
		return nil, authErr(CodeMissingAuthenticationToken, msgMissingToken)
	}
	if len(authz) > 1 {
		// Two headers would leave it ambiguous which one was verified.
		return nil, authErr(CodeIncompleteSignature, "Only one Authorization header may be sent.")
	}
	header := authz[0]

	amzDate := strings.TrimSpace(r.Header.Get("X-Amz-Date"))
	httpDate := strings.TrimSpace(r.Header.Get("Date"))

	params, aerr := parseAuthorization(header, amzDate != "" || httpDate != "")
	if aerr != nil {
		return nil, aerr
	}

	scope, aerr := parseScope(params.credential, services)
	if aerr != nil {
		return nil, aerr
	}

	signed := strings.Split(strings.ToLower(params.signedHeaders), ";")
	if !slices.Contains(signed, "host") {
		return nil, authErr(CodeIncompleteSignature,
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	// X-Amz-Date wins over Date because clients that cannot control Date
	// (browsers, some HTTP stacks) are told by AWS to use X-Amz-Date.
	var reqTime time.Time
	rawDate := amzDate
	if amzDate != "" {
		if !slices.Contains(signed, "x-amz-date") {
			return nil, authErr(CodeIncompleteSignature,
				"'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		t, err := time.Parse(amzDateLayout, amzDate)
		if err != nil || len(amzDate) != len(amzDateLayout) {
			return nil, authErr(CodeIncompleteSignature,
				"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate)
		}
		reqTime = t
	} else {
		rawDate = httpDate
		if !slices.Contains(signed, "date") {
			return nil, authErr(CodeIncompleteSignature,
				"'Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
		t, err := http.ParseTime(httpDate)
		if err != nil {
			return nil, authErr(CodeIncompleteSignature,
				"Date header must be an HTTP date such as 'Mon, 02 Jan 2006 15:04:05 GMT'. Got '%s'.", httpDate)
		}
		reqTime = t.UTC()
	}
	isoTime := reqTime.Format(amzDateLayout)

	if scope.date != isoTime[:8] {
		return nil, authErr(CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			scope.date, isoTime[:8], rawDate)
	}

	// Whole seconds, so the bounds printed in the message are the bounds
	// actually applied.
	now = now.UTC().Truncate(time.Second)
	if earliest := now.Add(-maxClockSkew); reqTime.Before(earliest) {
		return nil, authErr(CodeInvalidSignature,
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			isoTime, earliest.Format(amzDateLayout), now.Format(amzDateLayout))
	}
	if latest := now.Add(maxClockSkew); reqTime.After(latest) {
		return nil, authErr(CodeInvalidSignature,
			"Signature not yet current: %s is still later than %s (%s + 15 min.)",
			isoTime, latest.Format(amzDateLayout), now.Format(amzDateLayout))
	}

	// The time checks come before the lookup so that stale or replayed
	// requests never reach the key store.
	if scope.accessKeyID == "" {
		return nil, authErr(CodeUnrecognizedClient, msgUnrecognizedClient)
	}
	secret, err := lookup(scope.accessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return nil, authErr(CodeUnrecognizedClient, msgUnrecognizedClient)
	}
	if err != nil {
		return nil, fmt.Errorf("awsapi: looking up access key: %w", err)
	}
	return &Signature{r: r, params: params, scope: scope, signed: signed, isoTime: isoTime, secret: secret}, nil
}

// AccessKeyID is the access key the request names.
func (s *Signature) AccessKeyID() string { return s.scope.accessKeyID }

// Signs reports whether the header name (any case) is among the request's
// SignedHeaders: a header outside them can be added by anyone who
// captured the request.
func (s *Signature) Signs(header string) bool {
	return slices.Contains(s.signed, strings.ToLower(header))
}

// Verify checks the signature over body, the whole request body.
func (s *Signature) Verify(body []byte) (Credential, error) {
	r, params, scope, signed, isoTime, secret := s.r, s.params, s.scope, s.signed, s.isoTime, s.secret
	// Our services act on the body, so it must be covered by the signature:
	// the hash is always computed here, and a client-declared hash (including
	// UNSIGNED-PAYLOAD) is only accepted if it is that same hash.
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if declared := r.Header.Values("X-Amz-Content-Sha256"); len(declared) > 0 {
		if len(declared) > 1 || strings.TrimSpace(declared[0]) != payloadHash {
			return Credential{}, authErr(CodeInvalidSignature, msgPayloadHashMismatch)
		}
	}

	provided, err := hex.DecodeString(params.signature)
	if err != nil || len(provided) != sha256.Size {
		return Credential{}, authErr(CodeInvalidSignature, msgSignatureMismatch)
	}

	key := signingKey(secret, scope.date, scope.region, scope.service)
	stsPrefix := sigV4Algorithm + "\n" + isoTime + "\n" + scope.String() + "\n"
	query := ""
	if r.URL != nil {
		query = canonicalQuery(r.URL.RawQuery)
	}
	headers, signedList := canonicalHeaders(r, signed)
	ok := false
	for _, uri := range canonicalURIs(r) {
		creq := strings.Join([]string{r.Method, uri, query, headers, signedList, payloadHash}, "\n")
		h := sha256.Sum256([]byte(creq))
		mac := hmacSHA256(key, []byte(stsPrefix+hex.EncodeToString(h[:])))
		// Every candidate is computed and compared in constant time, so the
		// response time does not reveal which candidate came closest.
		if hmac.Equal(mac, provided) {
			ok = true
		}
	}
	if !ok {
		return Credential{}, authErr(CodeInvalidSignature, msgSignatureMismatch)
	}

	return Credential{
		AccessKeyID:   scope.accessKeyID,
		Date:          scope.date,
		Region:        scope.region,
		Service:       scope.service,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
	}, nil
}

// hasPresignParams reports whether r attempts query-string authentication.
func hasPresignParams(r *http.Request) bool {
	if r.URL == nil || r.URL.RawQuery == "" {
		return false
	}
	q := r.URL.Query()
	return q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")
}

type authParams struct {
	credential, signedHeaders, signature string
}

// parseAuthorization splits an Authorization header into its SigV4
// parameters. haveDate says whether the request has a usable date header,
// because AWS reports a missing date together with missing parameters.
func parseAuthorization(header string, haveDate bool) (authParams, *AuthError) {
	// AWS separates parameters by commas and by whitespace alike, which is
	// why "Credential= AKID/..." is reported as a pair missing its '='.
	tokens := strings.FieldsFunc(header, func(c rune) bool {
		return c == ',' || c == ' ' || c == '\t'
	})
	echo := header
	if len(echo) > maxEchoLen {
		echo = echo[:maxEchoLen] + "..."
	}

	var p authParams
	var seen [3]bool
	if len(tokens) > 0 && tokens[0] == sigV4Algorithm {
		for _, tok := range tokens[1:] {
			name, value, found := strings.Cut(tok, "=")
			if !found {
				return p, authErr(CodeIncompleteSignature,
					"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", tok, echo)
			}
			var dst *string
			var idx int
			switch name {
			case "Credential":
				dst, idx = &p.credential, 0
			case "Signature":
				dst, idx = &p.signature, 1
			case "SignedHeaders":
				dst, idx = &p.signedHeaders, 2
			default:
				// Unknown parameters are ignored, as they cannot change
				// what the signature covers.
				continue
			}
			if seen[idx] {
				return p, authErr(CodeIncompleteSignature,
					"Authorization header has more than one '%s' parameter. Authorization=%s", name, echo)
			}
			seen[idx] = true
			*dst = value
		}
	} else if len(tokens) > 0 && strings.HasPrefix(tokens[0], "AWS4-") && !strings.Contains(tokens[0], "=") {
		// SigV4a and other AWS schemes are recognisably AWS, so name the
		// problem instead of listing every missing parameter.
		return p, authErr(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", tokens[0])
	}
	// Anything else (a bearer token, SigV2, garbage) has none of the
	// parameters, and AWS then lists everything that is missing.

	var missing []string
	for i, name := range [3]string{"Credential", "Signature", "SignedHeaders"} {
		if !seen[i] {
			missing = append(missing, "Authorization header requires '"+name+"' parameter.")
		}
	}
	if !haveDate {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return p, authErr(CodeIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), echo)
	}
	return p, nil
}

// credentialScope is the parsed Credential parameter.
type credentialScope struct {
	accessKeyID, date, region, service string
}

// String returns the scope as it appears in the string to sign.
func (s credentialScope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminator
}

func parseScope(credential string, services []string) (credentialScope, *AuthError) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 {
		return credentialScope{}, authErr(CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
			credential)
	}
	s := credentialScope{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if !validRegion(s.region) {
		return s, authErr(CodeIncompleteSignature, "Credential should be scoped to a valid region, not '%s'.", s.region)
	}
	if !slices.Contains(services, s.service) {
		want := ""
		if len(services) > 0 {
			want = services[0]
		}
		return s, authErr(CodeIncompleteSignature, "Credential should be scoped to correct service: '%s'.", want)
	}
	if parts[4] != scopeTerminator {
		return s, authErr(CodeIncompleteSignature,
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, parts[4])
	}
	// The date part is checked against the request time later, where AWS
	// reports it as an InvalidSignatureException.
	return s, nil
}

// validRegion accepts the shape of AWS region names (us-west-2,
// us-gov-east-1, cn-north-1) and of the short names people give local
// deployments, while rejecting anything that could not be a region. It is
// the rule records are held to, so that every call's audit record is one
// cairn can file.
func validRegion(region string) bool { return event.ValidRegion(region) }

// canonicalURIs returns the canonical URI the client most likely signed, and
// a second candidate when the two known client behaviours differ.
//
// The path is taken as it came over the wire: RequestURI when the request
// came from a server, which also survives http.StripPrefix and similar
// rewrites of r.URL; EscapedPath otherwise. It is then URI-encoded once more,
// because for every service but S3 the SigV4 canonical URI is the encoding
// of the already-encoded path.
//
// AWS (and botocore) remove dot segments and empty segments before encoding;
// the Go SDK signs the path exactly as it is. Both forms are tried when they
// differ, which is safe: each names the same resource.
func canonicalURIs(r *http.Request) []string {
	raw := ""
	if strings.HasPrefix(r.RequestURI, "/") {
		raw, _, _ = strings.Cut(r.RequestURI, "?")
	} else if r.URL != nil {
		raw = r.URL.EscapedPath()
	}
	if raw == "" {
		raw = "/"
	}
	normalized := uriEncode(normalizePath(raw), true)
	exact := uriEncode(raw, true)
	if exact == normalized {
		return []string{normalized}
	}
	return []string{normalized, exact}
}

// normalizePath removes "." and ".." segments and collapses repeated
// slashes, keeping a trailing slash, the way AWS does before signing.
// It works on the escaped path, so an encoded "%2E%2E" or "%2F" is an
// ordinary segment character, not structure.
func normalizePath(p string) string {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		res += "/"
	}
	return res
}

// canonicalQuery builds the SigV4 canonical query string from a raw query.
//
// Pairs are decoded and re-encoded rather than used as sent, so that clients
// that send "+" for a space or lowercase percent escapes still match. Pairs
// that net/url would drop (a raw ';', an invalid escape) are dropped here
// too: the Go SDK signs url.URL.Query(), and handlers read the same view, so
// such pairs are neither signed nor seen.
func canonicalQuery(rawQuery string) string {
	type pair struct{ k, v string }
	var pairs []pair
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		if part == "" || strings.Contains(part, ";") {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k, false), uriEncode(v, false)})
	}
	// SigV4 sorts after encoding, by name and then by value.
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// canonicalHeaders returns the canonical headers block (each line ending in
// a newline) and the signed-headers line, for the header names the client
// declared, in the order it declared them.
func canonicalHeaders(r *http.Request, signed []string) (block, list string) {
	var b strings.Builder
	for _, name := range signed {
		var values []string
		switch name {
		case "host":
			// net/http moves Host out of r.Header.
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			values = []string{host}
		case "content-length":
			// net/http keeps the length in r.ContentLength; r.Header has it
			// only on the server side, and only when it was sent.
			if r.ContentLength > 0 {
				values = []string{strconv.FormatInt(r.ContentLength, 10)}
			} else {
				values = r.Header.Values("Content-Length")
			}
		case "transfer-encoding":
			values = r.Header.Values("Transfer-Encoding")
			if len(values) == 0 {
				// The server deletes the header once it has decoded it.
				values = r.TransferEncoding
			}
		default:
			values = r.Header.Values(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(signed, ";")
}

// trimAll trims surrounding whitespace and collapses each run of spaces into
// one, the "Trimall" of the SigV4 specification.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}

// uriEncode percent-encodes every byte outside the RFC 3986 unreserved set,
// with uppercase hex, optionally leaving '/' alone. Unlike url.PathEscape and
// url.QueryEscape it escapes exactly what SigV4 expects: '+', '*', ':', '@'
// and friends are escaped, '~' is not, and a space is "%20".
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && keepSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

// signingKey derives the per-day, per-region, per-service key, so that the
// secret itself is never used to sign.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(scopeTerminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
