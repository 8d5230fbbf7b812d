package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/store"
	"github.com/cairn-audit/cairn/internal/trail"
)

// Channel exceptions, as CloudTrail names them.
const (

	// MaxChannelsPerRegion is CloudTrail's quota.
	MaxChannelsPerRegion = 25
	// SourceCustom is the source of a channel for an application's own
	// events.
	SourceCustom = "Custom"
	// DestinationEventDataStore is the only kind of destination a
	// channel can have here.
	DestinationEventDataStore = "EVENT_DATA_STORE"
)

// Destination is where a channel's events go.
type Destination struct {
	Type     string
	Location string
}

// Channel takes events from outside AWS (PutAuditEvents) into event data
// stores.
type Channel struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	Account      string        `json:"account"`
	Region       string        `json:"region"`
	Source       string        `json:"source"`
	Destinations []Destination `json:"destinations"`
	Tags         []trail.Tag   `json:"tags,omitempty"`
	Created      time.Time     `json:"created"`
}

// ARN is the channel's ARN.
func (ch *Channel) ARN() string {
	return "arn:aws:cloudtrail:" + ch.Region + ":" + ch.Account + ":channel/" + ch.ID
}

// Ingestion is what a channel last took, as GetChannel shows it.
type Ingestion struct {
	LatestIngestionSuccessTime    *awsapi.Time `json:",omitempty"`
	LatestIngestionSuccessEventID string       `json:",omitempty"`
	LatestIngestionErrorCode      string       `json:",omitempty"`
	LatestIngestionAttemptTime    *awsapi.Time `json:",omitempty"`
	LatestIngestionAttemptEventID string       `json:",omitempty"`
}

// Channels are the channels, kept in the ledger's database.
type Channels struct {
	db *pebble.DB

	mu        sync.RWMutex
	byID      map[string]*Channel
	ingestion map[string]Ingestion // in memory: it is a status, not data
}

// OpenChannels loads the channels.
func OpenChannels(db *pebble.DB) (*Channels, error) {
	c := &Channels{db: db, byID: map[string]*Channel{}, ingestion: map[string]Ingestion{}}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{store.PrefixChannel}, UpperBound: []byte{store.PrefixChannel + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var ch Channel
		if err := json.Unmarshal(it.Value(), &ch); err != nil {
			return nil, fmt.Errorf("load channel %q: %w", it.Key()[1:], err)
		}
		c.byID[ch.ID] = &ch
	}
	return c, it.Error()
}

func (ch *Channel) clone() *Channel {
	c := *ch
	c.Destinations = append([]Destination(nil), ch.Destinations...)
	c.Tags = append([]trail.Tag(nil), ch.Tags...)
	return &c
}

// Get returns a copy of the channel with this ID.
func (c *Channels) Get(id string) (*Channel, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ch, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return ch.clone(), true
}

// All returns copies of every channel, oldest first.
func (c *Channels) All() []*Channel {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Channel, 0, len(c.byID))
	for _, ch := range c.byID {
		out = append(out, ch.clone())
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.Before(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out
}

// Put stores a channel, synced.
func (c *Channels) Put(ch *Channel) error {
	v, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	if err := c.db.Set(append([]byte{store.PrefixChannel}, ch.ID...), v, pebble.Sync); err != nil {
		return fmt.Errorf("store channel %s: %w", ch.ID, err)
	}
	c.mu.Lock()
	c.byID[ch.ID] = ch.clone()
	c.mu.Unlock()
	return nil
}

// Remove forgets a channel.
func (c *Channels) Remove(id string) error {
	if err := c.db.Delete(append([]byte{store.PrefixChannel}, id...), pebble.Sync); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.byID, id)
	delete(c.ingestion, id)
	c.mu.Unlock()
	return nil
}

// Ingested records a PutAuditEvents call's outcome for GetChannel.
func (c *Channels) Ingested(id string, at time.Time, lastEventID, errorCode string, succeeded bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.ingestion[id]
	t := &awsapi.Time{Time: at.UTC()}
	in.LatestIngestionAttemptTime, in.LatestIngestionAttemptEventID = t, lastEventID
	in.LatestIngestionErrorCode = errorCode
	if succeeded {
		in.LatestIngestionSuccessTime, in.LatestIngestionSuccessEventID = t, lastEventID
	}
	c.ingestion[id] = in
}

func (c *Channels) ingestionOf(id string) Ingestion {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ingestion[id]
}

