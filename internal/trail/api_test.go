package trail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/store"
)

type allBuckets struct{}

func (allBuckets) ValidName(string) bool                          { return true }
func (allBuckets) Exists(string) bool                             { return true }
func (allBuckets) CanDeliver(string, string, string, string) bool { return true }

type noTopics struct{}

func (noTopics) Resolve(string, string, string) (string, bool) { return "", false }

type noOrgs struct{}

func (noOrgs) OrgOf(string) (Org, bool) { return Org{}, false }

type noStatus struct{}

func (noStatus) Status(string) DeliveryStatus { return DeliveryStatus{} }

func newAPI(t *testing.T) *API {
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return &API{Store: s, Orgs: noOrgs{}, Buckets: allBuckets{}, Topics: noTopics{}, Status: noStatus{},
		Position: func() uint64 { return 0 }, Now: time.Now, PageSize: 2}
}

func call(t *testing.T, a *API, region, op string, in any) (map[string]any, error) {
	t.Helper()
	body, _ := json.Marshal(in)
	out, err := a.Ops()[op].Handle(context.Background(), &awsapi.Call{Operation: op, AccountID: "123456789012", Region: region, Body: body})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(out)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	return m, nil
}

func code(err error) string {
	var e *awsapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestListTrailsPages(t *testing.T) {
	a := newAPI(t)
	for i := range 5 {
		if _, err := call(t, a, "us-east-1", "CreateTrail", map[string]any{"Name": fmt.Sprintf("trail-%d", i), "S3BucketName": "b"}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		out, err := call(t, a, "us-east-1", "ListTrails", map[string]any{"NextToken": token})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range out["Trails"].([]any) {
			names = append(names, tr.(map[string]any)["Name"].(string))
		}
		next, _ := out["NextToken"].(string)
		if next == "" {
			if pages != 2 {
				t.Fatalf("5 trails in pages of 2 took %d pages", pages+1)
			}
			break
		}
		token = next
	}
	if fmt.Sprint(names) != "[trail-0 trail-1 trail-2 trail-3 trail-4]" {
		t.Fatalf("pages held %v", names)
	}
	if _, err := call(t, a, "us-east-1", "ListTrails", map[string]any{"NextToken": "!!"}); code(err) != awsapi.CodeInvalidNextToken {
		t.Fatalf("a bad token: %v", err)
	}
	// A sixth trail is refused, and so is a multi-Region trail elsewhere
	// whose shadow would be the sixth here.
	if _, err := call(t, a, "us-east-1", "CreateTrail", map[string]any{"Name": "trail-5", "S3BucketName": "b"}); code(err) != awsapi.CodeMaximumNumberOfTrailsExceeded {
		t.Fatalf("a sixth trail: %v", err)
	}
	if _, err := call(t, a, "eu-west-1", "CreateTrail", map[string]any{"Name": "everywhere", "S3BucketName": "b", "IsMultiRegionTrail": true}); code(err) != awsapi.CodeMaximumNumberOfTrailsExceeded {
		t.Fatalf("a multi-Region trail whose shadow would be the sixth: %v", err)
	}
}

func TestTagsStayInTheirRegion(t *testing.T) {
	a := newAPI(t)
	out, err := call(t, a, "us-west-2", "CreateTrail", map[string]any{"Name": "everywhere", "S3BucketName": "b", "IsMultiRegionTrail": true, "TagsList": []Tag{{Key: "team", Value: "sec"}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out["TrailARN"].(string)
	if _, err := call(t, a, "us-east-1", "ListTags", map[string]any{"ResourceIdList": []string{arn}}); code(err) != awsapi.CodeCloudTrailARNInvalid {
		t.Fatalf("ListTags of a shadow: %v", err)
	}
	if _, err := call(t, a, "us-east-1", "AddTags", map[string]any{"ResourceId": arn, "TagsList": []Tag{{Key: "k"}}}); code(err) != awsapi.CodeInvalidHomeRegion {
		t.Fatalf("AddTags on a shadow: %v", err)
	}
	other := "arn:aws:cloudtrail:us-west-2:999999999999:trail/everywhere"
	if _, err := call(t, a, "us-west-2", "ListTags", map[string]any{"ResourceIdList": []string{other}}); code(err) != awsapi.CodeCloudTrailARNInvalid {
		t.Fatalf("ListTags of another account's ARN: %v", err)
	}
	got, err := call(t, a, "us-west-2", "ListTags", map[string]any{"ResourceIdList": []string{arn}})
	if err != nil || fmt.Sprint(got["ResourceTagList"]) != fmt.Sprintf("[map[ResourceId:%s TagsList:[map[Key:team Value:sec]]]]", arn) {
		t.Fatalf("ListTags at home: %v %v", got, err)
	}
}

func TestPrefixRules(t *testing.T) {
	for p, ok := range map[string]bool{"": true, "logs": true, "a/b": true, "logs/": false, "/logs": false, "a//b": false, "a/./b": false, "a/../b": false} {
		if got := validatePrefix(p) == ""; got != ok {
			t.Errorf("prefix %q accepted=%v", p, got)
		}
	}
}

type quarantineStatus struct{}

func (quarantineStatus) Status(string) DeliveryStatus {
	return DeliveryStatus{QuarantinedRecords: 3}
}

// TestTrailStatusShowsQuarantinedRecords: cairn's own member, which AWS's
// clients ignore, carries the count; the AWS members are unchanged.
func TestTrailStatusShowsQuarantinedRecords(t *testing.T) {
	a := newAPI(t)
	if _, err := call(t, a, "us-east-1", "CreateTrail", map[string]any{"Name": "quarantining", "S3BucketName": "b"}); err != nil {
		t.Fatal(err)
	}
	out, err := call(t, a, "us-east-1", "GetTrailStatus", map[string]any{"Name": "quarantining"})
	if err != nil || out["QuarantinedRecordCount"] != 0.0 {
		t.Fatalf("a trail without quarantined records: %v %v", out, err)
	}
	a.Status = quarantineStatus{}
	out, err = call(t, a, "us-east-1", "GetTrailStatus", map[string]any{"Name": "quarantining"})
	if err != nil || out["QuarantinedRecordCount"] != 3.0 || out["LatestDeliveryError"] != nil {
		t.Fatalf("a trail with 3 quarantined records: %v %v", out, err)
	}
}
