package notify

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/store"
)

const (
	acct  = "111122223333"
	other = "444455556666"
	hook  = "https://hooks.example.com/cairn"
)

func openDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := store.Open(dir, store.Options{CacheBytes: 1 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openTopics opens an empty registry whose webhooks may reach public
// addresses and the networks allow.
func openTopics(t *testing.T, allow ...string) *Topics {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	var prefixes []netip.Prefix
	for _, a := range allow {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	tp, err := OpenTopics(db, NewGuard(prefixes))
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestResolve(t *testing.T) {
	topics := openTopics(t)
	created, err := topics.Create(acct, "us-east-1", "alerts", hook)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sns:us-east-1:111122223333:alerts"; created.ARN != want {
		t.Fatalf("ARN %s, want %s", created.ARN, want)
	}
	if _, err := topics.Create(other, "us-east-1", "alerts", hook); err != nil {
		t.Fatalf("the same name in another account: %v", err)
	}
	for _, tc := range []struct {
		account, region, nameOrARN string
		found                      bool
	}{
		{acct, "us-east-1", "alerts", true},
		{acct, "us-east-1", created.ARN, true},
		{acct, "eu-west-1", "alerts", false},
		{acct, "eu-west-1", created.ARN, false},                                    // a trail in another region
		{other, "us-east-1", created.ARN, false},                                   // another account's topic
		{acct, "us-east-1", "arn:aws-cn:sns:us-east-1:111122223333:alerts", false}, // another partition
		{acct, "us-east-1", "arn:aws:sns:us-east-1:111122223333:missing", false},
		{acct, "us-east-1", "missing", false},
		{acct, "us-east-1", "", false},
	} {
		got, ok := topics.Resolve(tc.account, tc.region, tc.nameOrARN)
		if ok != tc.found {
			t.Errorf("Resolve(%s, %s, %s): found %v, want %v", tc.account, tc.region, tc.nameOrARN, ok, tc.found)
			continue
		}
		if ok && got != created {
			t.Errorf("Resolve(%s, %s, %s) = %+v, want %+v", tc.account, tc.region, tc.nameOrARN, got, created)
		}
	}
}

func TestCreateRefuses(t *testing.T) {
	topics := openTopics(t)
	if _, err := topics.Create(acct, "us-east-1", "taken", hook); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		account, region, name, webhook string
		want                           error
	}{
		{acct, "us-east-1", strings.Repeat("a", 256), hook, nil},
		{acct, "us-east-1", "Mixed_Case-09", "http://203.0.113.7:8080/hook?x=1", nil},
		{acct, "us-east-1", "private", "http://10.0.0.1:8080/hook?x=1", ErrWebhookNotAllowed},
		{acct, "us-east-1", "", hook, ErrInvalidTopicName},
		{acct, "us-east-1", strings.Repeat("a", 257), hook, ErrInvalidTopicName},
		{acct, "us-east-1", "has space", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "dotted.name", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "arn:aws:sns:us-east-1:111122223333:x", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "événement", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "orders.fifo", hook, ErrFIFOTopic},
		{acct, "us-east-1", strings.Repeat("a", 251) + ".fifo", hook, ErrFIFOTopic},
		{acct, "us-east-1", ".fifo", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "bad!.fifo", hook, ErrInvalidTopicName},
		{acct, "us-east-1", "w1", "", ErrInvalidWebhook},
		{acct, "us-east-1", "w2", "ftp://example.com/x", ErrInvalidWebhook},
		{acct, "us-east-1", "w3", "http://", ErrInvalidWebhook},
		{acct, "us-east-1", "w4", "/just/a/path", ErrInvalidWebhook},
		{acct, "us-east-1", "w5", "mailto:ops@example.com", ErrInvalidWebhook},
		{acct, "us-east-1", "w6", "https://example.com/" + strings.Repeat("x", 2048), ErrInvalidWebhook},
		{acct, "us-east-1", "w7", "http://exa mple.com/", ErrInvalidWebhook},
		{acct, "us-east-1", "w8", "http://ops:secret@example.com/", ErrInvalidWebhook},
		{acct, "us-east-1", "w9", "http://example.com@10.0.0.1/", ErrInvalidWebhook},
		{acct, "us-east-1", "w10", "http://:8080/", ErrInvalidWebhook},
		{"12345", "us-east-1", "x", hook, ErrInvalidAccount},
		{acct, "", "x", hook, ErrInvalidRegion},
		{acct, "us-east-1:evil", "x", hook, ErrInvalidRegion},
		{acct, "us-east-1", "taken", hook, ErrTopicExists},
		{acct, "us-east-1", "taken", "https://elsewhere.example.com/", ErrTopicExists},
	} {
		_, err := topics.Create(tc.account, tc.region, tc.name, tc.webhook)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Create(%q, %q, %.20q, %.30q) = %v, want %v", tc.account, tc.region, tc.name, tc.webhook, err, tc.want)
		}
	}
}

func TestDeleteAndList(t *testing.T) {
	topics := openTopics(t)
	for _, c := range []struct{ account, region, name string }{
		{acct, "us-west-2", "b"}, {acct, "us-east-1", "b"}, {acct, "us-east-1", "a"}, {other, "us-east-1", "a"},
	} {
		if _, err := topics.Create(c.account, c.region, c.name, hook); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := arns(topics.List(acct)), "us-east-1:a us-east-1:b us-west-2:b"; got != want {
		t.Errorf("List = %s, want %s", got, want)
	}
	if err := topics.Delete(acct, "us-east-1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := topics.Delete(acct, "us-east-1", "a"); !errors.Is(err, ErrNoSuchTopic) {
		t.Errorf("second Delete = %v, want ErrNoSuchTopic", err)
	}
	if err := topics.Delete(acct, "eu-west-1", "b"); !errors.Is(err, ErrNoSuchTopic) {
		t.Errorf("Delete in the wrong region = %v, want ErrNoSuchTopic", err)
	}
	if _, ok := topics.Resolve(acct, "us-east-1", "a"); ok {
		t.Error("deleted topic still resolves")
	}
	if _, ok := topics.Resolve(other, "us-east-1", "a"); !ok {
		t.Error("deleting one account's topic removed another's")
	}
	if got := topics.List("999999999999"); got == nil || len(got) != 0 {
		t.Errorf("List of an account without topics = %#v, want empty", got)
	}
}

func TestTopicsPersist(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	topics, err := OpenTopics(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	topics.now = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 999, time.UTC) }
	kept, err := topics.Create(acct, "us-east-1", "kept", hook)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topics.Create(acct, "us-east-1", "gone", hook); err != nil {
		t.Fatal(err)
	}
	if err := topics.Delete(acct, "us-east-1", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, dir)
	defer db.Close()
	topics, err = OpenTopics(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := topics.List(acct)
	if len(got) != 1 || got[0] != kept {
		t.Fatalf("after reopening: %+v, want [%+v]", got, kept)
	}
	if !kept.Created.Equal(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Created %v, want whole seconds", kept.Created)
	}
	if _, ok := topics.Resolve(acct, "us-east-1", kept.ARN); !ok {
		t.Error("reopened topic does not resolve")
	}
}

func arns(ts []Topic) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Region+":"+t.Name)
	}
	return strings.Join(s, " ")
}

func ExampleTopicARN() {
	fmt.Println(TopicARN("us-east-1", "111122223333", "trail-deliveries"))
	// Output: arn:aws:sns:us-east-1:111122223333:trail-deliveries
}
