package selector

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// validationFile is one file of testdata/valid or testdata/invalid.
// insightSelectors, when present, makes a case about ValidateInsight, with
// the trail's selectors as context; otherwise advancedEventSelectors, when
// present, one about ValidateAdvanced; otherwise one about ValidateBasic.
type validationFile struct {
	Cases []struct {
		Name                   string                  `json:"name"`
		Target                 string                  `json:"target"`
		EventSelectors         []EventSelector         `json:"eventSelectors"`
		AdvancedEventSelectors []AdvancedEventSelector `json:"advancedEventSelectors"`
		InsightSelectors       json.RawMessage         `json:"insightSelectors"`
		Error                  string                  `json:"error"`
	} `json:"cases"`
}

func TestValidate(t *testing.T) {
	counts := map[string]int{}
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if len(files) == 0 {
			t.Fatalf("no cases in testdata/%s", dir)
		}
		for _, path := range files {
			var f validationFile
			readJSON(t, path, &f)
			for _, c := range f.Cases {
				counts[dir]++
				t.Run(dir+"/"+strings.TrimSuffix(filepath.Base(path), ".json")+"/"+c.Name, func(t *testing.T) {
					var err error
					insight := false
					switch {
					case c.InsightSelectors != nil:
						var sels []InsightSelector
						if e := json.Unmarshal(c.InsightSelectors, &sels); e != nil {
							t.Fatal(e)
						}
						insight = true
						err = ValidateInsight(sels, c.EventSelectors, c.AdvancedEventSelectors)
					case c.AdvancedEventSelectors != nil:
						err = ValidateAdvanced(c.AdvancedEventSelectors, parseTarget(t, c.Target))
					default:
						err = ValidateBasic(c.EventSelectors)
					}
					if dir == "valid" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					if err == nil {
						t.Fatalf("accepted; want %q", c.Error)
					}
					if !strings.Contains(err.Error(), c.Error) {
						t.Errorf("error %q, want it to contain %q", err, c.Error)
					}
					checkErrorType(t, err, insight)
				})
			}
		}
	}
	t.Logf("%d valid and %d invalid cases", counts["valid"], counts["invalid"])
}

func checkErrorType(t *testing.T, err error, insight bool) {
	t.Helper()
	var ie *InvalidError
	var iie *InvalidInsightError
	switch {
	case insight && !errors.As(err, &iie):
		t.Errorf("error is %T, want *InvalidInsightError", err)
	case !insight && !errors.As(err, &ie):
		t.Errorf("error is %T, want *InvalidError", err)
	}
}

// The limits are tested in code: their cases are hundreds of values long.

func s3Values(n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = fmt.Sprintf("arn:aws:s3:::bucket-%03d/", i)
	}
	return v
}

func TestValidateBasicLimits(t *testing.T) {
	data := func(values ...[]string) []EventSelector {
		var sels []EventSelector
		for _, v := range values {
			sels = append(sels, EventSelector{DataResources: []DataResource{{Type: s3Object, Values: v}}})
		}
		return sels
	}
	all := []string{"arn:aws:s3", "arn:aws:s3:::"}
	for _, tc := range []struct {
		name string
		sels []EventSelector
		want string // "" for valid
	}{
		{"250 values in one selector", data(s3Values(250)), ""},
		{"251 values in one selector", data(s3Values(251)), "Specify a valid number of DataResources.Values (0 to 250) for all your selectors"},
		{"250 values across five selectors", data(s3Values(50), s3Values(50), s3Values(50), s3Values(50), s3Values(50)), ""},
		{"251 values across two selectors", data(s3Values(200), s3Values(51)), "(0 to 250)"},
		{"values for all buckets are not counted", data(append(s3Values(250), all...)), ""},
		{"five selectors", data(s3Values(1), s3Values(1), s3Values(1), s3Values(1), s3Values(1)), ""},
		{"six selectors", data(s3Values(1), s3Values(1), s3Values(1), s3Values(1), s3Values(1), s3Values(1)), "(1 to 5)"},
	} {
		err := ValidateBasic(tc.sels)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestValidateAdvancedLimits(t *testing.T) {
	// selectors returns n data selectors holding 2n values (category and
	// type) plus arns resources.ARN values spread between them.
	selectors := func(n, arns int) []AdvancedEventSelector {
		sels := make([]AdvancedEventSelector, n)
		for i := range sels {
			fs := []FieldSelector{
				{Field: "eventCategory", Equals: []string{"Data"}},
				{Field: "resources.type", Equals: []string{s3Object}},
			}
			k := arns / n
			if i < arns%n {
				k++
			}
			if k > 0 {
				fs = append(fs, FieldSelector{Field: "resources.ARN", StartsWith: s3Values(k)})
			}
			sels[i] = AdvancedEventSelector{FieldSelectors: fs}
		}
		return sels
	}
	long := strings.Repeat("a", MaxValueLength)
	for _, tc := range []struct {
		name   string
		sels   []AdvancedEventSelector
		target Target
		want   string
	}{
		{"500 values", selectors(5, 490), Trail, ""},
		{"501 values", selectors(5, 491), Trail, "Specify up to 500 values for all conditions in all advanced event selectors for a trail."},
		{"501 values in a store", selectors(5, 491), EventDataStore, "for an event data store"},
		{"five selectors in a store", selectors(5, 0), EventDataStore, ""},
		{"six selectors in a store", selectors(6, 0), EventDataStore, "(1 to 5) for an event data store"},
		{"six selectors on a trail", selectors(6, 0), Trail, ""},
		{"250 selectors on a trail: 500 values", selectors(250, 0), Trail, ""},
		{"a value of 2048 characters", []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Data"}}, {Field: "resources.type", Equals: []string{s3Object}},
			{Field: "eventName", Equals: []string{long}}}}}, Trail, ""},
		{"a value of 2049 characters", []AdvancedEventSelector{{FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Data"}}, {Field: "resources.type", Equals: []string{s3Object}},
			{Field: "eventName", Equals: []string{long + "a"}}}}}, Trail, "1 to 2048 characters"},
		{"a name of 1000 characters", []AdvancedEventSelector{{Name: strings.Repeat("n", 1000), FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Management"}}}}}, Trail, ""},
		{"a name of 1001 characters", []AdvancedEventSelector{{Name: strings.Repeat("n", 1001), FieldSelectors: []FieldSelector{
			{Field: "eventCategory", Equals: []string{"Management"}}}}}, Trail, "longer than 1000 characters"},
	} {
		err := ValidateAdvanced(tc.sels, tc.target)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestValidateAdvancedUnknownTargetPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	_ = ValidateAdvanced(nil, Target(7))
}
