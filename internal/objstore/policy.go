package objstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPolicy is a bucket policy cairn cannot accept.
var ErrInvalidPolicy = errors.New("invalid bucket policy")

// maxPolicyBytes is S3's limit on a bucket policy.
const maxPolicyBytes = 20 << 10

// policy is a parsed bucket policy: only what decides whether CloudTrail
// may put a log file, which is the one question cairn asks of it.
type policy struct {
	statements []statement
}

type statement struct {
	allow      bool
	principals principalSet
	actions    []string
	resources  []string
	conditions []condition
}

// principalSet is a statement's Principal: "*", or per kind ("AWS",
// "Service", ...) the names it lists.
type principalSet struct {
	any   bool
	names map[string][]string
}

type condition struct {
	op     string // as written, e.g. "StringLikeIfExists"
	key    string // lower-cased: condition keys are case-insensitive
	values []string
}

// delivery is the request a policy is asked about: CloudTrail putting a
// log file for a trail.
type delivery struct {
	account, trailARN, resource string
}

// context returns the value of a condition key for the delivery, as S3
// would see CloudTrail's request.
func (d delivery) context(key string) (string, bool) {
	switch key {
	case "aws:sourceaccount":
		return d.account, true
	case "aws:sourcearn":
		return d.trailARN, d.trailARN != ""
	case "s3:x-amz-acl":
		// CloudTrail always writes with this canned ACL; AWS's own policy
		// templates require it.
		return "bucket-owner-full-control", true
	}
	return "", false
}

// parsePolicy checks a bucket policy for the named bucket as strictly as
// S3 does the parts cairn evaluates, and refuses what it would evaluate
// differently from AWS (NotPrincipal, NotAction, NotResource).
func parsePolicy(bucket, doc string) (*policy, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, fmt.Sprintf(format, args...))
	}
	if len(doc) > maxPolicyBytes {
		return nil, bad("longer than %d bytes", maxPolicyBytes)
	}
	var top map[string]json.RawMessage
	if err := strictUnmarshal([]byte(doc), &top); err != nil {
		return nil, bad("not a JSON object: %v", err)
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, bad("unknown field %q", k)
		}
	}
	if v, ok := top["Version"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || (s != "2012-10-17" && s != "2008-10-17") {
			return nil, bad("Version must be 2012-10-17 or 2008-10-17")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, bad("missing Statement")
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, bad("Statement: %v", err)
		}
		stmts = append(stmts, one)
	} else if err := json.Unmarshal(raw, &stmts); err != nil {
		return nil, bad("Statement must be an object or a list of objects")
	}
	if len(stmts) == 0 {
		return nil, bad("Statement is empty")
	}
	p := &policy{}
	for i, m := range stmts {
		s, err := parseStatement(bucket, m)
		if err != nil {
			return nil, bad("statement %d: %v", i+1, err)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

func parseStatement(bucket string, m map[string]json.RawMessage) (statement, error) {
	var s statement
	for k := range m {
		switch k {
		case "Sid", "Effect", "Principal", "Action", "Resource", "Condition":
		case "NotPrincipal", "NotAction", "NotResource":
			return s, fmt.Errorf("%s is not supported", k)
		default:
			return s, fmt.Errorf("unknown field %q", k)
		}
	}
	var effect string
	if json.Unmarshal(m["Effect"], &effect) != nil || (effect != "Allow" && effect != "Deny") {
		return s, errors.New(`Effect must be "Allow" or "Deny"`)
	}
	s.allow = effect == "Allow"

	pr, ok := m["Principal"]
	if !ok {
		return s, errors.New("missing Principal")
	}
	var star string
	if json.Unmarshal(pr, &star) == nil {
		if star != "*" {
			return s, errors.New(`Principal must be "*" or an object`)
		}
		s.principals.any = true
	} else {
		var kinds map[string]json.RawMessage
		if err := json.Unmarshal(pr, &kinds); err != nil || len(kinds) == 0 {
			return s, errors.New(`Principal must be "*" or an object such as {"Service": "cloudtrail.amazonaws.com"}`)
		}
		s.principals.names = map[string][]string{}
		for kind, v := range kinds {
			switch kind {
			case "AWS", "Service", "Federated", "CanonicalUser":
			default:
				return s, fmt.Errorf("unknown principal type %q", kind)
			}
			names, err := stringList(v)
			if err != nil {
				return s, fmt.Errorf("Principal %s: %v", kind, err)
			}
			s.principals.names[kind] = names
		}
	}

	var err error
	if s.actions, err = stringList(m["Action"]); err != nil {
		return s, fmt.Errorf("Action: %v", err)
	}
	for _, a := range s.actions {
		if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
			return s, fmt.Errorf("action %q is not an S3 action", a)
		}
	}
	if s.resources, err = stringList(m["Resource"]); err != nil {
		return s, fmt.Errorf("Resource: %v", err)
	}
	arn := "arn:aws:s3:::" + bucket
	for _, r := range s.resources {
		if r != arn && !strings.HasPrefix(r, arn+"/") {
			return s, fmt.Errorf("resource %q is not bucket %s or its objects", r, bucket)
		}
	}

	if c, ok := m["Condition"]; ok {
		var ops map[string]map[string]json.RawMessage
		if err := json.Unmarshal(c, &ops); err != nil {
			return s, errors.New("Condition must map operators to objects of keys and values")
		}
		for op, keys := range ops {
			if len(keys) == 0 {
				return s, fmt.Errorf("condition %s has no keys", op)
			}
			for key, v := range keys {
				values, err := stringList(v)
				if err != nil {
					return s, fmt.Errorf("condition %s %s: %v", op, key, err)
				}
				s.conditions = append(s.conditions, condition{op: op, key: strings.ToLower(key), values: values})
			}
		}
	}
	return s, nil
}

// stringList reads a string or a non-empty list of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, errors.New("missing")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, errors.New("must be a string or a non-empty list of strings")
	}
	return list, nil
}

