package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// MaxRecordSize is CloudTrail's limit on one record (256 KB since eventVersion 1.05).
const MaxRecordSize = 256 * 1024

// Category is the event category that decides where an event may be looked up.
type Category byte

// The event categories. Values are stable: they are written to disk.
const (
	Management      Category = 'M'
	Data            Category = 'D'
	Insight         Category = 'I'
	NetworkActivity Category = 'N'
)

// String returns the category as CloudTrail spells it in eventCategory.
func (c Category) String() string {
	switch c {
	case Management:
		return "Management"
	case Data:
		return "Data"
	case Insight:
		return "Insight"
	case NetworkActivity:
		return "NetworkActivity"
	}
	return "Unknown"
}

// Resource is one element of a LookupEvents result's Resources list.
type Resource struct {
	Type string `json:"ResourceType,omitempty"`
	Name string `json:"ResourceName,omitempty"`
}

// Envelope is what cairn extracts from a record once, at ingest: the fields
// that LookupEvents filters on and returns, beside the record's JSON itself.
type Envelope struct {
	EventID     string
	EventTime   time.Time
	EventName   string
	EventSource string
	AccountID   string // recipientAccountId: whose event this is
	Region      string // awsRegion
	ReadOnly    bool
	Category    Category
	Username    string
	AccessKeyID string
	Resources   []Resource
	Raw         []byte // the record as JSON, as CloudTrailEvent returns it
}

// Defaults fill what old records lack.
type Defaults struct {
	// AccountID is used when a record has no recipientAccountId.
	AccountID string
}

// ErrInvalidRecord marks a record that cairn refuses; the wrapped text says why.
var ErrInvalidRecord = errors.New("invalid record")

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// ValidAccountID reports whether s has the shape of an AWS account ID.
func ValidAccountID(s string) bool { return accountIDPattern.MatchString(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRecord, fmt.Sprintf(format, args...))
}

// Parse validates one record and returns its envelope. Fields the record
// lacks but CloudTrail always writes today (recipientAccountId, readOnly,
// eventID, eventTime) are derived and added to the record's JSON, so that
// every later reader sees one complete record.
func Parse(raw []byte, d Defaults) (*Envelope, error) { return parse(raw, d, false) }

// ParseValidated is Parse for a record already known to be JSON text as
// ValidateJSON requires: an element of a PutEvents body that passed it,
// whose elements pass it too. It leaves out that second validation, a
// third of the cost of a small record.
func ParseValidated(raw []byte, d Defaults) (*Envelope, error) { return parse(raw, d, true) }

func parse(raw []byte, d Defaults, validated bool) (*Envelope, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxRecordSize {
		return nil, invalid("record is %d bytes; the limit is %d bytes (256 KB)", len(raw), MaxRecordSize)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, invalid("record is not a JSON object")
	}
	// The parser below is lenient (unknown escapes, control characters);
	// the record's bytes are what trails deliver and Lake stores, so they
	// must be JSON to every reader.
	if !validated {
		if err := ValidateJSON(raw); err != nil {
			return nil, invalid("record is not valid JSON: %v", err)
		}
	}
	p := recordParsers.Get()
	defer recordParsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return nil, invalid("record is not valid JSON: %v", err)
	}
	var r Record
	if err := fillRecord(v, &r); err != nil {
		return nil, invalid("record is not valid JSON: %v", err)
	}
	var add []field

	if r.EventVersion == "" {
		return nil, invalid("eventVersion is missing")
	}
	if !validVersion(r.EventVersion) {
		return nil, invalid("eventVersion %s is not a CloudTrail event version (1.0 to 1.11)", quote(r.EventVersion))
	}
	insight := r.EventType == "AwsCloudTrailInsight" || len(r.InsightDetails) > 0
	if !insight {
		if r.EventSource == "" {
			return nil, invalid("eventSource is missing")
		}
		if r.EventName == "" {
			return nil, invalid("eventName is missing")
		}
	}
	if r.EventSource != "" && !ValidEventSource(r.EventSource) {
		return nil, invalid("eventSource %s is not a service name like ec2.amazonaws.com (lower-case host name)", quote(r.EventSource))
	}
	if r.AWSRegion == "" {
		return nil, invalid("awsRegion is missing")
	}
	if !ValidRegion(r.AWSRegion) {
		return nil, invalid("awsRegion %s is not a Region name like us-east-1 (lower-case letters, digits and hyphens)", quote(r.AWSRegion))
	}
	timeText, timeField := r.EventTime, "eventTime"
	if timeText == "" {
		if r.Timestamp == "" {
			return nil, invalid("eventTime is missing")
		}
		timeText, timeField = r.Timestamp, "@timestamp"
	}
	t, err := ParseTime(timeText)
	if err != nil {
		return nil, invalid("%s %s is not a UTC time like 2006-01-02T15:04:05Z between 1970 and 2261", timeField, quote(timeText))
	}
	if r.EventTime == "" {
		if r.present&memberEventTime != 0 {
			return nil, invalid("eventTime is empty or null; leave it out to have it derived")
		}
		add = append(add, field{"eventTime", t.Format(TimeFormat)})
	}

	if r.UserIdentity != nil && !validIdentityAccount(r.UserIdentity.AccountID) {
		return nil, invalid("userIdentity.accountId %s is not a 12-digit account ID", quote(r.UserIdentity.AccountID))
	}
	account := r.RecipientAccountID
	if account == "" {
		account = d.AccountID
		if account == "" && r.UserIdentity != nil && r.UserIdentity.AccountID != AnonymousPrincipal {
			account = r.UserIdentity.AccountID
		}
		if account == "" {
			return nil, invalid("recipientAccountId is missing and no account is implied")
		}
		// A derived member is appended; one that is there, null or
		// empty, would then be there twice.
		if r.present&memberRecipientAccount != 0 {
			return nil, invalid("recipientAccountId is empty or null; leave it out to have it derived")
		}
		add = append(add, field{"recipientAccountId", account})
	}
	if !ValidAccountID(account) {
		return nil, invalid("recipientAccountId %s is not a 12-digit account ID", quote(account))
	}

	id := r.EventID
	if id != "" && !ValidEventID(id) {
		return nil, invalid("eventID %s is not a GUID like 3038ebd2-c98a-4c65-9b6e-e22506292313", quote(id))
	}
	if id == "" {
		// The oldest records have no eventID. Derive one from the bytes, so
		// that ingesting the same file twice still adds nothing.
		if r.present&memberEventID != 0 {
			return nil, invalid("eventID is empty or null; leave it out to have it derived")
		}
		id = derivedID(raw)
		add = append(add, field{"eventID", id})
	}

	e := &Envelope{
		EventID:     id,
		EventTime:   t,
		EventName:   r.EventName,
		EventSource: r.EventSource,
		AccountID:   account,
		Region:      r.AWSRegion,
		Category:    Classify(&r),
		Username:    LookupUsername(&r),
		Resources:   LookupResources(&r),
	}
	if r.UserIdentity != nil {
		e.AccessKeyID = r.UserIdentity.AccessKeyID
	}
	if r.ReadOnly != nil {
		e.ReadOnly = bool(*r.ReadOnly)
	} else if !insight {
		if r.present&memberReadOnly != 0 {
			return nil, invalid("readOnly is null; leave it out to have it derived")
		}
		e.ReadOnly = InferReadOnly(r.EventSource, r.EventName)
		add = append(add, field{"readOnly", e.ReadOnly})
	}
	e.Raw = appendFields(raw, add)
	if len(e.Raw) > MaxRecordSize {
		return nil, invalid("record is %d bytes; the limit is %d bytes (256 KB)", len(e.Raw), MaxRecordSize)
	}
	return e, nil
}

