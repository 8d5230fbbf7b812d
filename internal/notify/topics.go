package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cairn-audit/cairn/internal/event"
	"github.com/cairn-audit/cairn/internal/store"
)

// Topic is a notification topic: the SNS ARN trails name, and the webhook
// that receives what SNS would have published.
type Topic struct {
	ARN     string    `json:"TopicArn"`
	Name    string    `json:"Name"`
	Account string    `json:"AccountId"`
	Region  string    `json:"Region"`
	Webhook string    `json:"Webhook"`
	Created time.Time `json:"CreationDate"`
}

// Errors of the registry.
var (
	ErrInvalidTopicName = errors.New("topic name must be 1-256 characters of letters, digits, _ and -")
	// ErrFIFOTopic refuses a name SNS would accept: CloudTrail does not
	// publish to FIFO topics, so no trail could use it.
	ErrFIFOTopic      = errors.New("FIFO topics (.fifo) cannot receive CloudTrail notifications")
	ErrInvalidWebhook = errors.New("webhook must be an http or https URL with a host and no user information")
	// ErrWebhookNotAllowed refuses a webhook whose URL names an address
	// webhooks may not reach (see Guard).
	ErrWebhookNotAllowed = errors.New("webhook address is not allowed")
	ErrInvalidAccount    = errors.New("account ID must be 12 digits")
	ErrInvalidRegion     = errors.New("region must be lower-case letters, digits and -")
	ErrTopicExists       = errors.New("topic already exists")
	ErrNoSuchTopic       = errors.New("no such topic")
)

const (
	maxTopicNameLength = 256
	maxWebhookLength   = 2048
)

// Topics is the registry of topics, held in memory and in the database,
// with the guard on where their webhooks may connect.
type Topics struct {
	db     *pebble.DB
	guard  *Guard
	mu     sync.RWMutex
	topics map[string]Topic // by ARN
	now    func() time.Time
}

// OpenTopics loads the topics kept in db. guard nil means NewGuard(nil):
// public addresses only.
func OpenTopics(db *pebble.DB, guard *Guard) (*Topics, error) {
	if guard == nil {
		guard = NewGuard(nil)
	}
	t := &Topics{db: db, guard: guard, topics: map[string]Topic{}, now: time.Now}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixTopic}, UpperBound: []byte{store.PrefixTopic + 1}})
	if err != nil {
		return nil, fmt.Errorf("load topics: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var tp Topic
		if err := json.Unmarshal(it.Value(), &tp); err != nil {
			return nil, fmt.Errorf("load topic %q: %w", it.Key()[1:], err)
		}
		t.topics[tp.ARN] = tp
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("load topics: %w", err)
	}
	return t, nil
}

// TopicARN is the ARN of topic name in account and region.
func TopicARN(region, account, name string) string {
	return "arn:aws:sns:" + region + ":" + account + ":" + name
}

// Create adds a topic to account in region.
func (t *Topics) Create(account, region, name, webhook string) (Topic, error) {
	if err := validScope(account, region); err != nil {
		return Topic{}, err
	}
	if err := validName(name); err != nil {
		return Topic{}, err
	}
	if err := t.validWebhook(webhook); err != nil {
		return Topic{}, err
	}
	tp := Topic{
		ARN:     TopicARN(region, account, name),
		Name:    name,
		Account: account,
		Region:  region,
		Webhook: webhook,
		Created: t.now().UTC().Truncate(time.Second),
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.topics[tp.ARN]; ok {
		return Topic{}, ErrTopicExists
	}
	b, err := json.Marshal(tp)
	if err != nil {
		return Topic{}, err
	}
	if err := t.db.Set(dbKey(tp.ARN), b, pebble.Sync); err != nil {
		return Topic{}, fmt.Errorf("store topic: %w", err)
	}
	t.topics[tp.ARN] = tp
	return tp, nil
}

// Delete removes a topic. Trails that name it keep their setting, as with
// SNS; their notifications then fail with ErrNoSuchTopic until the topic is
// created again.
func (t *Topics) Delete(account, region, name string) error {
	arn := TopicARN(region, account, name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.topics[arn]; !ok {
		return ErrNoSuchTopic
	}
	if err := t.db.Delete(dbKey(arn), pebble.Sync); err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	delete(t.topics, arn)
	return nil
}

// List returns account's topics in every region, by ARN (so by region,
// then name).
func (t *Topics) List(account string) []Topic {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := []Topic{}
	for _, tp := range t.topics {
		if tp.Account == account {
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

// Resolve finds the topic a trail of account in region names by
// SnsTopicName: a bare name, looked up in that account and region, or a
// topic ARN. An ARN must name the trail's own region, because CloudTrail
// publishes only to topics of the trail's home region, and its own account,
// because cairn's topics have no policy that could let another account's
// trails publish.
func (t *Topics) Resolve(account, region, nameOrARN string) (Topic, bool) {
	arn := TopicARN(region, account, nameOrARN)
	if strings.HasPrefix(nameOrARN, "arn:") {
		arn = nameOrARN
	}
	tp, ok := t.get(arn)
	if !ok || tp.Account != account || tp.Region != region {
		return Topic{}, false
	}
	return tp, true
}

// get returns the topic with an ARN.
func (t *Topics) get(arn string) (Topic, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tp, ok := t.topics[arn]
	return tp, ok
}

func dbKey(arn string) []byte {
	return append([]byte{store.PrefixTopic}, arn...)
}

func validScope(account, region string) error {
	if !event.ValidAccountID(account) {
		return ErrInvalidAccount
	}
	// The region becomes part of an ARN: a ':' would change which part
	// the name is. It is held to the shape every record's awsRegion is.
	if !event.ValidRegion(region) {
		return ErrInvalidRegion
	}
	return nil
}

func validName(name string) error {
	if len(name) > maxTopicNameLength {
		return ErrInvalidTopicName
	}
	if base, ok := strings.CutSuffix(name, ".fifo"); ok && nameChars(base) {
		return ErrFIFOTopic
	}
	if !nameChars(name) {
		return ErrInvalidTopicName
	}
	return nil
}

// nameChars reports whether s is a non-empty run of SNS's name characters.
func nameChars(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// validWebhook refuses what is not a webhook, and a webhook whose URL
// already names an address the guard refuses. Names that resolve to such
// an address are refused when the notifier connects.
func (t *Topics) validWebhook(s string) error {
	if len(s) > maxWebhookLength {
		return ErrInvalidWebhook
	}
	u, err := url.Parse(s)
	// Credentials in the URL would be shown by ListTopics, and
	// "http://trusted@10.0.0.1/" reads as a name it is not.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" || u.User != nil {
		return ErrInvalidWebhook
	}
	if a, ok := literal(u.Hostname()); ok && !t.guard.Allows(a) {
		return fmt.Errorf("%w: %s", ErrWebhookNotAllowed, a)
	}
	return nil
}
