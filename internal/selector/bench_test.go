package selector

import "testing"

// BenchmarkMatch runs on every event of every trail, so it is measured with
// and without the record parse that NeedsDetail asks for.
func BenchmarkMatch(b *testing.B) {
	mgmt := Event{Category: "Management", ReadOnly: false, EventSource: "ec2.amazonaws.com", EventName: "RunInstances"}
	dataRecord := []byte(`{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice",` +
		`"arn":"arn:aws:sts::111122223333:assumed-role/HumanRole/alice","accountId":"111122223333"},` +
		`"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"192.0.2.1","userAgent":"aws-cli/2","requestParameters":{"bucketName":"bucket-1","key":"a/b.txt"},` +
		`"responseElements":null,"requestID":"R","eventID":"E","readOnly":false,"resources":[` +
		`{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::bucket-1/a/b.txt"},` +
		`{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::bucket-1"}],` +
		`"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}`)
	dataHead := Event{Category: "Data", ReadOnly: false, EventSource: "s3.amazonaws.com", EventName: "PutObject"}
	filled := dataHead
	if err := FillDetail(&filled, dataRecord); err != nil {
		b.Fatal(err)
	}

	f := false
	basicMgmt := Compile(nil, nil)
	basicData := Compile([]EventSelector{
		{ReadWriteType: WriteOnly, ExcludeManagementEventSources: []string{"kms.amazonaws.com"}},
		{IncludeManagementEvents: &f, DataResources: []DataResource{
			{Type: "AWS::Lambda::Function", Values: []string{"arn:aws:lambda"}},
			{Type: s3Object, Values: []string{"arn:aws:s3:::bucket-9/", "arn:aws:s3:::bucket-5/", "arn:aws:s3:::bucket-1/a/"}},
		}},
	}, nil)
	advMgmt := Compile(nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
		{Field: "eventCategory", Equals: []string{"Management"}},
		{Field: "readOnly", Equals: []string{"false"}},
		{Field: "eventSource", NotEquals: []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}},
	}}})
	advData := Compile(nil, []AdvancedEventSelector{
		{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Management"}},
		}},
		{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Data"}},
			{Field: "resources.type", Equals: []string{s3Object}},
			{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::bucket-1/"}, NotStartsWith: []string{"arn:aws:s3:::bucket-1/tmp/"}},
			{Field: "eventName", NotEquals: []string{"GetObject", "HeadObject"}},
			{Field: "userIdentity.arn", StartsWith: []string{"arn:aws:sts::111122223333:assumed-role/HumanRole/"}},
		}},
	})

	run := func(name string, m *Matcher, e *Event, want bool) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if m.Match(e) != want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
	withDetail := func(name string, m *Matcher, want bool) {
		b.Run(name, func(b *testing.B) {
			e := dataHead
			b.SetBytes(int64(len(dataRecord)))
			for b.Loop() {
				if m.NeedsDetail() {
					if err := FillDetail(&e, dataRecord); err != nil {
						b.Fatal(err)
					}
				}
				if m.Match(&e) != want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
	run("basic/management", basicMgmt, &mgmt, true)
	run("basic/data", basicData, &filled, true)
	withDetail("basic/data+FillDetail", basicData, true)
	run("advanced/management", advMgmt, &mgmt, true)
	run("advanced/data", advData, &filled, true)
	withDetail("advanced/data+FillDetail", advData, true)
}
