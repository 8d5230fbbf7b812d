package selector

import (
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// ErrInvalidRecord is returned by FillDetail for bytes that are not a JSON
// object.
var ErrInvalidRecord = errors.New("record is not a JSON object")

var detailParsers fastjson.ParserPool

// FillDetail reads from a CloudTrail record the fields that only some
// selectors look at: eventType, errorCode, userIdentity.arn, vpcEndpointId,
// sessionCredentialFromConsole and resources. It leaves Category, ReadOnly,
// EventSource and EventName alone; the envelope already has them, derived
// where old records lack them.
//
// Fields of an unexpected JSON type read as absent: a selector cannot match
// them, and refusing the record here would lose an event that ingest
// already accepted. e.Resources is reused, so an Event can be filled again
// for the next record without allocating.
func FillDetail(e *Event, raw []byte) error {
	p := detailParsers.Get()
	defer detailParsers.Put(p)
	v, err := p.ParseBytes(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if v.Type() != fastjson.TypeObject {
		return ErrInvalidRecord
	}
	e.EventType = str(v.Get("eventType"))
	e.ErrorCode = str(v.Get("errorCode"))
	e.UserIdentityARN = str(v.Get("userIdentity", "arn"))
	e.VpcEndpointID = str(v.Get("vpcEndpointId"))
	e.SessionCredentialFromConsole = ""
	switch s := v.Get("sessionCredentialFromConsole"); {
	case s == nil:
	case s.Type() == fastjson.TypeTrue:
		e.SessionCredentialFromConsole = "true"
	case s.Type() == fastjson.TypeFalse:
		e.SessionCredentialFromConsole = "false"
	default:
		e.SessionCredentialFromConsole = str(s)
	}
	e.Resources = e.Resources[:0]
	if rs := v.Get("resources"); rs != nil && rs.Type() == fastjson.TypeArray {
		items, _ := rs.Array()
		for _, item := range items {
			if item.Type() != fastjson.TypeObject {
				continue
			}
			r := Resource{Type: str(item.Get("type")), ARN: str(item.Get("ARN"))}
			if r.ARN == "" {
				// Some S3 records name a set of objects by prefix only.
				r.ARN = str(item.Get("ARNPrefix"))
			}
			e.Resources = append(e.Resources, r)
		}
	}
	return nil
}

// str copies a string value out of the parser's buffer, which the pool
// reuses; anything else reads as "".
func str(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	return string(v.GetStringBytes())
}
