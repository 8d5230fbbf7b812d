package main

import (
	"fmt"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "2160h": 2160 * time.Hour, "30m": 30 * time.Minute} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1d", "ninety", "90x", "-5h"} {
		if _, err := parseRetention(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLookupAttributesFlag(t *testing.T) {
	var a attrList
	for _, v := range []string{
		"AttributeKey=Username,AttributeValue=root",
		"AttributeKey=ResourceName,AttributeValue=a,b,c",
		`[{"AttributeKey":"EventName","AttributeValue":"X"}]`,
		`{"AttributeKey":"ReadOnly","AttributeValue":"true"}`,
	} {
		if err := a.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	want := "[map[AttributeKey:Username AttributeValue:root] map[AttributeKey:ResourceName AttributeValue:a,b,c] map[AttributeKey:EventName AttributeValue:X] map[AttributeKey:ReadOnly AttributeValue:true]]"
	if fmt.Sprint(a) != want {
		t.Errorf("got %v", a)
	}
	if err := a.Set("Username"); err == nil {
		t.Error("shorthand without = accepted")
	}
}

func TestParseCLITime(t *testing.T) {
	for in, want := range map[string]float64{
		"2019-12-01":           1575158400,
		"2019-12-01T10:00:00Z": 1575194400,
		"2019-12-01T10:00:00":  1575194400,
		"1575158400":           1575158400,
		"1575158400.5":         1575158400.5,
	} {
		if got, err := parseCLITime(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := parseCLITime("yesterday"); err == nil {
		t.Error("accepted a word")
	}
}
