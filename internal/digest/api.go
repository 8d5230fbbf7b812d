package digest

import (
	"context"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
)

type listKeysRequest struct {
	StartTime *awsapi.Time
	EndTime   *awsapi.Time
	NextToken string
}

type publicKeyView struct {
	Value             []byte // base64 on the wire
	ValidityStartTime awsapi.Time
	ValidityEndTime   awsapi.Time
	Fingerprint       string
}

// ListPublicKeysOp serves ListPublicKeys: the public keys of the call's
// Region valid at some time in [StartTime, EndTime]. Without times it
// returns the current key, as AWS does; the Region always has one.
func ListPublicKeysOp(r *Keyring, now func() time.Time) awsapi.Op {
	return awsapi.Op{ReadOnly: true, Handle: func(ctx context.Context, c *awsapi.Call) (any, error) {
		var req listKeysRequest
		if err := c.Decode(&req); err != nil {
			return nil, err
		}
		if req.NextToken != "" {
			// AWS reserves NextToken and answers every key in one page.
			return nil, awsapi.Errorf(awsapi.CodeInvalidToken, "Reserved field NextToken must be empty: every key is returned in one page.")
		}
		t := now().UTC()
		cur, err := r.Current(c.Region, t)
		if err != nil {
			return nil, err
		}
		var keys []PublicKey
		if req.StartTime == nil && req.EndTime == nil {
			keys = []PublicKey{cur.PublicKey}
		} else {
			start, end := time.Time{}, t
			if req.StartTime != nil {
				start = req.StartTime.Time
			}
			if req.EndTime != nil {
				end = req.EndTime.Time
			}
			if start.After(end) {
				return nil, awsapi.Errorf(awsapi.CodeInvalidTimeRange, "Occurs if the timestamp values are not valid. Either the start time occurs after the end time, or the time range is outside the range of possible values.")
			}
			keys = r.Public(c.Region, start, end)
		}
		out := make([]publicKeyView, 0, len(keys))
		for _, k := range keys {
			out = append(out, publicKeyView{Value: k.DER, ValidityStartTime: awsapi.Time{Time: k.ValidityStart},
				ValidityEndTime: awsapi.Time{Time: k.ValidityEnd}, Fingerprint: k.Fingerprint()})
		}
		return map[string]any{"PublicKeyList": out}, nil
	}}
}
