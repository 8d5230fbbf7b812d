package selector

import (
	"slices"
	"sort"
	"strings"
)

// Event is what matching sees of one event. Category, ReadOnly,
// EventSource and EventName come from the ingest envelope; the rest is
// detail that FillDetail reads from the record, needed only when the
// Matcher's NeedsDetail says so.
type Event struct {
	// Category is eventCategory: Management, Data, NetworkActivity,
	// Insight, or one of Lake's ConfigurationItem, Evidence and
	// ActivityAuditLog. Empty reads as Management, what records older
	// than the field are unless shown otherwise.
	Category    string
	ReadOnly    bool
	EventSource string
	EventName   string

	// Detail, from FillDetail.
	EventType       string
	ErrorCode       string
	UserIdentityARN string
	VpcEndpointID   string
	// SessionCredentialFromConsole is "true", "false", or empty when the
	// record has no such field, which matching reads as "false": CloudTrail
	// writes the field only when it is true.
	SessionCredentialFromConsole string
	// Resources are the record's resources list.
	Resources []Resource
}

// Resource is one element of a record's resources list.
type Resource struct {
	Type string
	ARN  string
}

const (
	s3Object = "AWS::S3::Object"
	s3Bucket = "AWS::S3::Bucket"
)

// Matcher decides which events a trail or event data store logs. It is
// immutable and safe for concurrent use.
type Matcher struct {
	basic    []basicRule
	advanced []advancedRule
	detail   bool
}

type basicRule struct {
	management    bool
	reads, writes bool
	exclude       []string
	data          []dataRule
}

type dataRule struct {
	typ    string
	values []dataValue
}

// dataValue is one DataResources value. Values that select every resource
// of a type, and S3 values, match as ARN prefixes. Lambda and DynamoDB ARNs
// are exact (AWS: helloworld does not select helloworld2), but still admit
// what hangs below them after sep: a function's version or alias, a
// table's index or stream.
type dataValue struct {
	v   string
	sep byte // 0: prefix match
}

type advancedRule struct {
	conds []cond
	never bool // names a field cairn cannot read
}

type cond struct {
	f     field
	ops   [numOps][]string
	scope []string // resources.ARN: the resources.type values it applies to
}

// Compile builds the matcher for a trail's or store's selectors. Advanced
// selectors win when both are given: PutEventSelectors keeps only the kind
// it was last given, so both can only come from a caller's mistake. No
// selectors at all mean Default().
//
// Compile does not validate, and selectors that ValidateBasic or
// ValidateAdvanced would refuse still compile: an unknown ReadWriteType
// reads as All, and an advanced selector naming a field cairn cannot read
// matches nothing rather than everything.
func Compile(basic []EventSelector, advanced []AdvancedEventSelector) *Matcher {
	m := &Matcher{}
	if len(advanced) > 0 {
		for i := range advanced {
			r := compileAdvanced(&advanced[i])
			for _, c := range r.conds {
				if detailFields.has(c.f) {
					m.detail = true
				}
			}
			m.advanced = append(m.advanced, r)
		}
		return m
	}
	if len(basic) == 0 {
		basic = Default()
	}
	for _, s := range basic {
		r := basicRule{
			management: s.IncludeManagementEvents == nil || *s.IncludeManagementEvents,
			reads:      s.ReadWriteType != WriteOnly,
			writes:     s.ReadWriteType != ReadOnly,
			exclude:    append([]string(nil), s.ExcludeManagementEventSources...),
		}
		for _, d := range s.DataResources {
			dr := dataRule{typ: d.Type}
			kind, known := basicKinds[d.Type]
			for _, v := range d.Values {
				dv := dataValue{v: v}
				if known && !kind.everything.MatchString(v) {
					switch d.Type {
					case "AWS::Lambda::Function":
						dv.sep = ':'
					case "AWS::DynamoDB::Table":
						dv.sep = '/'
					}
				}
				dr.values = append(dr.values, dv)
			}
			r.data = append(r.data, dr)
			m.detail = true
		}
		m.basic = append(m.basic, r)
	}
	return m
}

