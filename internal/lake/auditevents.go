package lake

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

// The cloudtrail-data service's errors: request errors (shape names, no
// "Exception" suffix) and the errorCode of an event that failed.
const (
	EventFieldTooLong      = "FieldTooLong"
	EventFieldNotFound     = "FieldNotFound"
	EventInvalidChecksum   = "InvalidChecksum"
	EventInvalidData       = "InvalidData"
	EventInvalidRecipient  = "InvalidRecipient"
	EventInvalidEventSrc   = "InvalidEventSource"
	EventInternalFailure   = "InternalFailure"
	maxAuditEventsPerCall  = 100
	maxAuditEventsBytes    = 1 << 20
	maxAuditParamsBytes    = 100 * 1024
	maxAuditAdditionalData = 28 * 1024
	// AuditEventVersion is the eventVersion of the envelope cairn puts
	// around an application's event.
	AuditEventVersion = "1.0"
)

var (
	auditIDPattern    = regexp.MustCompile(`^[-_A-Za-z0-9]{1,128}$`)
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:\/-]+$`)
	auditTimePattern  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$`)
)

// AuditEvents serves the cloudtrail-data service's PutAuditEvents: events
// from outside AWS, put through a channel into its event data stores.
type AuditEvents struct {
	Channels *ChannelAPI
	DBs      *Databases
	Now      func() time.Time
}

// Ops returns the service's operations, by name.
func (p *AuditEvents) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{"PutAuditEvents": {Data: true, Handle: p.put}}
}

type auditEvent struct {
	ID                string  `json:"id"`
	EventData         *string `json:"eventData"`
	EventDataChecksum string  `json:"eventDataChecksum"`
}

type auditFailure struct {
	ID           string `json:"id"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

type auditSuccess struct {
	ID      string `json:"id"`
	EventID string `json:"eventID"`
}

func dataError(code, msg string) *awsapi.Error {
	return awsapi.Errorf(code, "%s", msg)
}

func (p *AuditEvents) put(ctx context.Context, c *awsapi.Call) (any, error) {
	ref := c.Query.Get("channelArn")
	if ref == "" {
		return nil, dataError(awsapi.CodeInvalidChannelARN, "channelArn is required.")
	}
	if ext := c.Query.Get("externalId"); ext != "" && (len(ext) < 2 || len(ext) > 1224 || !externalIDPattern.MatchString(ext)) {
		return nil, awsapi.Errorf(awsapi.CodeValidation, "externalId must be 2 to 1224 characters: letters, digits and +=,.@:/-_.")
	}
	ch, err := p.Channels.Find(c.AccountID, c.Region, ref)
	if err != nil {
		if e, ok := err.(*awsapi.Error); ok && e.Code == awsapi.CodeChannelARNInvalid {
			return nil, dataError(awsapi.CodeInvalidChannelARN, "The channel ARN "+ref+" is not valid.")
		}
		return nil, dataError(awsapi.CodeDataChannelNotFound, "The channel "+ref+" was not found.")
	}
	events, err := decodeAuditEvents(c)
	if err != nil {
		return nil, err
	}
	var stores []*EventDataStore
	for _, d := range ch.Destinations {
		id, _, _, ok := ParseRef(d.Location)
		if !ok {
			continue
		}
		// Only the channel owner's stores take its events.
		s, ok := p.Channels.API.Stores.Get(id)
		if !ok || s.Status == StatusPendingDeletion || s.Account != ch.Account {
			continue
		}
		stores = append(stores, s)
	}
	if len(stores) == 0 {
		return nil, dataError(awsapi.CodeChannelUnsupportedSchema, "The channel "+ch.ARN()+" has no event data store that takes its events.")
	}

	now := p.now().UTC()
	out, err := checkAuditEvents(events, ch, c.Region, now, uuid.NewString)
	if err != nil {
		return nil, err
	}
	if len(out.records) > 0 {
		// Every destination has the events, committed, before the
		// answer names them.
		for _, s := range stores {
			db, err := p.DBs.For(ctx, s.Account)
			if err != nil {
				return nil, err
			}
			if err := db.EnsureStore(ctx, s); err != nil {
				return nil, err
			}
			if err := db.Append(ctx, s.Table(), out.records); err != nil {
				p.Channels.Channels.Ingested(ch.ID, now, out.lastID, EventInternalFailure, false)
				return nil, err
			}
		}
	}
	code := ""
	if len(out.Failed) > 0 {
		code = out.Failed[len(out.Failed)-1].ErrorCode
	}
	p.Channels.Channels.Ingested(ch.ID, now, out.lastID, code, len(out.records) > 0)
	return out, nil
}

// decodeAuditEvents reads a PutAuditEvents body: 1 to 100 events in at
// most 1 MB, each with an id unique in the call.
func decodeAuditEvents(c *awsapi.Call) ([]auditEvent, error) {
	if len(c.Body) > maxAuditEventsBytes {
		return nil, awsapi.Errorf(awsapi.CodeValidation, "The request is larger than 1 MB.")
	}
	var req struct {
		AuditEvents []auditEvent `json:"auditEvents"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if n := len(req.AuditEvents); n < 1 || n > maxAuditEventsPerCall {
		return nil, awsapi.Errorf(awsapi.CodeValidation, "auditEvents must hold 1 to %d events.", maxAuditEventsPerCall)
	}
	seen := map[string]bool{}
	for _, e := range req.AuditEvents {
		if !auditIDPattern.MatchString(e.ID) {
			return nil, awsapi.Errorf(awsapi.CodeValidation, "Audit event id %q must be 1 to 128 letters, digits, - and _.", e.ID)
		}
		if seen[e.ID] {
			return nil, dataError(awsapi.CodeDuplicatedAuditEventId, "The audit event id "+e.ID+" appears more than once in the request.")
		}
		seen[e.ID] = true
	}
	return req.AuditEvents, nil
}

