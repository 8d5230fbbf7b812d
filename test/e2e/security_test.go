package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/ingest"
)

// TestKeysAndTheirSecrets reproduces two attacks on access keys and checks
// that both now fail: a user of an account read the secret of a key minted
// for the account's root out of Event history (CreateAccessKey's audit
// record carried it), and a user minted keys for the root and for other
// users, to act under their names.
func TestKeysAndTheirSecrets(t *testing.T) {
	n := startNode(t, t.TempDir())
	defer n.stop()
	ctx := ctxT(t)
	const acct = "444455556666"
	root := n.tenantKey(acct, "")
	alice := n.tenantKey(acct, "alice")
	rc := keyClient(t, n.endpoint, root, "us-east-1", "")
	ac := keyClient(t, n.endpoint, alice, "us-east-1", "")

	type minted struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		UserName        string
	}
	var secrets []string
	var k minted
	if err := rc.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{}, &k); err != nil || k.SecretAccessKey == "" {
		t.Fatalf("root mints a root key: %v %+v", err, k)
	}
	secrets = append(secrets, k.SecretAccessKey)
	if err := rc.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{"UserName": "bob"}, &k); err != nil || k.UserName != "bob" {
		t.Fatalf("root mints a key for bob: %v %+v", err, k)
	}
	secrets = append(secrets, k.SecretAccessKey)
	for _, user := range []string{"", "bob"} {
		var got minted
		err := ac.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{"UserName": user}, &got)
		if apiCode(err) != awsapi.CodeAccessDenied || got.SecretAccessKey != "" {
			t.Errorf("alice mints a key for %q: %v %+v, want AccessDeniedException", user, err, got)
		}
	}
	if err := ac.Call(ctx, ingest.Target, "CreateAccessKey", map[string]string{"UserName": "alice"}, &k); err != nil || k.UserName != "alice" {
		t.Fatalf("alice mints a key for herself: %v %+v", err, k)
	}
	secrets = append(secrets, k.SecretAccessKey)

	// Alice reads the account's CreateAccessKey records: five calls, three
	// of them with a secret in the answer, none of it in the records.
	var events []ctEvent
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		events, err = ctLookupAll(ctx, ac, ctAttrQuery("EventName", "CreateAccessKey"))
		if err != nil {
			t.Fatal(err)
		}
		if len(events) >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(events) != 5 {
		t.Fatalf("%d CreateAccessKey records, want 5", len(events))
	}
	hidden := 0
	for _, e := range events {
		for _, s := range secrets {
			if strings.Contains(e.CloudTrailEvent, s) {
				t.Errorf("a record shows a minted secret: %s", e.CloudTrailEvent)
			}
		}
		if strings.Contains(e.CloudTrailEvent, `"secretAccessKey":"`+awsapi.Hidden+`"`) {
			hidden++
		}
	}
	if hidden != 3 {
		t.Errorf("%d records show the secret as %s, want 3", hidden, awsapi.Hidden)
	}
}
