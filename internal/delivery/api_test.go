package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/trail"
)

func listQuarantined(t *testing.T, d *Deliverer, account string, admin bool, req ListQuarantinedRecordsRequest) (ListQuarantinedRecordsResult, error) {
	t.Helper()
	body, _ := json.Marshal(req)
	c := &awsapi.Call{Operation: "ListQuarantinedRecords", AccountID: account, Region: "us-east-1", Body: body,
		Principal: auth.Principal{Key: auth.Key{AccountID: account}, Admin: admin}}
	out, err := d.Ops()["ListQuarantinedRecords"].Handle(context.Background(), c)
	if err != nil {
		return ListQuarantinedRecordsResult{}, err
	}
	return out.(ListQuarantinedRecordsResult), nil
}

func apiCode(err error) string {
	var e *awsapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestListQuarantinedRecords: a trail's owner and the administrator see
// the records a trail left out, with the records themselves; nobody else.
func TestListQuarantinedRecords(t *testing.T) {
	f := newFixture(t)
	f.trail("mine", func(t *trail.Trail) { t.IsMultiRegionTrail = true; t.S3KeyPrefix = "a" })
	f.trail("theirs", func(t *trail.Trail) { t.IsMultiRegionTrail = true; t.Account = "222222222222"; t.S3KeyPrefix = "b" })
	var mine []string
	for range 3 {
		mine = append(mine, f.addUnchecked("111111111111", "../../x"))
	}
	f.addUnchecked("222222222222", "../../y")
	d := f.deliverer(Config{})
	if _, err := d.pass(context.Background()); err != nil {
		t.Fatal(err)
	}

	out, err := listQuarantined(t, d, "111111111111", false, ListQuarantinedRecordsRequest{})
	if err != nil || len(out.QuarantinedRecords) != 3 || out.NextToken != "" {
		t.Fatalf("the owner's list: %+v %v", out, err)
	}
	for i, q := range out.QuarantinedRecords {
		var rec map[string]any
		if q.EventID != mine[i] || json.Unmarshal([]byte(q.Record), &rec) != nil || rec["awsRegion"] != "../../x" ||
			!strings.HasSuffix(q.TrailARN, ":111111111111:trail/mine") {
			t.Errorf("record %d: %+v", i, q)
		}
	}
	// By name, by ARN, page by page.
	var got []string
	req := ListQuarantinedRecordsRequest{TrailName: "mine", MaxResults: 2}
	for {
		page, err := listQuarantined(t, d, "111111111111", false, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range page.QuarantinedRecords {
			got = append(got, q.EventID)
		}
		if page.NextToken == "" {
			break
		}
		req.NextToken = page.NextToken
	}
	equal(t, "pages", sorted(got), mine)
	arn := trail.ARN("us-east-1", "222222222222", "theirs")
	if out, err := listQuarantined(t, d, "222222222222", false, ListQuarantinedRecordsRequest{TrailName: arn}); err != nil || len(out.QuarantinedRecords) != 1 {
		t.Fatalf("by ARN: %+v %v", out, err)
	}
	// Another account sees nothing of it, and cannot name it.
	if _, err := listQuarantined(t, d, "111111111111", false, ListQuarantinedRecordsRequest{TrailName: arn}); apiCode(err) != awsapi.CodeTrailNotFound {
		t.Fatalf("another account's trail: %v", err)
	}
	if out, err := listQuarantined(t, d, "333333333333", false, ListQuarantinedRecordsRequest{}); err != nil || len(out.QuarantinedRecords) != 0 {
		t.Fatalf("an account without trails: %+v %v", out, err)
	}
	if out, err := listQuarantined(t, d, "999999999999", true, ListQuarantinedRecordsRequest{}); err != nil || len(out.QuarantinedRecords) != 4 {
		t.Fatalf("the administrator: %+v %v", out, err)
	}
	for _, bad := range []ListQuarantinedRecordsRequest{{NextToken: "!!"}, {NextToken: "AAAA"}, {MaxResults: 51}, {MaxResults: -1}} {
		if _, err := listQuarantined(t, d, "111111111111", false, bad); apiCode(err) == "" {
			t.Errorf("%+v: %v", bad, err)
		}
	}

	// A deleted trail's list goes with it.
	var theirs []*trail.Trail
	for _, tr := range f.trails.All() {
		if tr.Name == "theirs" {
			theirs = append(theirs, tr)
		}
	}
	d.forget(theirs)
	if out, err := listQuarantined(t, d, "999999999999", true, ListQuarantinedRecordsRequest{}); err != nil || len(out.QuarantinedRecords) != 1 {
		t.Fatalf("after the trail's deletion: %+v %v", out, err)
	}
}
