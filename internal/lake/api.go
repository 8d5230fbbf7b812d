package lake

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/selector"
	"github.com/cairn-audit/cairn/internal/trail"
)

// API serves the event data store operations.
type API struct {
	Stores *Stores
	// Position is the ledger's last position: ingestion windows start
	// there.
	Position func() uint64
	// IsOrgManagement reports whether an account manages an organization
	// (OrganizationEnabled needs one).
	IsOrgManagement func(account string) bool
	// ChannelsTo, if set, names the channels that send events to a store
	// (by ARN): such a store cannot be deleted.
	ChannelsTo func(storeARN string) []*Channel
	Now        func() time.Time

	mu sync.Mutex // serialises changes, for name and limit checks
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Ops returns the operations, by name.
func (a *API) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateEventDataStore":         {Handle: a.create},
		"GetEventDataStore":            {ReadOnly: true, Handle: a.get},
		"ListEventDataStores":          {ReadOnly: true, Handle: a.list},
		"UpdateEventDataStore":         {Handle: a.update},
		"DeleteEventDataStore":         {Handle: a.delete},
		"RestoreEventDataStore":        {Handle: a.restore},
		"StartEventDataStoreIngestion": {Handle: a.startIngestion},
		"StopEventDataStoreIngestion":  {Handle: a.stopIngestion},
	}
}

// storeView is an event data store as the operations return it.
type storeView struct {
	EventDataStoreArn            string
	Name                         string
	Status                       string
	AdvancedEventSelectors       []selector.AdvancedEventSelector
	MultiRegionEnabled           bool
	OrganizationEnabled          bool
	RetentionPeriod              int
	TerminationProtectionEnabled bool
	TagsList                     []trail.Tag `json:",omitempty"`
	CreatedTimestamp             awsapi.Time
	UpdatedTimestamp             awsapi.Time
	KmsKeyId                     string `json:",omitempty"`
	BillingMode                  string
	FederationStatus             string `json:",omitempty"`
}

func view(s *EventDataStore, get bool) storeView {
	v := storeView{
		EventDataStoreArn: s.ARN(), Name: s.Name, Status: s.Status, AdvancedEventSelectors: s.Selectors,
		MultiRegionEnabled: s.MultiRegionEnabled, OrganizationEnabled: s.OrganizationEnabled,
		RetentionPeriod: s.RetentionPeriod, TerminationProtectionEnabled: s.TerminationProtectionEnabled,
		CreatedTimestamp: awsapi.Time{Time: s.Created}, UpdatedTimestamp: awsapi.Time{Time: s.Updated},
		KmsKeyId: s.KmsKeyID, BillingMode: s.BillingMode,
	}
	if get {
		v.FederationStatus = "DISABLED"
	} else {
		v.TagsList = s.Tags
	}
	return v
}

