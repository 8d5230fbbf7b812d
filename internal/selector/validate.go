package selector

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Quotas on selectors; AWS allows no increase of any of them.
const (
	// MaxEventSelectors is the number of basic event selectors a trail may have.
	MaxEventSelectors = 5
	// MaxDataResources is the number of DataResources values across all of a
	// trail's basic selectors; values that select every resource of a type
	// are not counted.
	MaxDataResources = 250
	// MaxConditionValues is the number of values across all operators of all
	// advanced event selectors of a trail or event data store.
	MaxConditionValues = 500
	// MaxStoreSelectors is the number of advanced event selectors an event
	// data store may have. Trails have no such count, only MaxConditionValues.
	MaxStoreSelectors = 5
	// MaxValueLength is the length limit of one advanced selector value.
	MaxValueLength = 2048
	// MaxNameLength is the length limit of an advanced selector's Name and
	// of a field name.
	MaxNameLength = 1000
)

// Target is what a set of advanced event selectors belongs to: the rules
// differ between trails and event data stores.
type Target int

// The targets of advanced event selectors.
const (
	Trail Target = iota
	EventDataStore
)

// String names the target as the messages do.
func (t Target) String() string {
	if t == EventDataStore {
		return "an event data store"
	}
	return "a trail"
}

func invalid(format string, args ...any) error {
	return &InvalidError{Message: fmt.Sprintf(format, args...)}
}

// ValidateBasic checks the EventSelectors of a PutEventSelectors request.
//
// An empty list is invalid: whether the request had EventSelectors at all,
// or AdvancedEventSelectors instead, is for the caller to decide first.
func ValidateBasic(sels []EventSelector) error {
	if len(sels) == 0 || len(sels) > MaxEventSelectors {
		return invalid("Specify a valid number of event selectors (1 to 5) for a trail.")
	}
	counted := 0
	for _, s := range sels {
		switch s.ReadWriteType {
		case "", ReadOnly, WriteOnly, All:
		default:
			return invalidValue(s.ReadWriteType, "ReadWriteType")
		}
		for _, src := range s.ExcludeManagementEventSources {
			if !excludableSources[src] {
				return invalidValue(src, "ExcludeManagementEventSources")
			}
		}
		if s.IncludeManagementEvents != nil && !*s.IncludeManagementEvents && len(s.DataResources) == 0 {
			return invalid("Invalid combination of parameters in EventSelectors. When includeManagementEvents is false, DataResources must not be empty.")
		}
		for _, d := range s.DataResources {
			kind, ok := basicKinds[d.Type]
			if !ok {
				return invalidValue(d.Type, "DataResources.Type")
			}
			if len(d.Values) == 0 {
				return invalid("Specify a valid number of data resources (1 to 250) for an event selector.")
			}
			for _, v := range d.Values {
				everything, ok := kind.check(v)
				if !ok {
					return invalidValue(v, "DataResources.Values")
				}
				if !everything {
					counted++
				}
			}
		}
	}
	if counted > MaxDataResources {
		return invalid("Specify a valid number of DataResources.Values (0 to 250) for all your selectors")
	}
	return nil
}

// invalidValue words a bad value the way AWS does for DataResources.Values.
func invalidValue(v, field string) error {
	if v == "" {
		return invalid("A value for %s is required.", field)
	}
	return invalid("Value %s for %s is invalid.", v, field)
}

// excludableSources are the only event sources a trail can leave out of its
// management events.
var excludableSources = map[string]bool{
	"kms.amazonaws.com":     true,
	"rdsdata.amazonaws.com": true,
}

// dataKind is the value syntax of one basic DataResources type.
type dataKind struct {
	everything *regexp.Regexp // the value that selects every resource of the type
	one        *regexp.Regexp // a value that selects some
	bucket     bool           // one's first group is an S3 bucket name to check
}

// check reports whether v is valid and whether it selects everything.
func (k dataKind) check(v string) (everything, ok bool) {
	if k.everything.MatchString(v) {
		return true, true
	}
	m := k.one.FindStringSubmatch(v)
	if m == nil {
		return false, false
	}
	if k.bucket && !bucketName.MatchString(m[1]) {
		return false, false
	}
	return false, true
}

const (
	partition = `aws(?:-[a-z]+)*`
	region    = `[a-z]{2}(?:-[a-z]+)+-\d+`
)