// TimeFormat is how CloudTrail writes eventTime.
const TimeFormat = "2006-01-02T15:04:05Z"

func validVersion(v string) bool {
	switch v {
	case "1.0", "1.00", "1.01", "1.02", "1.03", "1.04", "1.05", "1.06", "1.07", "1.08", "1.09", "1.10", "1.11":
		return true
	}
	return false
}

func derivedID(raw []byte) string {
	h := sha256.Sum256(raw)
	h[6] = h[6]&0x0f | 0x50 // version 5 shape: name-based
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

type field struct {
	name  string
	value any
}

// appendFields adds members at the end of a JSON object without touching
// the bytes that are already there.
func appendFields(raw []byte, fields []field) []byte {
	if len(fields) == 0 {
		return raw
	}
	end := bytes.LastIndexByte(raw, '}')
	out := make([]byte, 0, len(raw)+64*len(fields))
	out = append(out, raw[:end]...)
	empty := len(bytes.TrimSpace(raw[1:end])) == 0
	for _, f := range fields {
		if !empty {
			out = append(out, ',')
		}
		empty = false
		out = strconv.AppendQuote(out, f.name)
		out = append(out, ':')
		v, _ := json.Marshal(f.value)
		out = append(out, v...)
	}
	return append(out, '}')
}

// Binary encoding of an envelope, as the ledger stores it. Version byte first
// so the layout can change.
const envelopeVersion = 1

// MarshalBinary encodes the envelope for the ledger.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	n := 64 + len(e.Raw) + len(e.EventID) + len(e.EventName) + len(e.EventSource) + len(e.Username) + len(e.AccessKeyID)
	b := make([]byte, 0, n)
	b = append(b, envelopeVersion, byte(e.Category))
	if e.ReadOnly {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, e.EventTime.UnixNano())
	for _, s := range []string{e.EventID, e.EventName, e.EventSource, e.AccountID, e.Region, e.Username, e.AccessKeyID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Resources)))
	for _, r := range e.Resources {
		b = appendString(b, r.Type)
		b = appendString(b, r.Name)
	}
	return append(b, e.Raw...), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ErrCorrupt is returned for bytes that are not an encoded envelope.
var ErrCorrupt = errors.New("corrupt envelope")

// UnmarshalBinary decodes an envelope written by MarshalBinary. Raw aliases b.
func (e *Envelope) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) < 3 || b[0] != envelopeVersion {
		return ErrCorrupt
	}
	e.Category = Category(b[1])
	e.ReadOnly = b[2] == 1
	d.b = b[3:]
	ns := d.varint()
	e.EventTime = time.Unix(0, ns).UTC()
	for _, p := range []*string{&e.EventID, &e.EventName, &e.EventSource, &e.AccountID, &e.Region, &e.Username, &e.AccessKeyID} {
		*p = d.str()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return ErrCorrupt
	}
	e.Resources = nil
	if n > 0 {
		e.Resources = make([]Resource, n)
		for i := range e.Resources {
			e.Resources[i].Type = d.str()
			e.Resources[i].Name = d.str()
		}
	}
	if d.err {
		return ErrCorrupt
	}
	e.Raw = d.b
	return nil
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
