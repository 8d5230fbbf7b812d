// Package ingest brings existing CloudTrail records into cairn: the
// PutEvents operation that appends them to the ledger, and the reader that
// finds records in files and trees of AWS's S3 layout for `cairn ingest`.
package ingest

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/ledger"
)

// Target is the X-Amz-Target prefix of cairn's own operations.
const Target = "Cairn_20261101"

// PutEventsRequest is the body of PutEvents.
type PutEventsRequest struct {
	// DefaultAccountId is the account of records without recipientAccountId
	// (the oldest eventVersions); empty means the caller's account.
	DefaultAccountID string            `json:"DefaultAccountId,omitempty"`
	Records          []json.RawMessage `json:"Records"`
}

// Failure is one record PutEvents refused.
type Failure struct {
	Index        int    `json:"Index"`
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// PutEventsResponse says what became of each record. Records neither
// failed nor duplicates were appended; all of them are durable.
type PutEventsResponse struct {
	Accepted   int       `json:"Accepted"`
	Duplicates int       `json:"Duplicates"`
	Failed     []Failure `json:"Failed"`
}

// MaxRecordsPerCall bounds one PutEvents call.
const MaxRecordsPerCall = 10000

// Appender is what PutEvents needs of the ledger.
type Appender interface {
	Append(ctx context.Context, entries []ledger.Entry) ([]ledger.Result, error)
}

// PutEventsOp appends CloudTrail records. The administrator may write for
// any account; any other caller only for its own.
func PutEventsOp(l Appender) awsapi.Op {
	return awsapi.Op{
		Data: true,
		Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
			req, records, err := splitRequest(c.Body)
			if err != nil {
				return nil, awsapi.Errorf(awsapi.CodeSerialization, "The request body is not a valid PutEvents request: %v.", err)
			}
			if len(records) > MaxRecordsPerCall {
				return nil, awsapi.Errorf(awsapi.CodeValidation, "A PutEvents call takes at most %d records; this one has %d.", MaxRecordsPerCall, len(records))
			}
			def := req.DefaultAccountID
			if def == "" {
				def = c.AccountID
			}
			if !event.ValidAccountID(def) {
				return nil, awsapi.Errorf(awsapi.CodeValidation, "DefaultAccountId %q is not a 12-digit account ID.", def)
			}
			resp := PutEventsResponse{Failed: []Failure{}}
			entries := make([]ledger.Entry, 0, len(records))
			for i, raw := range records {
				// splitRequest validated the body, and so each record.
				e, err := event.ParseValidated(raw, event.Defaults{AccountID: def})
				if err != nil {
					resp.Failed = append(resp.Failed, Failure{Index: i, ErrorCode: awsapi.CodeInvalidRecord, ErrorMessage: recordMessage(err)})
					continue
				}
				if !c.Principal.Admin && e.AccountID != c.AccountID {
					resp.Failed = append(resp.Failed, Failure{Index: i, EventID: e.EventID, ErrorCode: awsapi.CodeRecordAccessDenied,
						ErrorMessage: "Account " + c.AccountID + " may not write events of account " + e.AccountID + "."})
					continue
				}
				v, err := e.MarshalBinary()
				if err != nil {
					return nil, err
				}
				entries = append(entries, ledger.Entry{Account: e.AccountID, ID: e.EventID, Value: v})
			}
			results, err := l.Append(ctx, entries)
			if err != nil {
				if errors.Is(err, ledger.ErrClosed) {
					return nil, &awsapi.Error{Code: awsapi.CodeServiceUnavailable, Message: "cairn is shutting down; retry the call.", Status: 503}
				}
				return nil, err
			}
			for _, r := range results {
				if r.Duplicate {
					resp.Duplicates++
				} else {
					resp.Accepted++
				}
			}
			return resp, nil
		},
	}
}

func recordMessage(err error) string {
	msg := err.Error()
	const p = "invalid record: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}