// bucketName admits legacy names (capitals, underscores, up to 255
// characters), which still exist in us-east-1, and never '*': AWS rejects
// arn:aws:s3:::*/* outright rather than reading it as a pattern.
var bucketName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$`)

// basicKinds are the three types basic selectors support; every other type
// takes advanced selectors.
var basicKinds = map[string]dataKind{
	"AWS::S3::Object": {
		// arn:aws:s3 is what the console writes; arn:aws:s3::: is the same
		// prefix with its empty Region and account spelled out.
		everything: regexp.MustCompile(`^arn:` + partition + `:s3(?::::)?$`),
		// A bucket without the trailing slash is refused by AWS ("Value
		// arn:aws:s3:::bucket for DataResources.Values is invalid").
		one:    regexp.MustCompile(`^arn:` + partition + `:s3:::([^/]*)/`),
		bucket: true,
	},
	"AWS::Lambda::Function": {
		everything: regexp.MustCompile(`^arn:` + partition + `:lambda$`),
		one:        regexp.MustCompile(`^arn:` + partition + `:lambda:` + region + `:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?$`),
	},
	"AWS::DynamoDB::Table": {
		everything: regexp.MustCompile(`^arn:` + partition + `:dynamodb$`),
		one:        regexp.MustCompile(`^arn:` + partition + `:dynamodb:` + region + `:\d{12}:table/[A-Za-z0-9_.-]{3,255}$`),
	},
}

// field is a record field that advanced selectors can filter on.
type field uint8

const (
	fieldEventCategory field = iota
	fieldEventSource
	fieldEventName
	fieldEventType
	fieldReadOnly
	fieldResourcesType
	fieldResourcesARN
	fieldErrorCode
	fieldSessionCredentialFromConsole
	fieldUserIdentityARN
	fieldVpcEndpointID
	numFields
)

// fieldNames spell the fields as AWS does; they are case-sensitive.
var fieldNames = [numFields]string{
	"eventCategory", "eventSource", "eventName", "eventType", "readOnly",
	"resources.type", "resources.ARN", "errorCode",
	"sessionCredentialFromConsole", "userIdentity.arn", "vpcEndpointId",
}

func (f field) String() string { return fieldNames[f] }

func lookupField(name string) (field, bool) {
	for i, n := range fieldNames {
		if n == name {
			return field(i), true
		}
	}
	return 0, false
}

type fieldSet uint16

func setOf(fs ...field) fieldSet {
	var s fieldSet
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

// Operators, in the order FieldSelector lists them. The first three
// include events, the rest exclude them.
type operator uint8

const (
	opEquals operator = iota
	opStartsWith
	opEndsWith
	opNotEquals
	opNotStartsWith
	opNotEndsWith
	numOps
)

var opNames = [numOps]string{"Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith"}

func (o operator) String() string { return opNames[o] }

func (o operator) negative() bool { return o >= opNotEquals }

type opSet uint8

const anyOp opSet = 1<<numOps - 1

func (s opSet) has(o operator) bool { return s&(1<<o) != 0 }

func (s opSet) String() string {
	var names []string
	for o := range numOps {
		if s.has(o) {
			names = append(names, o.String())
		}
	}
	return strings.Join(names, " or ")
}

// operands returns a field selector's operator lists, indexed by operator.
func (f *FieldSelector) operands() [numOps][]string {
	return [numOps][]string{f.Equals, f.StartsWith, f.EndsWith, f.NotEquals, f.NotStartsWith, f.NotEndsWith}
}

// Event categories as eventCategory spells them.
const (
	CategoryManagement        = "Management"
	CategoryData              = "Data"
	CategoryNetworkActivity   = "NetworkActivity"
	CategoryInsight           = "Insight"
	CategoryConfigurationItem = "ConfigurationItem"
	CategoryEvidence          = "Evidence"
	CategoryActivityAuditLog  = "ActivityAuditLog"
)

// categoryFields is, per target and category, which fields a selector may
// use besides eventCategory; a category absent from a target's map is not
// selectable there. Source: AWS's AdvancedFieldSelector reference.
var categoryFields = [2]map[string]fieldSet{
	Trail: {
		CategoryManagement: setOf(fieldEventSource, fieldReadOnly),
		CategoryData: setOf(fieldEventName, fieldEventSource, fieldEventType, fieldResourcesType, fieldReadOnly,
			fieldResourcesARN, fieldSessionCredentialFromConsole, fieldUserIdentityARN),
		CategoryNetworkActivity: setOf(fieldEventSource, fieldEventName, fieldErrorCode, fieldVpcEndpointID, fieldUserIdentityARN),
	},
	EventDataStore: {
		CategoryManagement: setOf(fieldEventSource, fieldReadOnly, fieldEventName, fieldEventType,
			fieldSessionCredentialFromConsole, fieldUserIdentityARN),
		CategoryData: setOf(fieldEventName, fieldEventSource, fieldEventType, fieldResourcesType, fieldReadOnly,
			fieldResourcesARN, fieldSessionCredentialFromConsole, fieldUserIdentityARN),
		CategoryNetworkActivity:   setOf(fieldEventSource, fieldEventName, fieldErrorCode, fieldVpcEndpointID),
		CategoryInsight:           0,
		CategoryConfigurationItem: 0,
		CategoryEvidence:          0,
		CategoryActivityAuditLog:  0,
	},
}

var categoryOrder = []string{
	CategoryManagement, CategoryData, CategoryNetworkActivity,
	CategoryInsight, CategoryConfigurationItem, CategoryEvidence, CategoryActivityAuditLog,
}

func validCategories(t Target) string {
	var names []string
	for _, c := range categoryOrder {
		if _, ok := categoryFields[t][c]; ok {
			names = append(names, c)
		}
	}
	return joinOr(names)
}

func joinOr(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// fieldRule is what one field admits in one category.
type fieldRule struct {
	ops    opSet
	values []string              // the only values allowed; nil admits any
	one    bool                  // exactly one value
	shape  func(v string) bool   // a check of each value, when set
	shapes func(o operator) bool // the operators shape applies to; nil: all
}

var (
	boolValues     = []string{"true", "false"}
	resourceType   = regexp.MustCompile(`^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$`)
	serviceHost    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*\.amazonaws\.com$`)
	fieldNameShape = regexp.MustCompile(`^[\w|.]+$`)
)