// detailFields are the fields that FillDetail supplies.
var detailFields = setOf(fieldEventType, fieldErrorCode, fieldUserIdentityARN, fieldVpcEndpointID,
	fieldSessionCredentialFromConsole, fieldResourcesType, fieldResourcesARN)

func compileAdvanced(s *AdvancedEventSelector) advancedRule {
	var r advancedRule
	var scope []string
	for i := range s.FieldSelectors {
		fs := &s.FieldSelectors[i]
		f, ok := lookupField(fs.Field)
		if !ok {
			r.never = true
			continue
		}
		c := cond{f: f}
		for o, vals := range fs.operands() {
			c.ops[o] = append([]string(nil), vals...)
		}
		if f == fieldResourcesType {
			scope = append(scope, fs.Equals...)
		}
		r.conds = append(r.conds, c)
	}
	for i := range r.conds {
		if r.conds[i].f == fieldResourcesARN {
			r.conds[i].scope = scope
		}
	}
	// Cheap fields first, so that most events are turned down by their
	// category before any resource is looked at.
	sort.SliceStable(r.conds, func(i, j int) bool { return cost(r.conds[i].f) < cost(r.conds[j].f) })
	return r
}

func cost(f field) int {
	switch {
	case f == fieldEventCategory:
		return 0
	case f == fieldResourcesType || f == fieldResourcesARN:
		return 3
	case detailFields.has(f):
		return 2
	}
	return 1
}

// NeedsDetail reports whether Match reads more of an Event than Category,
// ReadOnly, EventSource and EventName, so that the caller parses a record
// (FillDetail) only for trails that look into it.
func (m *Matcher) NeedsDetail() bool { return m.detail }

// Match reports whether the selectors log e.
func (m *Matcher) Match(e *Event) bool {
	if m.advanced != nil {
		for i := range m.advanced {
			if m.advanced[i].match(e) {
				return true
			}
		}
		return false
	}
	cat := category(e)
	for i := range m.basic {
		r := &m.basic[i]
		if e.ReadOnly && !r.reads || !e.ReadOnly && !r.writes {
			continue
		}
		switch cat {
		case CategoryManagement:
			if r.management && !slices.Contains(r.exclude, e.EventSource) {
				return true
			}
		case CategoryData:
			for j := range r.data {
				if r.data[j].match(e) {
					return true
				}
			}
		}
		// Insights go with Insights selectors; network activity and Lake's
		// own categories take advanced selectors.
	}
	return false
}

func category(e *Event) string {
	if e.Category == "" {
		return CategoryManagement
	}
	return e.Category
}

func (d *dataRule) match(e *Event) bool {
	hit, _ := eachResource(e, func(typ, arn string, slash bool) (bool, bool) {
		if typ != d.typ {
			return false, false
		}
		for _, v := range d.values {
			if v.sep == 0 {
				if hasPrefix(arn, slash, v.v) {
					return true, true
				}
			} else if !slash && (arn == v.v || len(arn) > len(v.v) && arn[len(v.v)] == v.sep && arn[:len(v.v)] == v.v) {
				return true, true
			}
		}
		return true, false
	})
	return hit
}

// eachResource calls fn for the resources of e as selectors see them and
// reports whether fn hit on one, and whether fn considered any.
//
// Bucket-level S3 data events (ListObjects, say) name only the bucket, yet
// AWS logs them for AWS::S3::Object selectors that cover the whole bucket.
// So when a data event lists no object, each AWS::S3::Bucket resource is
// seen a second time, as an AWS::S3::Object whose ARN is the bucket's with
// the trailing slash that such selectors end in (slash set: the ARN reads
// as arn+"/").
func eachResource(e *Event, fn func(typ, arn string, slash bool) (considered, hit bool)) (hit, considered bool) {
	object := false
	for i := range e.Resources {
		r := &e.Resources[i]
		if r.Type == s3Object {
			object = true
		}
		c, h := fn(r.Type, r.ARN, false)
		if h {
			return true, true
		}
		considered = considered || c
	}
	if object || category(e) != CategoryData {
		return false, considered
	}
	for i := range e.Resources {
		r := &e.Resources[i]
		if r.Type != s3Bucket {
			continue
		}
		c, h := fn(s3Object, r.ARN, true)
		if h {
			return true, true
		}
		considered = considered || c
	}
	return false, considered
}