// auditBatch is what the events of one call become: the records to add,
// and the answer.
type auditBatch struct {
	Successful []auditSuccess `json:"successful"`
	Failed     []auditFailure `json:"failed"`
	records    []json.RawMessage
	lastID     string
}

// checkAuditEvents checks each event on its own and wraps each that
// passes, under an event ID from newID.
func checkAuditEvents(events []auditEvent, ch *Channel, region string, now time.Time, newID func() string) (*auditBatch, error) {
	out := &auditBatch{Successful: []auditSuccess{}, Failed: []auditFailure{}}
	for _, e := range events {
		rec, code, msg := envelope(e, ch, region, now)
		if code != "" {
			out.Failed = append(out.Failed, auditFailure{ID: e.ID, ErrorCode: code, ErrorMessage: msg})
			continue
		}
		eventID := newID()
		b, err := json.Marshal(withID(rec, eventID))
		if err != nil {
			return nil, err
		}
		out.records = append(out.records, b)
		out.Successful = append(out.Successful, auditSuccess{ID: e.ID, EventID: eventID})
		out.lastID = eventID
	}
	return out, nil
}

func (p *AuditEvents) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// auditRecord is an event from outside AWS as a store keeps it:
// CloudTrail's envelope around the application's eventData.
type auditRecord struct {
	EventVersion       string          `json:"eventVersion"`
	EventCategory      string          `json:"eventCategory"`
	EventType          string          `json:"eventType"`
	EventID            string          `json:"eventID"`
	EventTime          string          `json:"eventTime"`
	AWSRegion          string          `json:"awsRegion"`
	RecipientAccountID string          `json:"recipientAccountId"`
	Addendum           json.RawMessage `json:"addendum"`
	Metadata           struct {
		IngestionTime string `json:"ingestionTime"`
		ChannelARN    string `json:"channelARN"`
	} `json:"metadata"`
	EventData json.RawMessage `json:"eventData"`
}

func withID(r *auditRecord, id string) *auditRecord {
	r.EventID = id
	return r
}