// TakesAuditEvents says whether a store's selectors choose events from
// outside AWS (eventCategory ActivityAuditLog): such a store has the
// integration schema and can be a channel's destination.
func TakesAuditEvents(s *EventDataStore) bool {
	for _, sel := range s.Selectors {
		for _, f := range sel.FieldSelectors {
			if f.Field == "eventCategory" {
				for _, v := range f.Equals {
					if v == selector.CategoryActivityAuditLog {
						return true
					}
				}
			}
		}
	}
	return false
}

// ChannelAPI serves the channel operations.
type ChannelAPI struct {
	Channels *Channels
	API      *API
	Now      func() time.Time

	mu sync.Mutex // serialises changes, for name and limit checks
}

// Ops returns the operations, by name.
func (a *ChannelAPI) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateChannel": {Handle: a.create},
		"GetChannel":    {ReadOnly: true, Handle: a.get},
		"ListChannels":  {ReadOnly: true, Handle: a.list},
		"UpdateChannel": {Handle: a.update},
		"DeleteChannel": {Handle: a.delete},
	}
}

var (
	channelARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:cloudtrail:([a-z0-9-]+):(\d{12}):channel/([0-9a-f-]{36})$`)
	sourcePattern     = regexp.MustCompile(`^[A-Za-z0-9._\-]{1,256}$`)
)

// ParseChannelRef returns the ID a Channel parameter (an ARN or an ID)
// names, and the account and Region an ARN gives.
func ParseChannelRef(ref string) (id, account, region string, ok bool) {
	if m := channelARNPattern.FindStringSubmatch(ref); m != nil && idPattern.MatchString(m[3]) {
		return m[3], m[2], m[1], true
	}
	if idPattern.MatchString(ref) {
		return ref, "", "", true
	}
	return "", "", "", false
}

// Find resolves a Channel parameter to the caller's channel.
func (a *ChannelAPI) Find(account, region, ref string) (*Channel, error) {
	id, acct, reg, ok := ParseChannelRef(ref)
	if !ok {
		return nil, awsapi.Errorf(awsapi.CodeChannelARNInvalid, "The specified channel ARN is not valid or does not map to a channel in your account.")
	}
	if acct != "" && (acct != account || reg != region) {
		return nil, awsapi.Errorf(awsapi.CodeChannelNotFound, "The specified channel was not found.")
	}
	ch, ok := a.Channels.Get(id)
	if !ok || ch.Account != account || ch.Region != region {
		return nil, awsapi.Errorf(awsapi.CodeChannelNotFound, "The specified channel was not found.")
	}
	return ch, nil
}

// destinations checks a channel's destinations and returns them with
// each store named by its ARN.
func (a *ChannelAPI) destinations(c *awsapi.Call, ds []Destination) ([]Destination, error) {
	if len(ds) < 1 || len(ds) > 200 {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "A channel must have 1 to 200 destinations.")
	}
	var out []Destination
	seen := map[string]bool{}
	for _, d := range ds {
		switch d.Type {
		case DestinationEventDataStore:
		case "AWS_SERVICE":
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Destinations of type AWS_SERVICE are made by the AWS service that owns the channel; use EVENT_DATA_STORE.")
		default:
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Destination type %q is not valid: use EVENT_DATA_STORE.", d.Type)
		}
		s, err := a.API.find(c, d.Location)
		if err != nil {
			return nil, err
		}
		if !TakesAuditEvents(s) {
			return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreCategory, "Event data store %s does not take events from outside AWS: its advanced event selectors must select eventCategory ActivityAuditLog.", s.ARN())
		}
		if s.Status == StatusPendingDeletion {
			return nil, awsapi.Errorf(awsapi.CodeInactiveEventDataStore, "Event data store %s is pending deletion.", s.ARN())
		}
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, Destination{Type: DestinationEventDataStore, Location: s.ARN()})
		}
	}
	return out, nil
}

type channelView struct {
	ChannelArn      string
	Name            string
	Source          string
	SourceConfig    *sourceConfig `json:",omitempty"`
	Destinations    []Destination
	IngestionStatus *Ingestion  `json:",omitempty"`
	Tags            []trail.Tag `json:",omitempty"`
}

type sourceConfig struct {
	ApplyToAllRegions      bool
	AdvancedEventSelectors []selector.AdvancedEventSelector
}

func (a *ChannelAPI) visible(account, region string) []*Channel {
	var out []*Channel
	for _, ch := range a.Channels.All() {
		if ch.Account == account && ch.Region == region {
			out = append(out, ch)
		}
	}
	return out
}

func (a *ChannelAPI) create(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct {
		Name         string
		Source       string
		Destinations []Destination
		Tags         []trail.Tag
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if !namePattern.MatchString(req.Name) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Channel name must be 3 to 128 characters: letters, digits, periods, underscores and dashes.")
	}
	if !sourcePattern.MatchString(req.Source) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidSource, "Source must be %s or the name of a partner source.", SourceCustom)
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	dests, err := a.destinations(c, req.Destinations)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	visible := a.visible(c.AccountID, c.Region)
	for _, o := range visible {
		if o.Name == req.Name {
			return nil, awsapi.Errorf(awsapi.CodeChannelAlreadyExists, "A channel with the name %s already exists.", req.Name)
		}
	}
	if len(visible) >= MaxChannelsPerRegion {
		return nil, awsapi.Errorf(awsapi.CodeChannelMaxLimitExceeded, "Your account has used the maximum number of channels (%d) in this Region.", MaxChannelsPerRegion)
	}
	ch := &Channel{ID: uuid.NewString(), Name: req.Name, Account: c.AccountID, Region: c.Region, Source: req.Source,
		Destinations: dests, Tags: req.Tags, Created: a.now().UTC()}
	if err := a.Channels.Put(ch); err != nil {
		return nil, err
	}
	return channelView{ChannelArn: ch.ARN(), Name: ch.Name, Source: ch.Source, Destinations: ch.Destinations, Tags: ch.Tags}, nil
}

func (a *ChannelAPI) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *ChannelAPI) get(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct{ Channel string }
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	ch, err := a.Find(c.AccountID, c.Region, req.Channel)
	if err != nil {
		return nil, err
	}
	in := a.Channels.ingestionOf(ch.ID)
	return channelView{ChannelArn: ch.ARN(), Name: ch.Name, Source: ch.Source, Destinations: ch.Destinations,
		SourceConfig:    &sourceConfig{ApplyToAllRegions: false, AdvancedEventSelectors: []selector.AdvancedEventSelector{}},
		IngestionStatus: &in}, nil
}

func (a *ChannelAPI) list(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct {
		MaxResults *int
		NextToken  string
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	max, err := pageSize(req.MaxResults, awsapi.CodeInvalidParameter, "MaxResults")
	if err != nil {
		return nil, err
	}
	type item struct{ ChannelArn, Name string }
	var all []item
	for _, ch := range a.visible(c.AccountID, c.Region) {
		all = append(all, item{ch.ARN(), ch.Name})
	}
	got, next, err := page(all, req.NextToken, max)
	if err != nil {
		return nil, err
	}
	if got == nil {
		got = []item{}
	}
	out := map[string]any{"Channels": got}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (a *ChannelAPI) update(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct {
		Channel      string
		Destinations []Destination
		Name         *string
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, err := a.Find(c.AccountID, c.Region, req.Channel)
	if err != nil {
		return nil, err
	}
	if req.Name != nil {
		if !namePattern.MatchString(*req.Name) {
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Channel name must be 3 to 128 characters: letters, digits, periods, underscores and dashes.")
		}
		for _, o := range a.visible(c.AccountID, c.Region) {
			if o.Name == *req.Name && o.ID != ch.ID {
				return nil, awsapi.Errorf(awsapi.CodeChannelAlreadyExists, "A channel with the name %s already exists.", *req.Name)
			}
		}
		ch.Name = *req.Name
	}
	if req.Destinations != nil {
		if ch.Destinations, err = a.destinations(c, req.Destinations); err != nil {
			return nil, err
		}
	}
	if err := a.Channels.Put(ch); err != nil {
		return nil, err
	}
	return channelView{ChannelArn: ch.ARN(), Name: ch.Name, Source: ch.Source, Destinations: ch.Destinations}, nil
}

func (a *ChannelAPI) delete(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct{ Channel string }
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, err := a.Find(c.AccountID, c.Region, req.Channel)
	if err != nil {
		return nil, err
	}
	return nil, a.Channels.Remove(ch.ID)
}

// ChannelsTo returns the channels that send events to a store.
func (c *Channels) ChannelsTo(storeARN string) []*Channel {
	var out []*Channel
	for _, ch := range c.All() {
		for _, d := range ch.Destinations {
			if d.Location == storeARN {
				out = append(out, ch)
				break
			}
		}
	}
	return out
}

// channelNames lists channels for a message.
func channelNames(chs []*Channel) string {
	var names []string
	for _, ch := range chs {
		names = append(names, ch.Name)
	}
	return strings.Join(names, ", ")
}
