package e2e

import (
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/smithy-go"
)

// TestListPublicKeys checks ListPublicKeys as the AWS CLI's validate-logs
// uses it: PKCS#1 DER values whose MD5 is the fingerprint, one key per
// Region, and the time-range rules.
func TestListPublicKeys(t *testing.T) {
	n := startNode(t, t.TempDir())
	k := n.tenantKey("230000000001", "")
	ctx := ctxT(t)
	east := n.sdk(k, "us-east-1")
	out, err := east.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.PublicKeyList) != 1 {
		t.Fatalf("%d current keys", len(out.PublicKeyList))
	}
	key := out.PublicKeyList[0]
	if _, err := x509.ParsePKCS1PublicKey(key.Value); err != nil {
		t.Fatalf("Value is not a PKCS#1 RSA public key: %v", err)
	}
	sum := md5.Sum(key.Value)
	if aws.ToString(key.Fingerprint) != hex.EncodeToString(sum[:]) {
		t.Fatalf("fingerprint %s is not the MD5 of the key", aws.ToString(key.Fingerprint))
	}
	if d := key.ValidityEndTime.Sub(*key.ValidityStartTime); d != 30*24*time.Hour || time.Since(*key.ValidityStartTime) > time.Minute {
		t.Fatalf("validity %v from %v", d, key.ValidityStartTime)
	}
	again, err := east.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(time.Now().Add(-time.Hour)), EndTime: aws.Time(time.Now())})
	if err != nil || len(again.PublicKeyList) != 1 || aws.ToString(again.PublicKeyList[0].Fingerprint) != aws.ToString(key.Fingerprint) {
		t.Fatalf("the key by time range: %v %v", again, err)
	}
	west, err := n.sdk(k, "eu-west-1").ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil || aws.ToString(west.PublicKeyList[0].Fingerprint) == aws.ToString(key.Fingerprint) {
		t.Fatalf("eu-west-1 shares us-east-1's key: %v", err)
	}
	_, err = east.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(time.Now()), EndTime: aws.Time(time.Now().Add(-time.Hour))})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidTimeRangeException" {
		t.Fatalf("start after end: %v", err)
	}
}