func ruleFor(t Target, category string, f field) fieldRule {
	switch f {
	case fieldEventCategory:
		return fieldRule{ops: 1 << opEquals, one: true}
	case fieldReadOnly:
		return fieldRule{ops: 1 << opEquals, values: boolValues}
	case fieldResourcesType:
		// New data resource types arrive every few months; their shape is
		// checked, not a list that would go stale.
		return fieldRule{ops: 1 << opEquals, one: true, shape: resourceType.MatchString}
	case fieldErrorCode:
		return fieldRule{ops: 1 << opEquals, values: []string{"VpceAccessDenied"}}
	case fieldSessionCredentialFromConsole:
		return fieldRule{ops: 1<<opEquals | 1<<opNotEquals, values: boolValues}
	case fieldEventSource:
		switch {
		case category == CategoryNetworkActivity:
			return fieldRule{ops: 1 << opEquals, one: true, shape: serviceHost.MatchString}
		case t == Trail && category == CategoryManagement:
			return fieldRule{ops: 1 << opNotEquals, values: []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}}
		}
	case fieldResourcesARN:
		// Equals and NotEquals must name one resource exactly; prefixes and
		// suffixes may be any part of an ARN.
		return fieldRule{ops: anyOp, shape: func(v string) bool { return strings.HasPrefix(v, "arn:") },
			shapes: func(o operator) bool { return o == opEquals || o == opNotEquals }}
	}
	return fieldRule{ops: anyOp}
}

// ValidateAdvanced checks the advanced event selectors of a trail
// (PutEventSelectors) or an event data store (CreateEventDataStore,
// UpdateEventDataStore).
//
// An empty list is invalid; an event data store created without selectors
// gets its default from the caller before this is called.
func ValidateAdvanced(sels []AdvancedEventSelector, target Target) error {
	if target != Trail && target != EventDataStore {
		panic(fmt.Sprintf("selector: unknown Target %d", int(target)))
	}
	if len(sels) == 0 {
		return invalid("Specify at least one advanced event selector for %s.", target)
	}
	if target == EventDataStore && len(sels) > MaxStoreSelectors {
		return invalid("Specify a valid number of advanced event selectors (1 to 5) for an event data store.")
	}
	total := 0
	for _, s := range sels {
		for i := range s.FieldSelectors {
			for _, vals := range s.FieldSelectors[i].operands() {
				total += len(vals)
			}
		}
	}
	if total > MaxConditionValues {
		return invalid("Specify up to 500 values for all conditions in all advanced event selectors for %s.", target)
	}
	var categories []string
	for _, s := range sels {
		cat, err := validateSelector(&s, target)
		if err != nil {
			return err
		}
		categories = append(categories, cat)
	}
	if target == EventDataStore {
		// Config items, Audit Manager evidence, outside events and Insights
		// each fill a store of their own kind; CloudTrail events mix freely.
		for _, c := range categories {
			if c != CategoryManagement && c != CategoryData && c != CategoryNetworkActivity {
				for _, d := range categories {
					if d != c {
						return invalid("An event data store for %s events can't select %s events.", c, d)
					}
				}
			}
		}
	}
	return nil
}

