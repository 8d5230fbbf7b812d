package awsapi

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cairn-audit/cairn/internal/event"
)

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
		RequestParameters:  requestParameters(c, spec.Redact),
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
			rec.ResponseElements = lowerCamelJSON(b, spec.Redact)
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
func requestParameters(c *Call, redact map[string]Redaction) json.RawMessage {
	if c.Query == nil {
		return lowerCamelJSON(c.Body, redact)
	}
	m := map[string]any{}
	for k, v := range c.Query {
		if len(v) > 0 {
			m[k] = hide(k, truncate(v[0], 1024), redact)
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
func lowerCamelJSON(b []byte, redact map[string]Redaction) json.RawMessage {
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
	out, err := json.Marshal(lowerKeys(v, redact))
	if err != nil {
		return json.RawMessage("null")
	}
	if string(out) == "{}" {
		return json.RawMessage("null")
	}
	return out
}

func lowerKeys(v any, redact map[string]Redaction) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[lowerFirst(k)] = hide(k, lowerKeys(val, redact), redact)
		}
		return m
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i], redact)
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

// Redaction is how an audit record hides a member's value.
type Redaction int

const (
	// HideValue replaces the whole value.
	HideValue Redaction = iota + 1
	// HideURLSecrets keeps a URL's scheme and host and hides its user
	// information, path and query, where webhook services keep their
	// tokens (a Slack webhook's path is its credential).
	HideURLSecrets
)

// Hidden is what an audit record shows in place of a secret, as
// CloudTrail does.
const Hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// alwaysHidden are member names whose values are secrets in any
// operation of any service.
var alwaysHidden = []string{"SecretAccessKey", "SessionToken", "SecurityToken", "Password", "PrivateKey", "ClientSecret"}

// hide returns what the audit record shows of member name's value v.
// Names match as the request's decoder matches them (encoding/json folds
// case, Unicode's simple folding included): any spelling a handler takes
// for a member is hidden as that member is.
func hide(name string, v any, redact map[string]Redaction) any {
	var how Redaction
	for member, h := range redact {
		if strings.EqualFold(member, name) {
			how = h
		}
	}
	for _, secret := range alwaysHidden {
		if strings.EqualFold(secret, name) {
			how = HideValue
		}
	}
	switch how {
	case HideValue:
		return Hidden
	case HideURLSecrets:
		s, ok := v.(string)
		if !ok {
			return Hidden
		}
		return redactURL(s)
	}
	return v
}

// redactURL keeps what a URL says of where it points and nothing of the
// credentials it may carry.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return Hidden
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/" + Hidden
	}
	return out
}
