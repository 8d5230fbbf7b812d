package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cairn-audit/cairn/internal/auth"
	"github.com/cairn-audit/cairn/internal/awsapi"
)

// call runs one operation as account acct (signed by acct's root key, or
// by the administrator's acting on acct) and returns the result as JSON.
func call(t *testing.T, ops map[string]awsapi.Op, op, acct string, admin bool, body string) (map[string]any, *awsapi.Error) {
	t.Helper()
	signer := acct
	if admin {
		signer = "999999999999"
	}
	c := &awsapi.Call{
		Operation: op, AccountID: acct, Body: []byte(body),
		Principal: auth.Principal{Key: auth.Key{AccountID: signer}, Admin: admin},
	}
	res, err := ops[op].Handle(t.Context(), c)
	if err != nil {
		var ae *awsapi.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: not an API error: %v", op, err)
		}
		return nil, ae
	}
	if res == nil {
		return map[string]any{}, nil
	}
	b, _ := json.Marshal(res)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out, nil
}

func wantCode(t *testing.T, what string, err *awsapi.Error, code string) {
	t.Helper()
	if err == nil || err.Code != code {
		t.Errorf("%s: got %v, want %s", what, err, code)
	}
}

const (
	owner    = "111111111111"
	stranger = "222222222222"
)

