package trail

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for name, want := range map[string]string{
		"abc":                    "",
		"My.trail_1-x":           "",
		strings.Repeat("a", 128): "",
		"a":                      "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 1 characters.",
		"aa":                     "too short",
		strings.Repeat("a", 129): "Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters.",
		"trail!":                 "Trail name must ends with a letter or number.",
		"-trail":                 "Trail name must starts with a letter or number.",
		"my#trail":               "Trail name or ARN can only contain",
		"my-_namespace":          "adjacent",
		"my--namespace":          "adjacent",
		"my..trail":              "adjacent",
		"192.168.5.4":            "IP address",
		"1.2.3":                  "",
	} {
		got := validateName(name)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("validateName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseARN(t *testing.T) {
	p, ok := parseARN("arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail")
	if !ok || p.Region != "us-east-2" || p.Account != "123456789012" || p.Name != "MyTrail" {
		t.Fatalf("parseARN = %+v, %v", p, ok)
	}
	for _, bad := range []string{"arn:aws:cloudtrail:us-east-2:1234:trail/x", "arn:aws:s3:::bucket", "arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/x", "MyTrail"} {
		if _, ok := parseARN(bad); ok {
			t.Errorf("parseARN(%q) accepted", bad)
		}
	}
}

func TestWindows(t *testing.T) {
	tr := &Trail{Windows: []Window{{From: 10, To: 20}, {From: 30}}}
	for seq, want := range map[uint64]bool{10: false, 11: true, 20: true, 21: false, 30: false, 31: true, 1000: true} {
		if got := tr.Logs(seq); got != want {
			t.Errorf("Logs(%d) = %v", seq, got)
		}
	}
	for cur, want := range map[uint64]uint64{0: 11, 12: 13, 20: 31, 25: 31, 40: 41} {
		if got, ok := tr.NextLogged(cur); !ok || got != want {
			t.Errorf("NextLogged(%d) = %d, %v; want %d", cur, got, ok, want)
		}
	}
	stopped := &Trail{Windows: []Window{{From: 10, To: 20}}}
	if _, ok := stopped.NextLogged(20); ok {
		t.Error("a stopped trail past its last window still has work")
	}
}

func TestKmsARN(t *testing.T) {
	for in, want := range map[string]string{
		"alias/MyAlias":                        "arn:aws:kms:us-east-2:123456789012:alias/MyAlias",
		"12345678-1234-1234-1234-123456789012": "arn:aws:kms:us-east-2:123456789012:key/12345678-1234-1234-1234-123456789012",
		"arn:aws:kms:us-east-2:123456789012:key/12345678-1234-1234-1234-123456789012": "arn:aws:kms:us-east-2:123456789012:key/12345678-1234-1234-1234-123456789012",
		"not a key": "",
	} {
		got, ok := kmsARN(in, "us-east-2", "123456789012")
		if got != want || ok != (want != "") {
			t.Errorf("kmsARN(%q) = %q, %v", in, got, ok)
		}
	}
}