var (
	namePattern = regexp.MustCompile(`^[a-zA-Z0-9._\-]{3,128}$`)
	idPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	arnPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:cloudtrail:([a-z0-9-]+):(\d{12}):eventdatastore/([0-9a-f-]{36})$`)
)

// ParseRef returns the ID an EventDataStore parameter (an ARN or an ID)
// names, and the account and Region an ARN gives.
func ParseRef(ref string) (id, account, region string, ok bool) {
	if m := arnPattern.FindStringSubmatch(ref); m != nil && idPattern.MatchString(m[3]) {
		return m[3], m[2], m[1], true
	}
	if idPattern.MatchString(ref) {
		return ref, "", "", true
	}
	return "", "", "", false
}

// find resolves an EventDataStore parameter to the caller's store.
func (a *API) find(c *awsapi.Call, ref string) (*EventDataStore, error) {
	if ref == "" {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "EventDataStore is required.")
	}
	id, account, region, ok := ParseRef(ref)
	if !ok {
		return nil, awsapi.Errorf(awsapi.CodeEventDataStoreARNInvalid, "The specified event data store ARN is not valid or does not map to an event data store in your account.")
	}
	if account != "" && (account != c.AccountID || region != c.Region) {
		return nil, awsapi.Errorf(awsapi.CodeEventDataStoreNotFound, "The specified event data store was not found.")
	}
	s, ok := a.Stores.Get(id)
	if !ok || s.Account != c.AccountID || s.Region != c.Region {
		return nil, awsapi.Errorf(awsapi.CodeEventDataStoreNotFound, "The specified event data store was not found.")
	}
	return s, nil
}

// Visible returns the caller's stores in its Region.
func (a *API) Visible(account, region string) []*EventDataStore {
	var out []*EventDataStore
	for _, s := range a.Stores.All() {
		if s.Account == account && s.Region == region {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.Before(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out
}

type createRequest struct {
	Name                         string
	AdvancedEventSelectors       []selector.AdvancedEventSelector
	MultiRegionEnabled           *bool
	OrganizationEnabled          *bool
	RetentionPeriod              *int
	TerminationProtectionEnabled *bool
	TagsList                     []trail.Tag
	KmsKeyId                     string
	StartIngestion               *bool
	BillingMode                  string
}

// defaultSelectors are a store's selectors when none are given: every
// management event.
func defaultSelectors() []selector.AdvancedEventSelector {
	return []selector.AdvancedEventSelector{{Name: defaultSelectorName, FieldSelectors: []selector.FieldSelector{{Field: "eventCategory", Equals: []string{"Management"}}}}}
}

func checkSelectors(sels []selector.AdvancedEventSelector) error {
	if len(sels) > 5 {
		return awsapi.Errorf(awsapi.CodeInvalidEventSelectors, "An event data store can have at most 5 advanced event selectors.")
	}
	// A store takes either events from outside AWS or CloudTrail's, not
	// both: the two have different schemas.
	audit := 0
	for _, sel := range sels {
		if TakesAuditEvents(&EventDataStore{Selectors: []selector.AdvancedEventSelector{sel}}) {
			audit++
		}
	}
	if audit > 0 && audit < len(sels) {
		return awsapi.Errorf(awsapi.CodeInvalidEventSelectors, "A store of events from outside AWS (eventCategory ActivityAuditLog) can have no selectors for other events.")
	}
	if err := selector.ValidateAdvanced(sels, selector.EventDataStore); err != nil {
		return awsapi.Errorf(awsapi.CodeInvalidEventSelectors, "%s", strings.TrimPrefix(err.Error(), "invalid event selectors: "))
	}
	return nil
}

func checkRetention(days int, billing string) error {
	max := MaxRetention
	if billing == BillingFixed {
		max = MaxRetentionFixed
	}
	if days < MinRetention || days > max {
		return awsapi.Errorf(awsapi.CodeInvalidParameter, "RetentionPeriod must be between %d and %d days for %s.", MinRetention, max, billing)
	}
	return nil
}

func checkBilling(mode string) error {
	if mode != BillingExtendable && mode != BillingFixed {
		return awsapi.Errorf(awsapi.CodeValidation, "1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [EXTENDABLE_RETENTION_PRICING, FIXED_RETENTION_PRICING]", mode)
	}
	return nil
}

func checkTags(tags []trail.Tag) error {
	if len(tags) > 200 {
		return awsapi.Errorf(awsapi.CodeInvalidTagParameter, "An event data store can have at most 200 tags.")
	}
	for _, tg := range tags {
		if len(tg.Key) < 1 || len(tg.Key) > 128 || len(tg.Value) > 256 || strings.HasPrefix(strings.ToLower(tg.Key), "aws:") {
			return awsapi.Errorf(awsapi.CodeInvalidTagParameter, "Tag key must be 1 to 128 characters not beginning with aws:, and a value at most 256: %q", tg.Key)
		}
	}
	return nil
}

func (a *API) create(ctx context.Context, c *awsapi.Call) (any, error) {
	var req createRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if !namePattern.MatchString(req.Name) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Event data store name must be 3 to 128 characters: letters, digits, periods, underscores and dashes.")
	}
	s := &EventDataStore{
		ID: uuid.NewString(), Name: req.Name, Account: c.AccountID, Region: c.Region,
		Selectors: req.AdvancedEventSelectors, MultiRegionEnabled: true, TerminationProtectionEnabled: true,
		BillingMode: BillingExtendable, KmsKeyID: req.KmsKeyId, Tags: req.TagsList,
	}
	if req.BillingMode != "" {
		if err := checkBilling(req.BillingMode); err != nil {
			return nil, err
		}
		s.BillingMode = req.BillingMode
	}
	s.RetentionPeriod = DefaultRetention
	if s.BillingMode == BillingFixed {
		s.RetentionPeriod = DefaultRetentionFixed
	}
	if req.RetentionPeriod != nil {
		s.RetentionPeriod = *req.RetentionPeriod
	}
	if err := checkRetention(s.RetentionPeriod, s.BillingMode); err != nil {
		return nil, err
	}
	if req.MultiRegionEnabled != nil {
		s.MultiRegionEnabled = *req.MultiRegionEnabled
	}
	if req.OrganizationEnabled != nil && *req.OrganizationEnabled {
		if a.IsOrgManagement == nil || !a.IsOrgManagement(c.AccountID) {
			return nil, awsapi.Errorf(awsapi.CodeOrganizationsNotInUse, "This operation cannot be performed because the account is not the management account of an organization.")
		}
		s.OrganizationEnabled = true
	}
	if req.TerminationProtectionEnabled != nil {
		s.TerminationProtectionEnabled = *req.TerminationProtectionEnabled
	}
	if len(s.Selectors) == 0 {
		s.Selectors = defaultSelectors()
	} else if err := checkSelectors(s.Selectors); err != nil {
		return nil, err
	}
	if err := checkTags(s.Tags); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	visible := a.Visible(c.AccountID, c.Region)
	for _, o := range visible {
		if o.Name == s.Name {
			return nil, awsapi.Errorf(awsapi.CodeEventDataStoreAlreadyExists, "An event data store with the name %s already exists.", s.Name)
		}
	}
	if len(visible) >= MaxStoresPerRegion {
		return nil, awsapi.Errorf(awsapi.CodeEventDataStoreMaxLimitExceeded, "Your account has used the maximum number of event data stores (%d) in this Region.", MaxStoresPerRegion)
	}
	now := a.now().UTC()
	s.Created, s.Updated = now, now
	s.Status = StatusStoppedIngestion
	if req.StartIngestion == nil || *req.StartIngestion {
		s.Status = StatusEnabled
		s.Windows = []trail.Window{{From: a.Position()}}
	}
	if err := a.Stores.Put(s); err != nil {
		return nil, err
	}
	v := view(s, false)
	// CreateEventDataStore answers CREATED; the store is ENABLED from then on.
	if s.Status == StatusEnabled {
		v.Status = StatusCreated
	}
	return v, nil
}

type refRequest struct {
	EventDataStore string
}

func (a *API) get(ctx context.Context, c *awsapi.Call) (any, error) {
	var req refRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	return view(s, true), nil
}

type listRequest struct {
	NextToken  string
	MaxResults *int
}

type listEntry struct {
	EventDataStoreArn string
	Name              string
}

func (a *API) list(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	max := 1000
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 1000 {
			return nil, awsapi.Errorf(awsapi.CodeValidation, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000", *req.MaxResults)
		}
		max = *req.MaxResults
	}
	stores, next, err := page(a.Visible(c.AccountID, c.Region), req.NextToken, max)
	if err != nil {
		return nil, err
	}
	out := struct {
		EventDataStores []listEntry
		NextToken       string `json:",omitempty"`
	}{EventDataStores: []listEntry{}, NextToken: next}
	for _, s := range stores {
		out.EventDataStores = append(out.EventDataStores, listEntry{EventDataStoreArn: s.ARN(), Name: s.Name})
	}
	return out, nil
}

type updateRequest struct {
	EventDataStore               string
	Name                         *string
	AdvancedEventSelectors       []selector.AdvancedEventSelector
	MultiRegionEnabled           *bool
	OrganizationEnabled          *bool
	RetentionPeriod              *int
	TerminationProtectionEnabled *bool
	KmsKeyId                     *string
	BillingMode                  *string
}

func (a *API) update(ctx context.Context, c *awsapi.Call) (any, error) {
	var req updateRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	if s.Status == StatusPendingDeletion {
		return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is pending deletion and cannot be updated.", s.ARN())
	}
	if req.Name != nil {
		if !namePattern.MatchString(*req.Name) {
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Event data store name must be 3 to 128 characters: letters, digits, periods, underscores and dashes.")
		}
		for _, o := range a.Visible(c.AccountID, c.Region) {
			if o.Name == *req.Name && o.ID != s.ID {
				return nil, awsapi.Errorf(awsapi.CodeEventDataStoreAlreadyExists, "An event data store with the name %s already exists.", *req.Name)
			}
		}
		s.Name = *req.Name
	}
	if req.BillingMode != nil {
		if err := checkBilling(*req.BillingMode); err != nil {
			return nil, err
		}
		if s.BillingMode == BillingExtendable && *req.BillingMode == BillingFixed {
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "The billing mode of an event data store cannot change from EXTENDABLE_RETENTION_PRICING to FIXED_RETENTION_PRICING.")
		}
		s.BillingMode = *req.BillingMode
	}
	if req.RetentionPeriod != nil {
		s.RetentionPeriod = *req.RetentionPeriod
	}
	if err := checkRetention(s.RetentionPeriod, s.BillingMode); err != nil {
		return nil, err
	}
	if req.AdvancedEventSelectors != nil {
		if err := checkSelectors(req.AdvancedEventSelectors); err != nil {
			return nil, err
		}
		if TakesAuditEvents(s) != TakesAuditEvents(&EventDataStore{Selectors: req.AdvancedEventSelectors}) {
			return nil, awsapi.Errorf(awsapi.CodeInvalidEventSelectors, "A store cannot change between events from outside AWS and CloudTrail events.")
		}
		s.Selectors = req.AdvancedEventSelectors
	}
	if req.MultiRegionEnabled != nil {
		s.MultiRegionEnabled = *req.MultiRegionEnabled
	}
	if req.OrganizationEnabled != nil {
		if *req.OrganizationEnabled && (a.IsOrgManagement == nil || !a.IsOrgManagement(c.AccountID)) {
			return nil, awsapi.Errorf(awsapi.CodeOrganizationsNotInUse, "This operation cannot be performed because the account is not the management account of an organization.")
		}
		s.OrganizationEnabled = *req.OrganizationEnabled
	}
	if req.TerminationProtectionEnabled != nil {
		s.TerminationProtectionEnabled = *req.TerminationProtectionEnabled
	}
	if req.KmsKeyId != nil {
		if s.KmsKeyID != "" && *req.KmsKeyId != s.KmsKeyID {
			return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "The KMS key of an event data store cannot be changed once set.")
		}
		s.KmsKeyID = *req.KmsKeyId
	}
	s.Updated = a.now().UTC()
	if err := a.Stores.Put(s); err != nil {
		return nil, err
	}
	return view(s, false), nil
}

func (a *API) delete(ctx context.Context, c *awsapi.Call) (any, error) {
	var req refRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Status == StatusPendingDeletion:
		return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is already pending deletion.", s.ARN())
	case s.TerminationProtectionEnabled:
		return nil, awsapi.Errorf(awsapi.CodeEventDataStoreTerminationProtected, "Event data store %s cannot be deleted because termination protection is enabled.", s.ARN())
	}
	if a.ChannelsTo != nil {
		if chs := a.ChannelsTo(s.ARN()); len(chs) > 0 {
			return nil, awsapi.Errorf(awsapi.CodeChannelExistsForEDS, "Event data store %s cannot be deleted while channels send events to it: %s.", s.ARN(), channelNames(chs))
		}
	}
	now := a.now().UTC()
	s.StatusBefore, s.Status, s.Deleted, s.Updated = s.Status, StatusPendingDeletion, now, now
	closeWindow(s, a.Position())
	if err := a.Stores.Put(s); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (a *API) restore(ctx context.Context, c *awsapi.Call) (any, error) {
	var req refRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	if s.Status != StatusPendingDeletion {
		return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is not pending deletion.", s.ARN())
	}
	s.Status = s.StatusBefore
	if s.Status == "" {
		s.Status = StatusEnabled
	}
	if s.Status == StatusEnabled {
		s.Windows = append(s.Windows, trail.Window{From: a.Position()})
	}
	s.StatusBefore, s.Deleted, s.Updated = "", time.Time{}, a.now().UTC()
	if err := a.Stores.Put(s); err != nil {
		return nil, err
	}
	return view(s, false), nil
}

func (a *API) startIngestion(ctx context.Context, c *awsapi.Call) (any, error) {
	var req refRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	if s.Status != StatusStoppedIngestion {
		return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is %s; ingestion can be started only when it is STOPPED_INGESTION.", s.ARN(), s.Status)
	}
	s.Status, s.Updated = StatusEnabled, a.now().UTC()
	s.Windows = append(s.Windows, trail.Window{From: a.Position()})
	return struct{}{}, a.Stores.Put(s)
}

func (a *API) stopIngestion(ctx context.Context, c *awsapi.Call) (any, error) {
	var req refRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := a.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	if s.Status != StatusEnabled {
		return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is %s; ingestion can be stopped only when it is ENABLED.", s.ARN(), s.Status)
	}
	s.Status, s.Updated = StatusStoppedIngestion, a.now().UTC()
	closeWindow(s, a.Position())
	return struct{}{}, a.Stores.Put(s)
}

// closeWindow ends the store's open ingestion window at pos; a window in
// which nothing was appended is dropped.
func closeWindow(s *EventDataStore, pos uint64) {
	n := len(s.Windows)
	if n == 0 || s.Windows[n-1].To != 0 {
		return
	}
	if pos <= s.Windows[n-1].From {
		s.Windows = s.Windows[:n-1]
		return
	}
	s.Windows[n-1].To = pos
}
