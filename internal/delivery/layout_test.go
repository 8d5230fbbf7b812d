package delivery

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func ExampleFileKey() {
	at := time.Date(2015, 8, 1, 2, 10, 42, 0, time.UTC)
	fmt.Println(FileKey("", "", "111122223333", "us-east-2", at, "Mu0KsOhtH1ar15ZZ"))
	fmt.Println(FileKey("logs/prod", "o-exampleorgid", "111122223333", "eu-west-1", at, "Mu0KsOhtH1ar15ZZ"))
	// Output:
	// AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz
	// logs/prod/AWSLogs/o-exampleorgid/111122223333/CloudTrail/eu-west-1/2015/08/01/111122223333_CloudTrail_eu-west-1_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz
}

func TestUniqueIsStableAndDistinct(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{16}$`)
	a := Unique("t1", 10, 20, "111122223333", "us-east-1", 0)
	if !re.MatchString(a) {
		t.Fatalf("unique string %q is not 16 alphanumerics", a)
	}
	if b := Unique("t1", 10, 20, "111122223333", "us-east-1", 0); a != b {
		t.Fatalf("same inputs gave %q and %q", a, b)
	}
	seen := map[string]bool{a: true}
	for _, u := range []string{
		Unique("t2", 10, 20, "111122223333", "us-east-1", 0),
		Unique("t1", 11, 20, "111122223333", "us-east-1", 0),
		Unique("t1", 10, 21, "111122223333", "us-east-1", 0),
		Unique("t1", 10, 20, "111122223334", "us-east-1", 0),
		Unique("t1", 10, 20, "111122223333", "us-east-2", 0),
		Unique("t1", 10, 20, "111122223333", "us-east-1", 1),
	} {
		if seen[u] {
			t.Fatalf("collision on %q", u)
		}
		seen[u] = true
	}
}
