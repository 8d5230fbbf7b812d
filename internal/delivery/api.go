package delivery

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

// ListQuarantinedRecordsRequest is the body of ListQuarantinedRecords.
type ListQuarantinedRecordsRequest struct {
	// TrailName is a trail's ARN, or the name of one of the caller's
	// trails homed in the call's Region; empty means every trail the
	// caller owns (the administrator: every trail).
	TrailName  string `json:"TrailName,omitempty"`
	MaxResults int    `json:"MaxResults,omitempty"`
	NextToken  string `json:"NextToken,omitempty"`
}

// QuarantinedRecordView is one record as ListQuarantinedRecords shows it.
type QuarantinedRecordView struct {
	TrailARN       string      `json:"TrailARN"`
	Sequence       uint64      `json:"Sequence"`
	EventID        string      `json:"EventId"`
	AccountID      string      `json:"AccountId"`
	Region         string      `json:"Region"`
	Reason         string      `json:"Reason"`
	QuarantineTime awsapi.Time `json:"QuarantineTime"`
	// Record is the record as the ledger keeps it, a JSON string as
	// LookupEvents' CloudTrailEvent.
	Record string `json:"Record"`
}

// ListQuarantinedRecordsResult is ListQuarantinedRecords' answer.
type ListQuarantinedRecordsResult struct {
	QuarantinedRecords []QuarantinedRecordView `json:"QuarantinedRecords"`
	NextToken          string                  `json:"NextToken,omitempty"`
}

// maxQuarantinePage bounds a page: each record may be 256 KB.
const maxQuarantinePage = 50

// Ops returns cairn's own operation on delivery: ListQuarantinedRecords,
// the records trails left out of their log files, for the trails' owners
// and the administrator.
func (d *Deliverer) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{"ListQuarantinedRecords": {ReadOnly: true, Handle: d.listQuarantined}}
}

func (d *Deliverer) listQuarantined(ctx context.Context, c *awsapi.Call) (any, error) {
	var req ListQuarantinedRecordsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	limit := req.MaxResults
	if limit == 0 {
		limit = maxQuarantinePage
	}
	if limit < 1 || limit > maxQuarantinePage {
		return nil, awsapi.Errorf(awsapi.CodeValidation, "MaxResults must be between 1 and %d.", maxQuarantinePage)
	}
	var after []byte
	if req.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.NextToken)
		if err != nil || len(b) < 10 || b[0] != store.PrefixQuarantine {
			return nil, awsapi.Errorf(awsapi.CodeInvalidNextToken, "Invalid NextToken: %s", req.NextToken)
		}
		after = b
	}
	ids := map[string]bool{}
	for _, t := range d.trails.All() {
		if !c.Principal.Admin && t.Account != c.AccountID {
			continue
		}
		if req.TrailName != "" && req.TrailName != t.ARN() &&
			(req.TrailName != t.Name || t.Account != c.AccountID || t.HomeRegion != c.Region) {
			continue
		}
		ids[t.ID] = true
	}
	if req.TrailName != "" && len(ids) == 0 {
		name := req.TrailName
		if !strings.HasPrefix(name, "arn:") {
			name = trail.ARN(c.Region, c.AccountID, name)
		}
		return nil, awsapi.Errorf(awsapi.CodeTrailNotFound, "Unknown trail: %s for the user: %s", name, c.AccountID)
	}
	list, next, err := d.Quarantined(func(id string) bool { return ids[id] }, after, limit)
	if err != nil {
		return nil, err
	}
	out := ListQuarantinedRecordsResult{QuarantinedRecords: make([]QuarantinedRecordView, 0, len(list))}
	for _, q := range list {
		raw, err := d.ledger.Get(q.Sequence)
		if err != nil {
			return nil, fmt.Errorf("ledger entry %d: %w", q.Sequence, err)
		}
		var e event.Envelope
		if err := e.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("ledger entry %d: %w", q.Sequence, err)
		}
		out.QuarantinedRecords = append(out.QuarantinedRecords, QuarantinedRecordView{TrailARN: q.TrailARN, Sequence: q.Sequence,
			EventID: q.EventID, AccountID: q.AccountID, Region: q.Region, Reason: q.Reason, QuarantineTime: awsapi.Time{Time: q.Time},
			Record: string(e.Raw)})
	}
	if next != nil {
		out.NextToken = base64.RawURLEncoding.EncodeToString(next)
	}
	return out, nil
}