// strictUnmarshal refuses trailing data after the value, which
// json.Unmarshal already does, and a null document.
func strictUnmarshal(b []byte, v *map[string]json.RawMessage) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if *v == nil {
		return errors.New("null")
	}
	return nil
}

// decide says whether the policy allows the delivery and whether it
// denies it. A Deny whose conditions cairn cannot evaluate is taken to
// apply, and such an Allow not to: not knowing never grants access.
func (p *policy) decide(d delivery) (allow, deny bool) {
	if p == nil {
		return false, false
	}
	for _, s := range p.statements {
		if !s.matchAction() || !s.matchPrincipal(d.account) || !s.matchResource(d.resource) {
			continue
		}
		holds, known := s.conditionsHold(d)
		switch {
		case !s.allow && (holds || !known):
			deny = true
		case s.allow && holds && known:
			allow = true
		}
	}
	return allow, deny
}

func (s statement) matchAction() bool {
	for _, a := range s.actions {
		if glob(strings.ToLower(a), "s3:putobject") {
			return true
		}
	}
	return false
}

func (s statement) matchPrincipal(account string) bool {
	if s.principals.any {
		return true
	}
	for _, n := range s.principals.names["AWS"] {
		if n == "*" || n == account || n == "arn:aws:iam::"+account+":root" {
			return true
		}
	}
	for _, n := range s.principals.names["Service"] {
		if n == "cloudtrail.amazonaws.com" {
			return true
		}
	}
	return false
}

func (s statement) matchResource(resource string) bool {
	for _, r := range s.resources {
		if glob(r, resource) {
			return true
		}
	}
	return false
}

// conditionsHold evaluates every condition (they are ANDed); known is
// false when an operator is one cairn does not implement.
func (s statement) conditionsHold(d delivery) (holds, known bool) {
	holds = true
	for _, c := range s.conditions {
		h, k := c.eval(d)
		if !k {
			return false, false
		}
		holds = holds && h
	}
	return holds, true
}

func (c condition) eval(d delivery) (holds, known bool) {
	op, ifExists := strings.CutSuffix(c.op, "IfExists")
	v, present := d.context(c.key)
	if op == "Null" {
		if ifExists {
			return false, false
		}
		for _, want := range c.values {
			if want == boolString(!present) {
				return true, true
			}
		}
		return false, true
	}
	var match func(pattern, value string) bool
	negated := false
	switch op {
	case "StringEquals":
		match = func(p, v string) bool { return p == v }
	case "StringNotEquals":
		match, negated = func(p, v string) bool { return p == v }, true
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringNotEqualsIgnoreCase":
		match, negated = strings.EqualFold, true
	case "StringLike":
		match = glob
	case "StringNotLike":
		match, negated = glob, true
	case "ArnEquals", "ArnLike":
		match = arnLike
	case "ArnNotEquals", "ArnNotLike":
		match, negated = arnLike, true
	default:
		return false, false
	}
	if !present {
		// As in IAM: a missing key fails a positive test and passes a
		// negated one; IfExists passes either.
		return ifExists || negated, true
	}
	matched := false
	for _, p := range c.values {
		if match(p, v) {
			matched = true
			break
		}
	}
	return matched != negated, true
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// arnLike matches the six colon-separated parts of an ARN one by one, so
// that a wildcard never spans a colon except within the resource part.
func arnLike(pattern, arn string) bool {
	pp, ap := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// glob matches s against a pattern in which '*' stands for any run of
// characters and '?' for one.
func glob(pattern, s string) bool {
	p, v := []rune(pattern), []rune(s)
	pi, vi := 0, 0
	star, mark := -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