// envelope checks one event against the eventData schema and wraps it,
// or says why it failed.
func envelope(e auditEvent, ch *Channel, region string, now time.Time) (*auditRecord, string, string) {
	if e.EventData == nil {
		return nil, EventFieldNotFound, "eventData is required."
	}
	data := *e.EventData
	if e.EventDataChecksum != "" {
		sum := sha256.Sum256([]byte(data))
		if e.EventDataChecksum != base64.StdEncoding.EncodeToString(sum[:]) {
			return nil, EventInvalidChecksum, "eventDataChecksum is not the base64 SHA-256 of eventData."
		}
	}
	var d struct {
		Version      *string `json:"version"`
		UserIdentity *struct {
			Type        *string         `json:"type"`
			PrincipalID *string         `json:"principalId"`
			Details     json.RawMessage `json:"details"`
		} `json:"userIdentity"`
		UserAgent           *string         `json:"userAgent"`
		EventSource         *string         `json:"eventSource"`
		EventName           *string         `json:"eventName"`
		EventTime           *string         `json:"eventTime"`
		UID                 *string         `json:"UID"`
		RequestParameters   json.RawMessage `json:"requestParameters"`
		ResponseElements    json.RawMessage `json:"responseElements"`
		ErrorCode           *string         `json:"errorCode"`
		ErrorMessage        *string         `json:"errorMessage"`
		SourceIPAddress     *string         `json:"sourceIPAddress"`
		RecipientAccountID  *string         `json:"recipientAccountId"`
		AdditionalEventData json.RawMessage `json:"additionalEventData"`
	}
	if !json.Valid([]byte(data)) || json.Unmarshal([]byte(data), &d) != nil {
		return nil, EventInvalidData, "eventData is not a JSON object of the audit event schema."
	}
	required := []struct {
		name string
		v    *string
		max  int
	}{
		{"version", d.Version, 256}, {"eventSource", d.EventSource, 1024}, {"eventName", d.EventName, 1024},
		{"eventTime", d.EventTime, 64}, {"UID", d.UID, 1024}, {"recipientAccountId", d.RecipientAccountID, 12},
	}
	if d.UserIdentity == nil {
		return nil, EventFieldNotFound, "eventData.userIdentity is required."
	}
	required = append(required, struct {
		name string
		v    *string
		max  int
	}{"userIdentity.type", d.UserIdentity.Type, 128}, struct {
		name string
		v    *string
		max  int
	}{"userIdentity.principalId", d.UserIdentity.PrincipalID, 1024})
	for _, f := range required {
		if f.v == nil || *f.v == "" {
			return nil, EventFieldNotFound, "eventData." + f.name + " is required."
		}
		if utf8.RuneCountInString(*f.v) > f.max {
			return nil, EventFieldTooLong, "eventData." + f.name + " is longer than the schema allows."
		}
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"userAgent", d.UserAgent, 1024}, {"errorCode", d.ErrorCode, 256}, {"errorMessage", d.ErrorMessage, 256}} {
		if f.v != nil && utf8.RuneCountInString(*f.v) > f.max {
			return nil, EventFieldTooLong, "eventData." + f.name + " is longer than the schema allows."
		}
	}
	if len(d.RequestParameters) > maxAuditParamsBytes || len(d.ResponseElements) > maxAuditParamsBytes {
		return nil, EventFieldTooLong, "eventData.requestParameters and responseElements may hold at most 100 KB each."
	}
	if len(d.AdditionalEventData) > maxAuditAdditionalData {
		return nil, EventFieldTooLong, "eventData.additionalEventData may hold at most 28 KB."
	}
	if d.SourceIPAddress != nil && *d.SourceIPAddress != "" && net.ParseIP(*d.SourceIPAddress) == nil {
		return nil, EventInvalidData, "eventData.sourceIPAddress is not an IPv4 or IPv6 address."
	}
	if *d.RecipientAccountID != ch.Account {
		return nil, EventInvalidRecipient, "eventData.recipientAccountId must be the channel owner's account, " + ch.Account + "."
	}
	if !auditTimePattern.MatchString(*d.EventTime) {
		return nil, EventInvalidData, "eventData.eventTime must be yyyy-MM-ddTHH:mm:ss in UTC."
	}
	at, err := time.Parse("2006-01-02T15:04:05", (*d.EventTime)[:19])
	if err != nil {
		return nil, EventInvalidData, "eventData.eventTime must be yyyy-MM-ddTHH:mm:ss in UTC."
	}
	r := &auditRecord{EventVersion: AuditEventVersion, EventCategory: "ActivityAuditLog", EventType: "ActivityLog",
		EventTime: at.UTC().Format("2006-01-02T15:04:05Z"), AWSRegion: region, RecipientAccountID: ch.Account,
		Addendum: json.RawMessage("null"), EventData: json.RawMessage(data)}
	r.Metadata.IngestionTime = now.Format("2006-01-02T15:04:05.000Z")
	r.Metadata.ChannelARN = ch.ARN()
	var compact []byte
	if b, err := json.Marshal(json.RawMessage(data)); err == nil {
		compact = b
		r.EventData = compact
	}
	return r, "", ""
}
