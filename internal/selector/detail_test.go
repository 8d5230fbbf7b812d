package selector

import (
	"errors"
	"reflect"
	"testing"
)

func TestFillDetail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record string
		want   Event
	}{
		{
			name: "network activity record",
			record: `{"eventVersion":"1.09","userIdentity":{"type":"AWSAccount","principalId":"AKIAIOSFODNN7EXAMPLE","accountId":"777788889999"},
				"eventSource":"kms.amazonaws.com","eventName":"ListKeys","errorCode":"VpceAccessDenied",
				"eventType":"AwsVpceEvent","vpcEndpointId":"vpce-EXAMPLE08c1b6b9b7","eventCategory":"NetworkActivity"}`,
			want: Event{EventType: "AwsVpceEvent", ErrorCode: "VpceAccessDenied", VpcEndpointID: "vpce-EXAMPLE08c1b6b9b7"},
		},
		{
			name: "console data event",
			record: `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice"},
				"eventType":"AwsApiCall","sessionCredentialFromConsole":"true",
				"resources":[{"accountId":"111122223333","type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},
				             {"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"}]}`,
			want: Event{EventType: "AwsApiCall", UserIdentityARN: "arn:aws:sts::111122223333:assumed-role/Admin/alice",
				SessionCredentialFromConsole: "true",
				Resources:                    []Resource{{Type: s3Object, ARN: "arn:aws:s3:::b/k"}, {Type: s3Bucket, ARN: "arn:aws:s3:::b"}}},
		},
		{
			name:   "boolean sessionCredentialFromConsole, ARNPrefix",
			record: `{"sessionCredentialFromConsole":false,"resources":[{"type":"AWS::S3::Object","ARNPrefix":"arn:aws:s3:::b/logs/"}]}`,
			want:   Event{SessionCredentialFromConsole: "false", Resources: []Resource{{Type: s3Object, ARN: "arn:aws:s3:::b/logs/"}}},
		},
		{
			name:   "members of the wrong type read as absent",
			record: `{"eventType":1,"errorCode":null,"userIdentity":"x","vpcEndpointId":[],"sessionCredentialFromConsole":{},"resources":[7,{"type":2}]}`,
			want:   Event{Resources: []Resource{{}}},
		},
		{
			name:   "resources not a list",
			record: `{"resources":{"type":"AWS::S3::Object"}}`,
			want:   Event{},
		},
	} {
		// Start from a used Event: every detail field must be overwritten.
		e := Event{Category: "Data", EventName: "keep", EventType: "old", ErrorCode: "old", UserIdentityARN: "old",
			VpcEndpointID: "old", SessionCredentialFromConsole: "old", Resources: []Resource{{Type: "old", ARN: "old"}}}
		if err := FillDetail(&e, []byte(tc.record)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tc.want.Category, tc.want.EventName = "Data", "keep"
		if len(tc.want.Resources) == 0 {
			tc.want.Resources = e.Resources[:0]
		}
		if !reflect.DeepEqual(e, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, e, tc.want)
		}
	}
}

func TestFillDetailRefuses(t *testing.T) {
	for _, raw := range []string{``, `[]`, `"record"`, `{"a":`, `null`} {
		var e Event
		if err := FillDetail(&e, []byte(raw)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("FillDetail(%q) = %v, want ErrInvalidRecord", raw, err)
		}
	}
}

func TestFillDetailDoesNotAlias(t *testing.T) {
	raw := []byte(`{"eventType":"AwsApiCall","resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}]}`)
	var e Event
	if err := FillDetail(&e, raw); err != nil {
		t.Fatal(err)
	}
	// Parsing another record reuses the pooled parser's buffers.
	var other Event
	_ = FillDetail(&other, []byte(`{"eventType":"XXXXXXXXXX","resources":[{"type":"XXXXXXXXXXXXXXX","ARN":"XXXXXXXXXXXXXXXX"}]}`))
	for i := range raw {
		raw[i] = 'Z'
	}
	if e.EventType != "AwsApiCall" || e.Resources[0].ARN != "arn:aws:s3:::b/k" {
		t.Errorf("strings alias the input or the parser: %+v", e)
	}
}

func FuzzFillDetail(f *testing.F) {
	for _, seed := range []string{
		`{"eventType":"AwsApiCall","userIdentity":{"arn":"arn:aws:iam::111122223333:user/a"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}]}`,
		`{"sessionCredentialFromConsole":true,"resources":[{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"}],"eventCategory":"Data"}`,
		`{"resources":[{"ARNPrefix":"x"},1,null,[]],"vpcEndpointId":"vpce-1","errorCode":"VpceAccessDenied"}`,
		`{"userIdentity":null}`,
		`[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	m := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Data"}},
		{Field: "resources.type", Equals: []string{s3Object}},
		{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::b/"}, NotEndsWith: []string{"/"}},
		{Field: "userIdentity.arn", NotStartsWith: []string{"arn:aws:sts::"}},
		{Field: "sessionCredentialFromConsole", NotEquals: []string{"true"}},
	}}})
	basic := Compile([]EventSelector{{DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3:::b/"}}}}}, nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := Event{Category: "Data"}
		if err := FillDetail(&e, raw); err != nil {
			return
		}
		m.Match(&e)
		basic.Match(&e)
	})
}