// validateSelector checks one selector and returns its event category.
func validateSelector(s *AdvancedEventSelector, target Target) (string, error) {
	if len(s.Name) > MaxNameLength {
		return "", invalid("The name of an advanced event selector can't be longer than 1000 characters.")
	}
	if len(s.FieldSelectors) == 0 {
		return "", invalid("An advanced event selector must have at least one field selector.")
	}
	var seen fieldSet
	fields := make([]field, len(s.FieldSelectors))
	for i := range s.FieldSelectors {
		fs := &s.FieldSelectors[i]
		if fs.Field == "" || len(fs.Field) > MaxNameLength || !fieldNameShape.MatchString(fs.Field) {
			return "", invalidValue(fs.Field, "Field")
		}
		f, ok := lookupField(fs.Field)
		if !ok {
			return "", invalid("Field %s is not supported in advanced event selectors.", fs.Field)
		}
		if seen.has(f) {
			return "", invalid("Field %s appears more than once in an advanced event selector.", f)
		}
		seen |= 1 << f
		fields[i] = f
		hasOp := false
		for o, vals := range fs.operands() {
			if vals == nil {
				continue
			}
			if len(vals) == 0 {
				return "", invalid("Operator %s of field %s must have at least one value.", operator(o), f)
			}
			hasOp = true
			for _, v := range vals {
				if v == "" || len(v) > MaxValueLength {
					return "", invalid("Values of field %s must be 1 to 2048 characters long.", f)
				}
				if strings.Contains(v, "*") {
					return "", invalid("Value %s for field %s is invalid. Advanced event selectors don't support wildcards (*); use StartsWith, EndsWith, NotStartsWith or NotEndsWith.", v, f)
				}
			}
		}
		if !hasOp {
			return "", invalid("Field %s must have at least one operator: Equals, StartsWith, EndsWith, NotEquals, NotStartsWith or NotEndsWith.", f)
		}
	}

	if !seen.has(fieldEventCategory) {
		return "", invalid("Every advanced event selector must have an eventCategory field selector.")
	}
	var category string
	for i := range s.FieldSelectors {
		if fields[i] == fieldEventCategory {
			if err := checkRule(&s.FieldSelectors[i], fieldEventCategory, ruleFor(target, "", fieldEventCategory)); err != nil {
				return "", err
			}
			category = s.FieldSelectors[i].Equals[0]
		}
	}
	allowed, ok := categoryFields[target][category]
	if !ok {
		return "", invalid("Value %s for field eventCategory is invalid for %s. Valid values are %s.", category, target, validCategories(target))
	}
	for i := range s.FieldSelectors {
		f := fields[i]
		if f == fieldEventCategory {
			continue
		}
		if !allowed.has(f) {
			if allowed == 0 {
				return "", invalid("Advanced event selectors for %s events support only the eventCategory field.", category)
			}
			return "", invalid("Field %s is not supported for %s events on %s.", f, category, target)
		}
		if err := checkRule(&s.FieldSelectors[i], f, ruleFor(target, category, f)); err != nil {
			return "", err
		}
	}
	switch {
	case category == CategoryData && !seen.has(fieldResourcesType):
		return "", invalid("Advanced event selectors for Data events must have a resources.type field selector.")
	case category == CategoryNetworkActivity && !seen.has(fieldEventSource):
		return "", invalid("Advanced event selectors for NetworkActivity events must have an eventSource field selector.")
	}
	return category, nil
}

func checkRule(fs *FieldSelector, f field, r fieldRule) error {
	for o, vals := range fs.operands() {
		op := operator(o)
		if vals == nil {
			continue
		}
		if !r.ops.has(op) {
			return invalid("Operator %s is not supported for field %s; use %s.", op, f, r.ops)
		}
		if r.one && len(vals) != 1 {
			return invalid("Field %s must have exactly one value in an advanced event selector; add a selector for each further value.", f)
		}
		for _, v := range vals {
			if r.values != nil && !slices.Contains(r.values, v) {
				return invalid("Value %s for field %s is invalid. Valid values are %s.", v, f, joinOr(r.values))
			}
			if r.shape != nil && (r.shapes == nil || r.shapes(op)) && !r.shape(v) {
				return invalid("Value %s for field %s is invalid.", v, f)
			}
		}
	}
	return nil
}
