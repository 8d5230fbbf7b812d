package event

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// strictText refuses what fastjson's validator lets through but JSON (RFC
// 8259) does not: bytes that are not UTF-8, and control characters inside
// a string that also holds an escape.
func strictText(raw []byte) error {
	if !utf8.Valid(raw) {
		return errNotUTF8
	}
	if !hasControl(raw) {
		return nil
	}
	in := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			in = !in
		case c == '\\' && in:
			i++
		case c < 0x20 && in:
			return fmt.Errorf("a string holds the control character %#02x", c)
		}
	}
	return nil
}

var errNotUTF8 = errors.New("the text is not UTF-8")

// hasControl reports whether b holds a byte below 0x20, eight bytes at a
// time: most records have none (compact JSON), and then need no scan of
// their strings.
func hasControl(b []byte) bool {
	const highs, spaces = 0x8080808080808080, 0x20 * 0x0101010101010101
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		// A byte below 0x20 borrows when 0x20 is taken from it; bytes
		// from 0x80 up are excluded by ^x.
		if (x-spaces)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// ValidateJSON reports whether b is JSON text as RFC 8259 defines it:
// valid syntax, UTF-8, no control characters inside strings.
func ValidateJSON(b []byte) error {
	if err := fastjson.ValidateBytes(b); err != nil {
		return err
	}
	return strictText(b)
}

// members are bits for the record members that may appear only once, and
// that Parse derives when they are absent.
type members uint

const (
	memberUserIdentity members = 1 << iota
	memberEventTime
	memberTimestamp
	memberEventSource
	memberEventName
	memberRegion
	memberEventID
	memberRecipientAccount
	memberReadOnly
)

// recordParsers parse whole records. One parse both validates the JSON and
// gives every field, so a record is read once on the ingest path.
var recordParsers fastjson.ParserPool

// fillRecord fills r from a parsed record. Members that Parse does not
// need stay empty except when present, in which case they are kept as raw
// JSON; requestParameters and responseElements are kept parsed (for
// LookupResources) and not copied out. Values of the wrong JSON type are
// refused, as a strict decoder would.
func fillRecord(v *fastjson.Value, r *Record) error {
	o, err := v.Object()
	if err != nil {
		return err
	}
	var ferr error
	str := func(dst *string, x *fastjson.Value, name string) {
		if x == nil || x.Type() == fastjson.TypeNull {
			return
		}
		b, err := x.StringBytes()
		if err != nil && ferr == nil {
			ferr = typeError(name, "a string")
		}
		*dst = string(b)
	}
	raw := func(dst *json.RawMessage, x *fastjson.Value) {
		*dst = x.MarshalTo(nil)
	}
	flex := func(dst **FlexBool, x *fastjson.Value, name string) {
		var b FlexBool
		switch x.Type() {
		case fastjson.TypeNull:
			return
		case fastjson.TypeTrue:
			b = true
		case fastjson.TypeFalse:
		case fastjson.TypeString:
			if err := b.UnmarshalJSON(x.MarshalTo(nil)); err != nil && ferr == nil {
				ferr = typeError(name, "a boolean")
			}
		default:
			if ferr == nil {
				ferr = typeError(name, "a boolean")
			}
		}
		*dst = &b
	}
	// A member given twice would let the envelope (which takes the last)
	// and a reader of the delivered file (which may take the first) see
	// different values; the members cairn files records by must be single.
	var seen members
	once := func(bit members, name string) {
		if seen&bit != 0 && ferr == nil {
			ferr = &duplicateError{name}
		}
		seen |= bit
	}
	o.Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "eventVersion":
			str(&r.EventVersion, x, "eventVersion")
		case "userIdentity":
			once(memberUserIdentity, "userIdentity")
			if x.Type() == fastjson.TypeObject {
				r.UserIdentity = decodeIdentity(x, str, raw)
				if r.UserIdentity.dupAccount && ferr == nil {
					ferr = &duplicateError{"userIdentity.accountId"}
				}
			} else if x.Type() != fastjson.TypeNull && ferr == nil {
				ferr = typeError("userIdentity", "an object")
			}
		case "eventTime":
			once(memberEventTime, "eventTime")
			str(&r.EventTime, x, "eventTime")
		case "@timestamp":
			once(memberTimestamp, "@timestamp")
			str(&r.Timestamp, x, "@timestamp")
		case "eventSource":
			once(memberEventSource, "eventSource")
			str(&r.EventSource, x, "eventSource")
		case "eventName":
			once(memberEventName, "eventName")
			str(&r.EventName, x, "eventName")
		case "awsRegion":
			once(memberRegion, "awsRegion")
			str(&r.AWSRegion, x, "awsRegion")
		case "eventID":
			once(memberEventID, "eventID")
			str(&r.EventID, x, "eventID")
		case "eventType":
			str(&r.EventType, x, "eventType")
		case "recipientAccountId":
			once(memberRecipientAccount, "recipientAccountId")
			str(&r.RecipientAccountID, x, "recipientAccountId")
		case "eventCategory":
			str(&r.EventCategory, x, "eventCategory")
		case "readOnly":
			once(memberReadOnly, "readOnly")
			flex(&r.ReadOnly, x, "readOnly")
		case "managementEvent":
			flex(&r.ManagementEvent, x, "managementEvent")
		case "requestParameters":
			r.requestValue = x
		case "responseElements":
			r.responseValue = x
		case "insightDetails":
			raw(&r.InsightDetails, x)
		case "resources":
			if x.Type() == fastjson.TypeNull {
				return
			}
			items, err := x.Array()
			if err != nil {
				if ferr == nil {
					ferr = typeError("resources", "a list")
				}
				return
			}
			for _, it := range items {
				if it.Type() != fastjson.TypeObject {
					continue
				}
				var res RecordResource
				str(&res.ARN, it.Get("ARN"), "resources.ARN")
				str(&res.ARNPrefix, it.Get("ARNPrefix"), "resources.ARNPrefix")
				str(&res.AccountID, it.Get("accountId"), "resources.accountId")
				str(&res.Type, it.Get("type"), "resources.type")
				r.Resources = append(r.Resources, res)
			}
		}
	})
	r.present = seen
	return ferr
}

func decodeIdentity(v *fastjson.Value, str func(*string, *fastjson.Value, string), raw func(*json.RawMessage, *fastjson.Value)) *UserIdentity {
	u := &UserIdentity{}
	seenAccount := false
	v.GetObject().Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "type":
			str(&u.Type, x, "userIdentity.type")
		case "principalId":
			str(&u.PrincipalID, x, "userIdentity.principalId")
		case "arn":
			str(&u.ARN, x, "userIdentity.arn")
		case "accountId":
			u.dupAccount = u.dupAccount || seenAccount
			seenAccount = true
			str(&u.AccountID, x, "userIdentity.accountId")
		case "accessKeyId":
			str(&u.AccessKeyID, x, "userIdentity.accessKeyId")
		case "userName":
			str(&u.UserName, x, "userIdentity.userName")
		case "invokedBy":
			str(&u.InvokedBy, x, "userIdentity.invokedBy")
		case "onBehalfOf":
			raw(&u.OnBehalfOf, x)
		}
	})
	return u
}

type fieldTypeError struct{ field, want string }

func (e *fieldTypeError) Error() string { return e.field + " must be " + e.want }

func typeError(field, want string) error { return &fieldTypeError{field, want} }

type duplicateError struct{ field string }

func (e *duplicateError) Error() string { return e.field + " appears more than once" }
