package selector

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestDefaultJSON(t *testing.T) {
	// What GetEventSelectors returns for a trail that was never given any.
	const want = `[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}]`
	got, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("Default() = %s\nwant          %s", got, want)
	}
	if got, _ := json.Marshal(Normalize(nil)); string(got) != want {
		t.Errorf("Normalize(nil) = %s", got)
	}
}

func TestNormalizeEcho(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[{}]`, `[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}]`},
		{
			`[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]`,
			`[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":false,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}],"ExcludeManagementEventSources":[]}]`,
		},
		{
			`[{"ExcludeManagementEventSources":["kms.amazonaws.com"]},{"ReadWriteType":"ReadOnly"}]`,
			`[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":["kms.amazonaws.com"]},` +
				`{"ReadWriteType":"ReadOnly","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}]`,
		},
	} {
		var sels []EventSelector
		if err := json.Unmarshal([]byte(tc.in), &sels); err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(Normalize(sels))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("Normalize(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeCopies(t *testing.T) {
	in := []EventSelector{{DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}}}
	out := Normalize(in)
	out[0].DataResources[0].Values[0] = "changed"
	if in[0].DataResources[0].Values[0] != "arn:aws:s3" {
		t.Error("Normalize shares Values with its input")
	}
	if in[0].IncludeManagementEvents != nil || in[0].ReadWriteType != "" {
		t.Error("Normalize changed its input")
	}
}

func TestAdvancedJSON(t *testing.T) {
	// Operators that are absent stay absent, and FieldSelectors is always there.
	sels := []AdvancedEventSelector{{FieldSelectors: []FieldSelector{{Field: "eventCategory", Equals: []string{"Management"}}}}}
	got, _ := json.Marshal(sels)
	const want = `[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]}]`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestHasCustom(t *testing.T) {
	f := false
	for _, tc := range []struct {
		name     string
		basic    []EventSelector
		advanced []AdvancedEventSelector
		want     bool
	}{
		{"nothing stored", nil, nil, false},
		{"the default", Default(), nil, false},
		{"the default, defaults left out", []EventSelector{{}}, nil, false},
		{"read only", []EventSelector{{ReadWriteType: ReadOnly}}, nil, true},
		{"no management events", []EventSelector{{IncludeManagementEvents: &f, DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}}}, nil, true},
		{"data events", []EventSelector{{DataResources: []DataResource{{Type: s3Object, Values: []string{"arn:aws:s3"}}}}}, nil, true},
		{"excluded sources", []EventSelector{{ExcludeManagementEventSources: []string{"kms.amazonaws.com"}}}, nil, true},
		{"two default selectors", []EventSelector{{}, {}}, nil, true},
		{"advanced", nil, []AdvancedEventSelector{{FieldSelectors: []FieldSelector{{Field: "eventCategory", Equals: []string{"Management"}}}}}, true},
	} {
		if got := HasCustom(tc.basic, tc.advanced); got != tc.want {
			t.Errorf("%s: HasCustom = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	if got := (&InvalidError{Message: "m"}).Error(); got != "m" {
		t.Errorf("InvalidError.Error() = %q", got)
	}
	if got := (&InvalidInsightError{Message: "m"}).Error(); got != "m" {
		t.Errorf("InvalidInsightError.Error() = %q", got)
	}
}

func ExampleDefault() {
	b, _ := json.Marshal(Default())
	fmt.Println(string(b))
	// Output: [{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[],"ExcludeManagementEventSources":[]}]
}

func ExampleCompile() {
	// A trail that logs write management events and every object event in
	// one bucket.
	f := false
	m := Compile([]EventSelector{
		{ReadWriteType: WriteOnly},
		{IncludeManagementEvents: &f, DataResources: []DataResource{
			{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::amzn-s3-demo-bucket1/"}},
		}},
	}, nil)

	e := Event{Category: "Data", ReadOnly: true, EventSource: "s3.amazonaws.com", EventName: "GetObject"}
	if m.NeedsDetail() {
		record := `{"eventName":"GetObject","resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::amzn-s3-demo-bucket1/photo.jpg"}]}`
		if err := FillDetail(&e, []byte(record)); err != nil {
			panic(err)
		}
	}
	fmt.Println(m.Match(&e))
	fmt.Println(m.Match(&Event{Category: "Management", ReadOnly: true, EventName: "DescribeTrails"}))
	// Output:
	// true
	// false
}

func ExampleValidateBasic() {
	err := ValidateBasic([]EventSelector{{DataResources: []DataResource{
		{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::amzn-s3-demo-bucket1"}},
	}}})
	fmt.Println(err)
	// Output: Value arn:aws:s3:::amzn-s3-demo-bucket1 for DataResources.Values is invalid.
}
