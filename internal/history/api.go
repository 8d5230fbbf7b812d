package history

import (
	"context"
	"errors"
	"strings"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
)

type lookupAttribute struct {
	AttributeKey   *string `json:"AttributeKey"`
	AttributeValue *string `json:"AttributeValue"`
}

type lookupRequest struct {
	LookupAttributes []lookupAttribute `json:"LookupAttributes"`
	StartTime        *awsapi.Time      `json:"StartTime"`
	EndTime          *awsapi.Time      `json:"EndTime"`
	EventCategory    *string           `json:"EventCategory"`
	MaxResults       *int              `json:"MaxResults"`
	NextToken        *string           `json:"NextToken"`
}

// LookupEvent is one element of LookupEvents' Events, as AWS writes it.
type LookupEvent struct {
	EventID         string           `json:"EventId"`
	EventName       string           `json:"EventName,omitempty"`
	ReadOnly        string           `json:"ReadOnly,omitempty"`
	AccessKeyID     string           `json:"AccessKeyId,omitempty"`
	EventTime       awsapi.Time      `json:"EventTime"`
	EventSource     string           `json:"EventSource,omitempty"`
	Username        string           `json:"Username,omitempty"`
	Resources       []event.Resource `json:"Resources"`
	CloudTrailEvent string           `json:"CloudTrailEvent"`
}

// LookupResponse is LookupEvents' output.
type LookupResponse struct {
	Events    []LookupEvent `json:"Events"`
	NextToken string        `json:"NextToken,omitempty"`
}

var attrKeyNames = "[EventId, AccessKeyId, EventSource, Username, ResourceName, EventName, ResourceType, ReadOnly]"

// attributeValueLength counts as LookupEvents does: "_", " ", "," and "\n"
// count as two characters.
func attributeValueLength(v string) int {
	n := 0
	for _, r := range v {
		n++
		if strings.ContainsRune("_ ,\n", r) {
			n++
		}
	}
	return n
}

// ParseLookup turns a LookupEvents request body into a query for account
// and region.
func ParseLookup(c *awsapi.Call) (Query, error) {
	var req lookupRequest
	if err := c.Decode(&req); err != nil {
		return Query{}, err
	}
	q := Query{AccountID: c.AccountID, Region: c.Region, MaxResults: 50}
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 50 {
			return Query{}, awsapi.Errorf(awsapi.CodeInvalidMaxResults, "Value %d for MaxResults is invalid. MaxResults must be between 1 and 50.", *req.MaxResults)
		}
		q.MaxResults = *req.MaxResults
	}
	if req.EventCategory != nil {
		if *req.EventCategory != "insight" {
			return Query{}, awsapi.Errorf(awsapi.CodeInvalidEventCategory, "Event category %q is not valid. The only supported event category is insight.", *req.EventCategory)
		}
		q.Insight = true
	}
	switch len(req.LookupAttributes) {
	case 0:
	case 1:
		a := req.LookupAttributes[0]
		if a.AttributeKey == nil || a.AttributeValue == nil {
			return Query{}, awsapi.Errorf(awsapi.CodeValidation, "1 validation error detected: Value null at 'lookupAttributes.1.member.%s' failed to satisfy constraint: Member must not be null", missingMember(a))
		}
		key, ok := AttrKeys[*a.AttributeKey]
		if !ok {
			return Query{}, awsapi.Errorf(awsapi.CodeValidation, "1 validation error detected: Value '%s' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must satisfy enum value set: %s", *a.AttributeKey, attrKeyNames)
		}
		if n := attributeValueLength(*a.AttributeValue); n < 1 || n > 2000 {
			return Query{}, awsapi.Errorf(awsapi.CodeValidation, "1 validation error detected: Value at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must have length between 1 and 2000")
		}
		if q.Insight && key != AttrEventID && key != AttrEventName && key != AttrEventSource {
			return Query{}, awsapi.Errorf(awsapi.CodeInvalidLookupAttributes, "Lookup attribute %s is not supported for Insights events. Use EventId, EventName or EventSource.", *a.AttributeKey)
		}
		q.Attr, q.Value = key, *a.AttributeValue
	default:
		return Query{}, awsapi.Errorf(awsapi.CodeInvalidLookupAttributes, "You can specify only one lookup attribute; the request has %d.", len(req.LookupAttributes))
	}
	if req.StartTime != nil {
		t := req.StartTime.Time
		q.Start = &t
	}
	if req.EndTime != nil {
		t := req.EndTime.Time
		q.End = &t
	}
	if q.Start != nil && q.End != nil && q.Start.After(*q.End) {
		return Query{}, awsapi.Errorf(awsapi.CodeInvalidTimeRange, "Start time occurs after the end time. Specify a StartTime that is before or equal to the EndTime.")
	}
	if req.NextToken != nil {
		q.NextToken = *req.NextToken
	}
	return q, nil
}

func missingMember(a lookupAttribute) string {
	if a.AttributeKey == nil {
		return "attributeKey"
	}
	return "attributeValue"
}

// LookupEventsOp is the LookupEvents operation over s.
func LookupEventsOp(s *Searcher) awsapi.Op {
	return awsapi.Op{
		ReadOnly: true,
		Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			q, err := ParseLookup(c)
			if err != nil {
				return nil, err
			}
			page, err := s.Lookup(q)
			switch {
			case errors.Is(err, ErrInvalidNextToken):
				return nil, awsapi.Errorf(awsapi.CodeInvalidNextToken, "A token that was previously used in a request with different parameters was specified. Use the token only with the parameters it was issued for.")
			case errors.Is(err, ErrInvalidTimeRange):
				return nil, awsapi.Errorf(awsapi.CodeInvalidTimeRange, "Start time occurs after the end time.")
			case err != nil:
				return nil, err
			}
			out := LookupResponse{Events: make([]LookupEvent, len(page.Events)), NextToken: page.NextToken}
			for i, e := range page.Events {
				out.Events[i] = ToLookupEvent(e)
			}
			return out, nil
		},
	}
}

// ToLookupEvent renders an envelope as LookupEvents returns it.
func ToLookupEvent(e *event.Envelope) LookupEvent {
	le := LookupEvent{
		EventID:         e.EventID,
		EventName:       e.EventName,
		AccessKeyID:     e.AccessKeyID,
		EventTime:       awsapi.Time{Time: e.EventTime},
		EventSource:     e.EventSource,
		Username:        e.Username,
		Resources:       e.Resources,
		CloudTrailEvent: string(e.Raw),
	}
	if e.Category == event.Management {
		le.ReadOnly = "false"
		if e.ReadOnly {
			le.ReadOnly = "true"
		}
	}
	if le.Resources == nil {
		le.Resources = []event.Resource{}
	}
	return le
}