func TestOps(t *testing.T) {
	r, mem := newRegistry(t)
	ops := Ops(r)
	for name, op := range ops {
		if readOnly := name == "ListBuckets" || name == "GetBucketPolicy" || name == "ListObjects" || name == "GetObject"; op.ReadOnly != readOnly {
			t.Errorf("%s: ReadOnly = %v", name, op.ReadOnly)
		}
	}

	out, err := call(t, ops, "CreateBucket", owner, false, `{"Bucket":"trail-logs","ObjectLockEnabled":true}`)
	if err != nil || out["Name"] != "trail-logs" || out["ObjectLockEnabled"] != true {
		t.Fatalf("CreateBucket: %v %v", out, err)
	}
	_, err = call(t, ops, "CreateBucket", stranger, false, `{"Bucket":"trail-logs"}`)
	wantCode(t, "CreateBucket(taken)", err, awsapi.CodeBucketAlreadyExists)
	_, err = call(t, ops, "CreateBucket", owner, false, `{"Bucket":"Bad_Name"}`)
	wantCode(t, "CreateBucket(Bad_Name)", err, awsapi.CodeInvalidBucketName)
	if err.Message != "The specified bucket is not valid." {
		t.Errorf("message %q", err.Message)
	}
	_, err = call(t, ops, "CreateBucket", owner, false, `[]`)
	wantCode(t, "CreateBucket(not an object)", err, awsapi.CodeSerialization)
	call(t, ops, "CreateBucket", stranger, false, `{"Bucket":"stranger-logs"}`)

	out, _ = call(t, ops, "ListBuckets", owner, false, `{}`)
	if bs := out["Buckets"].([]any); len(bs) != 1 || bs[0].(map[string]any)["Name"] != "trail-logs" || bs[0].(map[string]any)["Owner"] != owner {
		t.Errorf("ListBuckets(owner) = %v", out)
	}
	// The administrator acting on an account sees that account's buckets
	// only, and without acting on one, its own (none).
	out, _ = call(t, ops, "ListBuckets", stranger, true, `{}`)
	if bs := out["Buckets"].([]any); len(bs) != 1 || bs[0].(map[string]any)["Name"] != "stranger-logs" {
		t.Errorf("ListBuckets(admin as stranger) = %v", out)
	}
	out, _ = call(t, ops, "ListBuckets", "999999999999", true, `{}`)
	if bs := out["Buckets"].([]any); len(bs) != 0 {
		t.Errorf("ListBuckets(admin) = %v", out)
	}

	for _, c := range []struct{ op, body string }{
		{"PutBucketPolicy", `{"Bucket":"trail-logs","Policy":""}`},
		{"GetBucketPolicy", `{"Bucket":"trail-logs"}`},
		{"AllowBucketAccount", `{"Bucket":"trail-logs","AccountId":"222222222222"}`},
		{"ListObjects", `{"Bucket":"trail-logs"}`},
		{"GetObject", `{"Bucket":"trail-logs","Key":"k"}`},
	} {
		_, err := call(t, ops, c.op, stranger, false, c.body)
		wantCode(t, c.op+" by a stranger", err, awsapi.CodeAccessDenied)
		if err != nil && err.Message != "Access Denied" {
			t.Errorf("message %q", err.Message)
		}
		_, err = call(t, ops, c.op, owner, false, `{"Bucket":"no-such-bucket","Key":"k","AccountId":"222222222222"}`)
		wantCode(t, c.op+" of an unknown bucket", err, awsapi.CodeNoSuchBucket)
		if err != nil && err.Message != "The specified bucket does not exist" {
			t.Errorf("message %q", err.Message)
		}
	}

	pol := `{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::trail-logs/AWSLogs/333333333333/*"}]}`
	if _, err := call(t, ops, "PutBucketPolicy", owner, false, mustJSON(map[string]string{"Bucket": "trail-logs", "Policy": pol})); err != nil {
		t.Fatal(err)
	}
	out, _ = call(t, ops, "GetBucketPolicy", owner, false, `{"Bucket":"trail-logs"}`)
	if out["Policy"] != pol {
		t.Errorf("GetBucketPolicy = %v", out)
	}
	_, err = call(t, ops, "PutBucketPolicy", owner, false, `{"Bucket":"trail-logs","Policy":"{\"Statement\":[]}"}`)
	wantCode(t, "PutBucketPolicy(invalid)", err, awsapi.CodeMalformedPolicy)

	if _, err := call(t, ops, "AllowBucketAccount", owner, false, `{"Bucket":"trail-logs","AccountId":"222222222222"}`); err != nil {
		t.Fatal(err)
	}
	_, err = call(t, ops, "AllowBucketAccount", owner, false, `{"Bucket":"trail-logs","AccountId":"22"}`)
	wantCode(t, "AllowBucketAccount(bad account)", err, awsapi.CodeValidation)
	if !r.CanDeliver("trail-logs", stranger, "", "AWSLogs/222222222222/x") || !r.CanDeliver("trail-logs", "333333333333", "", "AWSLogs/333333333333/x") {
		t.Error("grants not in force")
	}

	ctx := t.Context()
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		mem.Put(ctx, "trail-logs", k, []byte(k), PutOptions{ContentType: "application/json", Metadata: map[string]string{"signature": "ab"}})
	}
	out, err = call(t, ops, "ListObjects", owner, false, `{"Bucket":"trail-logs","Prefix":"a/","MaxKeys":2}`)
	if err != nil || out["IsTruncated"] != true || len(out["Contents"].([]any)) != 2 {
		t.Fatalf("ListObjects page 1 = %v, %v", out, err)
	}
	out, _ = call(t, ops, "ListObjects", owner, false, `{"Bucket":"trail-logs","Prefix":"a/","StartAfter":"a/2","MaxKeys":2}`)
	if c := out["Contents"].([]any); out["IsTruncated"] != false || len(c) != 1 || c[0].(map[string]any)["Key"] != "a/3" || c[0].(map[string]any)["Size"] != 3.0 {
		t.Errorf("ListObjects page 2 = %v", out)
	}
	out, err = call(t, ops, "GetObject", owner, false, `{"Bucket":"trail-logs","Key":"b/1"}`)
	if err != nil || out["Body"] != "Yi8x" || out["Metadata"].(map[string]any)["signature"] != "ab" {
		t.Errorf("GetObject = %v, %v", out, err)
	}
	_, err = call(t, ops, "GetObject", owner, false, `{"Bucket":"trail-logs","Key":"b/2"}`)
	wantCode(t, "GetObject(missing)", err, awsapi.CodeNoSuchKey)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestRetentionOps(t *testing.T) {
	r, _ := newRegistry(t)
	ops := Ops(r)
	_, err := call(t, ops, "CreateBucket", owner, false, `{"Bucket":"plain-logs","RetentionDays":7}`)
	wantCode(t, "CreateBucket(retention without Object Lock)", err, awsapi.CodeInvalidRequest)
	if _, ok := r.Get("plain-logs"); ok {
		t.Error("a refused CreateBucket made the bucket")
	}
	_, err = call(t, ops, "CreateBucket", owner, false, `{"Bucket":"locked-logs","ObjectLockEnabled":true,"RetentionDays":36501}`)
	wantCode(t, "CreateBucket(retention over 100 years)", err, awsapi.CodeInvalidArgument)
	out, err := call(t, ops, "CreateBucket", owner, false, `{"Bucket":"locked-logs","ObjectLockEnabled":true,"RetentionDays":30}`)
	if err != nil || out["RetentionDays"] != 30.0 {
		t.Fatalf("CreateBucket with retention: %v %v", out, err)
	}
	call(t, ops, "CreateBucket", owner, false, `{"Bucket":"plain-logs"}`)

	_, err = call(t, ops, "PutBucketRetention", owner, false, `{"Bucket":"plain-logs","RetentionDays":1}`)
	wantCode(t, "PutBucketRetention(no Object Lock)", err, awsapi.CodeInvalidRequest)
	_, err = call(t, ops, "PutBucketRetention", stranger, false, `{"Bucket":"locked-logs","RetentionDays":1}`)
	wantCode(t, "PutBucketRetention(stranger)", err, awsapi.CodeAccessDenied)
	_, err = call(t, ops, "PutBucketRetention", owner, false, `{"Bucket":"locked-logs","RetentionDays":-1}`)
	wantCode(t, "PutBucketRetention(-1)", err, awsapi.CodeInvalidArgument)
	if _, err := call(t, ops, "PutBucketRetention", owner, false, `{"Bucket":"locked-logs","RetentionDays":365}`); err != nil {
		t.Fatal(err)
	}
	if keep, _ := r.Retention("locked-logs"); keep.Hours() != 365*24 {
		t.Errorf("retention after PutBucketRetention: %v", keep)
	}
	out, _ = call(t, ops, "ListBuckets", owner, false, `{}`)
	for _, b := range out["Buckets"].([]any) {
		b := b.(map[string]any)
		if want := map[string]any{"locked-logs": 365.0, "plain-logs": nil}[b["Name"].(string)]; b["RetentionDays"] != want {
			t.Errorf("ListBuckets: %s has RetentionDays %v, want %v", b["Name"], b["RetentionDays"], want)
		}
	}
}

// TestGetObjectIsBounded: an object over the bound is refused, not read
// whole into the answer.
func TestGetObjectIsBounded(t *testing.T) {
	ctx := context.Background()
	m := NewMem()
	if err := m.CreateBucket(ctx, "bounded-get", false); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "bounded-get", "big", make([]byte, 2048), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "bounded-get", "small", []byte("ok"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var ae *awsapi.Error
	if _, err := getBounded(ctx, m, "bounded-get", "big", 1024); !errors.As(err, &ae) || ae.Code != awsapi.CodeInvalidRequest {
		t.Fatalf("2 KB object under a 1 KB bound: %v", err)
	}
	obj, err := getBounded(ctx, m, "bounded-get", "small", 1024)
	if err != nil || string(obj.Body) != "ok" || obj.Size != 2 {
		t.Fatalf("small object: %v %+v", err, obj)
	}
}