func (r *advancedRule) match(e *Event) bool {
	if r.never {
		return false
	}
	for i := range r.conds {
		if !r.conds[i].match(e) {
			return false
		}
	}
	return true
}

// match evaluates one field selector. A multi-valued field (resources.type,
// resources.ARN) holds when one of its values meets every operator; a field
// the event lacks is read as the empty string, so that positive operators
// fail on it and negative ones hold. resources.ARN looks only at resources
// of the selector's resources.type, the data resource AWS means it to name.
func (c *cond) match(e *Event) bool {
	switch c.f {
	case fieldResourcesType:
		return c.matchResources(e, func(typ, _ string, _ bool) (string, bool, bool) { return typ, false, true })
	case fieldResourcesARN:
		return c.matchResources(e, func(typ, arn string, slash bool) (string, bool, bool) {
			if c.scope != nil && !slices.Contains(c.scope, typ) {
				return "", false, false
			}
			return arn, slash, true
		})
	}
	return c.holds(c.value(e), false)
}

func (c *cond) matchResources(e *Event, pick func(typ, arn string, slash bool) (v string, vslash, ok bool)) bool {
	hit, considered := eachResource(e, func(typ, arn string, slash bool) (bool, bool) {
		v, vs, ok := pick(typ, arn, slash)
		if !ok {
			return false, false
		}
		return true, c.holds(v, vs)
	})
	if hit {
		return true
	}
	return !considered && c.holds("", false)
}

func (c *cond) value(e *Event) string {
	switch c.f {
	case fieldEventCategory:
		return category(e)
	case fieldEventSource:
		return e.EventSource
	case fieldEventName:
		return e.EventName
	case fieldEventType:
		return e.EventType
	case fieldReadOnly:
		if e.ReadOnly {
			return "true"
		}
		return "false"
	case fieldErrorCode:
		return e.ErrorCode
	case fieldSessionCredentialFromConsole:
		if e.SessionCredentialFromConsole == "" {
			return "false"
		}
		return e.SessionCredentialFromConsole
	case fieldUserIdentityARN:
		return e.UserIdentityARN
	case fieldVpcEndpointID:
		return e.VpcEndpointID
	}
	return ""
}

// holds reports whether s (read as s+"/" when slash is set) meets every
// operator of c: one value of each positive operator, none of each
// negative one.
func (c *cond) holds(s string, slash bool) bool {
	for o := range numOps {
		vals := c.ops[o]
		if len(vals) == 0 {
			continue
		}
		hit := false
		for _, v := range vals {
			if apply(o, s, slash, v) {
				hit = true
				break
			}
		}
		if hit == o.negative() {
			return false
		}
	}
	return true
}

func apply(o operator, s string, slash bool, v string) bool {
	switch o {
	case opEquals, opNotEquals:
		return equal(s, slash, v)
	case opStartsWith, opNotStartsWith:
		return hasPrefix(s, slash, v)
	default:
		return hasSuffix(s, slash, v)
	}
}

// equal, hasPrefix and hasSuffix compare v with s, or with s+"/" when
// slash is set, without building that string for every event.
func equal(s string, slash bool, v string) bool {
	if !slash {
		return s == v
	}
	return len(v) == len(s)+1 && v[len(s)] == '/' && v[:len(s)] == s
}

func hasPrefix(s string, slash bool, v string) bool {
	if !slash || len(v) <= len(s) {
		return strings.HasPrefix(s, v)
	}
	return equal(s, true, v)
}

func hasSuffix(s string, slash bool, v string) bool {
	if !slash {
		return strings.HasSuffix(s, v)
	}
	if v == "" {
		return true
	}
	return v[len(v)-1] == '/' && strings.HasSuffix(s, v[:len(v)-1])
}
