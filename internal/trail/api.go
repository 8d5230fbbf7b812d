package trail

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/selector"
)

// Limits CloudTrail sets on trails.
const (
	MaxTrailsPerRegion = 5
	MaxTags            = 50
	maxListTagsIDs     = 20
)

// Buckets is what trail validation needs of buckets.
type Buckets interface {
	ValidName(name string) bool
	Exists(name string) bool
	// CanDeliver reports whether account's trail may write key into bucket.
	CanDeliver(bucket, account, trailARN, key string) bool
}

// Topics resolves a trail's SnsTopicName.
type Topics interface {
	// Resolve returns the ARN of the topic a trail in account and region
	// names by name or ARN.
	Resolve(account, region, nameOrARN string) (arn string, ok bool)
}

// DeliveryStatus is what delivery reports of a trail for GetTrailStatus.
type DeliveryStatus struct {
	LatestDeliveryTime                 time.Time
	LatestDeliveryAttemptTime          time.Time
	LatestDeliveryAttemptSucceeded     time.Time
	LatestDeliveryError                string
	LatestNotificationTime             time.Time
	LatestNotificationAttemptTime      time.Time
	LatestNotificationAttemptSucceeded time.Time
	LatestNotificationError            string
	LatestDigestDeliveryTime           time.Time
	LatestDigestDeliveryError          string
	// QuarantinedRecords counts the records the trail selected but
	// could not place in a log file; delivery went on without them.
	QuarantinedRecords uint64 `json:",omitempty"`
}

// Status reports delivery progress.
type Status interface {
	Status(trailID string) DeliveryStatus
}

// API serves the trail operations.
type API struct {
	Store   *Store
	Orgs    Orgs
	Buckets Buckets
	Topics  Topics
	Status  Status
	// Position is the ledger's last sequence number: logging starts and
	// stops there.
	Position func() uint64
	Now      func() time.Time
	// PageSize is ListTrails' page size (default 50).
	PageSize int
}

// Ops returns the trail operations, by name.
func (a *API) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"CreateTrail":         {Handle: a.createTrail},
		"UpdateTrail":         {Handle: a.updateTrail},
		"DeleteTrail":         {Handle: a.deleteTrail},
		"GetTrail":            {ReadOnly: true, Handle: a.getTrail},
		"DescribeTrails":      {ReadOnly: true, Handle: a.describeTrails},
		"ListTrails":          {ReadOnly: true, Handle: a.listTrails},
		"GetTrailStatus":      {ReadOnly: true, Handle: a.getTrailStatus},
		"StartLogging":        {Handle: a.startLogging},
		"StopLogging":         {Handle: a.stopLogging},
		"PutEventSelectors":   {Handle: a.putEventSelectors},
		"GetEventSelectors":   {ReadOnly: true, Handle: a.getEventSelectors},
		"PutInsightSelectors": {Handle: a.putInsightSelectors},
		"GetInsightSelectors": {ReadOnly: true, Handle: a.getInsightSelectors},
		"AddTags":             {Handle: a.addTags},
		"RemoveTags":          {Handle: a.removeTags},
		"ListTags":            {ReadOnly: true, Handle: a.listTags},
	}
}

// trailView is a trail as GetTrail, DescribeTrails, CreateTrail and
// UpdateTrail return it; the last three fields only in the first two.
type trailView struct {
	Name                       string
	S3BucketName               string
	S3KeyPrefix                string `json:",omitempty"`
	SnsTopicName               string `json:",omitempty"`
	SnsTopicARN                string `json:",omitempty"`
	IncludeGlobalServiceEvents bool
	IsMultiRegionTrail         bool
	HomeRegion                 string `json:",omitempty"`
	TrailARN                   string
	LogFileValidationEnabled   bool
	CloudWatchLogsLogGroupArn  string `json:",omitempty"`
	CloudWatchLogsRoleArn      string `json:",omitempty"`
	KmsKeyId                   string `json:",omitempty"`
	HasCustomEventSelectors    *bool  `json:",omitempty"`
	HasInsightSelectors        *bool  `json:",omitempty"`
	IsOrganizationTrail        bool
}

func view(t *Trail, full bool) trailView {
	v := trailView{
		Name: t.Name, S3BucketName: t.S3BucketName, S3KeyPrefix: t.S3KeyPrefix,
		SnsTopicName: t.SnsTopicName, SnsTopicARN: t.SnsTopicARN,
		IncludeGlobalServiceEvents: t.IncludeGlobalServiceEvents, IsMultiRegionTrail: t.IsMultiRegionTrail,
		TrailARN: t.ARN(), LogFileValidationEnabled: t.LogFileValidationEnabled,
		CloudWatchLogsLogGroupArn: t.CloudWatchLogsLogGroupArn, CloudWatchLogsRoleArn: t.CloudWatchLogsRoleArn,
		KmsKeyId: t.KmsKeyID, IsOrganizationTrail: t.IsOrganizationTrail,
	}
	if full {
		custom, insights := t.CustomSelectors, len(t.InsightSelectors) > 0
		v.HomeRegion, v.HasCustomEventSelectors, v.HasInsightSelectors = t.HomeRegion, &custom, &insights
	}
	return v
}

func notFound(name, account string) error {
	return awsapi.Errorf(awsapi.CodeTrailNotFound, "Unknown trail: %s for the user: %s", name, account)
}

// access says what a call means to do with a trail it names.
type access int

const (
	read   access = iota
	change        // must be the home Region, and the trail's owner
)

// find resolves a Name parameter (a name or an ARN) for a call. Names
// find only the caller's own trails whose home is the call's Region;
// ARNs also find shadows (multi-Region trails homed elsewhere, and the
// organization trails of the caller's organization). statusForm spells
// an unknown name as an ARN in the error, as GetTrailStatus does.
// Callers hold the store's lock.
func (a *API) find(c *awsapi.Call, nameOrARN string, acc access, statusForm bool) (*Trail, error) {
	s := a.Store
	if strings.HasPrefix(nameOrARN, "arn:") {
		p, ok := parseARN(nameOrARN)
		if !ok {
			return nil, awsapi.Errorf(awsapi.CodeCloudTrailARNInvalid, "ARN %s is not a valid trail ARN. A trail ARN looks like arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail.", nameOrARN)
		}
		if msg := validateName(p.Name); msg != "" {
			return nil, awsapi.Errorf(awsapi.CodeInvalidTrailName, "%s", msg)
		}
		t, ok := s.trails[ARN(p.Region, p.Account, p.Name)]
		if !ok {
			return nil, notFound(nameOrARN, c.AccountID)
		}
		vis, shadow := visible(t, c.AccountID, c.Region, a.Orgs)
		if !vis {
			if t.Account == c.AccountID {
				return nil, awsapi.Errorf(awsapi.CodeCloudTrailARNInvalid, "Region in ARN is wrong, you can only access resources in region %s.", c.Region)
			}
			return nil, notFound(nameOrARN, c.AccountID)
		}
		if acc == change && shadow {
			if t.Account != c.AccountID {
				return nil, awsapi.Errorf(awsapi.CodeNotOrganizationMasterAccount, "The request was rejected because account %s is not the management account of organization %s; only the management account may change the organization trail %s.", c.AccountID, t.OrganizationID, t.ARN())
			}
			return nil, awsapi.Errorf(awsapi.CodeInvalidHomeRegion, "The trail %s can only be changed in its home region %s, not in %s.", t.ARN(), t.HomeRegion, c.Region)
		}
		return t, nil
	}
	if msg := validateName(nameOrARN); msg != "" {
		return nil, awsapi.Errorf(awsapi.CodeInvalidTrailName, "%s", msg)
	}
	t, ok := s.trails[ARN(c.Region, c.AccountID, nameOrARN)]
	if !ok {
		if statusForm {
			return nil, notFound(ARN(c.Region, c.AccountID, nameOrARN), c.AccountID)
		}
		return nil, notFound(nameOrARN, c.AccountID)
	}
	return t, nil
}

type createRequest struct {
	Name                       string
	S3BucketName               *string
	S3KeyPrefix                *string
	SnsTopicName               *string
	IncludeGlobalServiceEvents *bool
	IsMultiRegionTrail         *bool
	EnableLogFileValidation    *bool
	CloudWatchLogsLogGroupArn  *string
	CloudWatchLogsRoleArn      *string
	KmsKeyId                   *string
	IsOrganizationTrail        *bool
	TagsList                   []Tag
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (a *API) createTrail(ctx context.Context, c *awsapi.Call) (any, error) {
	var req createRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	t := &Trail{
		ID: newID(), Name: req.Name, Account: c.AccountID, HomeRegion: c.Region,
		IncludeGlobalServiceEvents: req.IncludeGlobalServiceEvents == nil || *req.IncludeGlobalServiceEvents,
		IsMultiRegionTrail:         deref(req.IsMultiRegionTrail),
		LogFileValidationEnabled:   deref(req.EnableLogFileValidation),
		IsOrganizationTrail:        deref(req.IsOrganizationTrail),
		Created:                    a.Now().UTC(),
	}
	if t.IsMultiRegionTrail && !t.IncludeGlobalServiceEvents {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameterCombination, "Multi-Region trail must include global service events.")
	}
	if msg := validateName(req.Name); msg != "" {
		return nil, awsapi.Errorf(awsapi.CodeInvalidTrailName, "%s", msg)
	}
	s := a.Store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.trails[t.ARN()]; ok {
		return nil, awsapi.Errorf(awsapi.CodeTrailAlreadyExists, "Trail %s already exists for customer: %s", t.Name, c.AccountID)
	}
	if err := a.configure(c, t, &req); err != nil {
		return nil, err
	}
	if err := validateTags(nil, req.TagsList); err != nil {
		return nil, err
	}
	t.Tags = mergeTags(nil, req.TagsList)
	if err := a.checkLimit(t, nil); err != nil {
		return nil, err
	}
	if err := s.put(t); err != nil {
		return nil, err
	}
	return view(t, false), nil
}

// configure applies the settable fields of a CreateTrail or UpdateTrail
// request to t, checking each as CloudTrail does. Fields absent from the
// request keep their values.
func (a *API) configure(c *awsapi.Call, t *Trail, req *createRequest) error {
	if req.IncludeGlobalServiceEvents != nil {
		t.IncludeGlobalServiceEvents = *req.IncludeGlobalServiceEvents
	}
	if req.IsMultiRegionTrail != nil {
		t.IsMultiRegionTrail = *req.IsMultiRegionTrail
	}
	if req.EnableLogFileValidation != nil {
		t.LogFileValidationEnabled = *req.EnableLogFileValidation
	}
	if req.IsOrganizationTrail != nil {
		t.IsOrganizationTrail = *req.IsOrganizationTrail
	}
	if t.IsMultiRegionTrail && !t.IncludeGlobalServiceEvents {
		return awsapi.Errorf(awsapi.CodeInvalidParameterCombination, "Multi-Region trail must include global service events.")
	}
	if req.S3BucketName != nil {
		t.S3BucketName = *req.S3BucketName
	}
	if req.S3KeyPrefix != nil {
		t.S3KeyPrefix = *req.S3KeyPrefix
	}
	if t.S3BucketName == "" {
		return awsapi.Errorf(awsapi.CodeInvalidS3BucketName, "S3 bucket name is required.")
	}
	if !a.Buckets.ValidName(t.S3BucketName) {
		return awsapi.Errorf(awsapi.CodeInvalidS3BucketName, "Bucket name is not valid: %s", t.S3BucketName)
	}
	if msg := validatePrefix(t.S3KeyPrefix); msg != "" {
		return awsapi.Errorf(awsapi.CodeInvalidS3Prefix, "%s", msg)
	}
	t.OrganizationID = ""
	if t.IsOrganizationTrail {
		o, ok := a.Orgs.OrgOf(c.AccountID)
		if !ok {
			return awsapi.Errorf(awsapi.CodeOrganizationsNotInUse, "Account %s is not a member of an organization. Create one with `cairn org create` first.", c.AccountID)
		}
		if o.Management != c.AccountID {
			return awsapi.Errorf(awsapi.CodeNotOrganizationMasterAccount, "Account %s is not the management account of organization %s; only the management account may create or change an organization trail.", c.AccountID, o.ID)
		}
		t.OrganizationID = o.ID
	}
	if !a.Buckets.Exists(t.S3BucketName) {
		return awsapi.Errorf(awsapi.CodeS3BucketDoesNotExist, "S3 bucket %s does not exist!", t.S3BucketName)
	}
	if !a.Buckets.CanDeliver(t.S3BucketName, t.Account, t.ARN(), probeKey(t)) {
		return awsapi.Errorf(awsapi.CodeInsufficientS3BucketPolicy, "Incorrect S3 bucket policy is detected for bucket: %s", t.S3BucketName)
	}
	if req.SnsTopicName != nil {
		t.SnsTopicName, t.SnsTopicARN = "", ""
		if name := *req.SnsTopicName; name != "" {
			if !validTopic(name) {
				return awsapi.Errorf(awsapi.CodeInvalidSnsTopicName, "Topic name is not valid: %s", name)
			}
			arn, ok := a.Topics.Resolve(t.Account, t.HomeRegion, name)
			if !ok {
				return awsapi.Errorf(awsapi.CodeInsufficientSnsTopicPolicy, "SNS Topic does not exist or the topic policy is incorrect!")
			}
			t.SnsTopicName, t.SnsTopicARN = name, arn
		}
	}
	if req.KmsKeyId != nil {
		t.KmsKeyID = ""
		if id := *req.KmsKeyId; id != "" {
			arn, ok := kmsARN(id, t.HomeRegion, t.Account)
			if !ok {
				return awsapi.Errorf(awsapi.CodeInvalidKmsKeyId, "KMS key ID %s is not valid: give a key ID, a key ARN, an alias name (alias/...) or an alias ARN.", id)
			}
			t.KmsKeyID = arn
		}
	}
	if req.CloudWatchLogsLogGroupArn != nil {
		t.CloudWatchLogsLogGroupArn = *req.CloudWatchLogsLogGroupArn
	}
	if req.CloudWatchLogsRoleArn != nil {
		t.CloudWatchLogsRoleArn = *req.CloudWatchLogsRoleArn
	}
	switch g, r := t.CloudWatchLogsLogGroupArn, t.CloudWatchLogsRoleArn; {
	case g != "" && !logGroupARN.MatchString(g):
		return awsapi.Errorf(awsapi.CodeInvalidCloudWatchLogsLogGroupArn, "CloudWatch Logs log group ARN %s is not valid.", g)
	case r != "" && !roleARN.MatchString(r):
		return awsapi.Errorf(awsapi.CodeInvalidCloudWatchLogsRoleArn, "CloudWatch Logs role ARN %s is not valid.", r)
	case g != "" && r == "":
		return awsapi.Errorf(awsapi.CodeInvalidCloudWatchLogsRoleArn, "You must specify a role ARN together with a log group ARN.")
	case r != "" && g == "":
		return awsapi.Errorf(awsapi.CodeInvalidCloudWatchLogsLogGroupArn, "You must specify a log group ARN together with a role ARN.")
	}
	return nil
}

// probeKey is a key the trail would write, for checking bucket policies.
func probeKey(t *Trail) string {
	k := ""
	if t.S3KeyPrefix != "" {
		k = t.S3KeyPrefix + "/"
	}
	k += "AWSLogs/"
	if t.OrganizationID != "" {
		k += t.OrganizationID + "/"
	}
	return k + t.Account + "/CloudTrail/" + t.HomeRegion + "/"
}

var (
	topicName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	topicARN    = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$`)
	logGroupARN = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[\w./#-]{1,512}:\*$`)
	roleARN     = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	kmsKeyID    = regexp.MustCompile(`^(mrk-)?[0-9a-fA-F-]{32,36}$|^mrk-[0-9a-f]{32}$`)
	kmsKeyARN   = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:\d{12}:(key/[\w-]+|alias/[\w/-]+)$`)
	kmsAlias    = regexp.MustCompile(`^alias/[\w/-]{1,250}$`)
)

func validTopic(s string) bool { return topicName.MatchString(s) || topicARN.MatchString(s) }

// kmsARN turns any of the forms CloudTrail accepts for KmsKeyId into the
// ARN it echoes.
func kmsARN(id, region, account string) (string, bool) {
	switch {
	case kmsKeyARN.MatchString(id):
		return id, true
	case kmsAlias.MatchString(id):
		return "arn:aws:kms:" + region + ":" + account + ":" + id, true
	case kmsKeyID.MatchString(id):
		return "arn:aws:kms:" + region + ":" + account + ":key/" + id, true
	}
	return "", false
}

func (a *API) updateTrail(ctx context.Context, c *awsapi.Call) (any, error) {
	var req createRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	t, err := a.modify(c, func() (*Trail, error) { return a.find(c, req.Name, change, false) }, func(cur, t *Trail) (bool, error) {
		if err := a.configure(c, t, &req); err != nil {
			return false, err
		}
		if t.IsMultiRegionTrail && !cur.IsMultiRegionTrail {
			return true, a.checkLimit(t, cur)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return view(t, false), nil
}

// modify finds, with find (or, for tag operations, tagged), a trail the
// call may change, lets fn change a copy, and stores the copy. fn returns
// false when there is nothing to store.
func (a *API) modify(c *awsapi.Call, lookup func() (*Trail, error), fn func(cur, t *Trail) (bool, error)) (*Trail, error) {
	s := a.Store
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := lookup()
	if err != nil {
		return nil, err
	}
	t := cur.Clone()
	store, err := fn(cur, t)
	if err != nil || !store {
		return t, err
	}
	return t, s.put(t)
}

// checkLimit refuses a trail that would make an account hold more than
// five trails in a Region: its home Region, and, for a multi-Region trail,
// every Region where its shadow would land (shadows count, as AWS counts
// them). replacing is the trail's current version on update. Callers hold
// the store's lock.
func (a *API) checkLimit(t, replacing *Trail) error {
	regions := map[string]bool{t.HomeRegion: true}
	if t.IsMultiRegionTrail {
		for _, o := range a.Store.trails {
			if o.Account == t.Account {
				regions[o.HomeRegion] = true
			}
		}
	}
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		n := 0
		for _, o := range a.Store.inRegion(t.Account, r, a.Orgs, true) {
			if o.Account == t.Account && (replacing == nil || o.ARN() != replacing.ARN()) {
				n++
			}
		}
		if n >= MaxTrailsPerRegion {
			return awsapi.Errorf(awsapi.CodeMaximumNumberOfTrailsExceeded, "User: %s already has %d trails in %s.", t.Account, MaxTrailsPerRegion, r)
		}
	}
	return nil
}

type nameRequest struct {
	Name string
}

func (a *API) deleteTrail(ctx context.Context, c *awsapi.Call) (any, error) {
	var req nameRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s := a.Store
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := a.find(c, req.Name, change, false)
	if err != nil {
		return nil, err
	}
	if err := s.remove(t); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (a *API) getTrail(ctx context.Context, c *awsapi.Call) (any, error) {
	var req nameRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s := a.Store
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := a.find(c, req.Name, read, false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Trail": view(t, true)}, nil
}

type describeRequest struct {
	TrailNameList       []string `json:"trailNameList"`
	IncludeShadowTrails *bool    `json:"includeShadowTrails"`
}

func (a *API) describeTrails(ctx context.Context, c *awsapi.Call) (any, error) {
	var req describeRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	shadows := req.IncludeShadowTrails == nil || *req.IncludeShadowTrails
	s := a.Store
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []trailView{}
	if len(req.TrailNameList) == 0 {
		for _, t := range s.inRegion(c.AccountID, c.Region, a.Orgs, shadows) {
			out = append(out, view(t, true))
		}
		return map[string]any{"trailList": out}, nil
	}
	seen := map[string]bool{}
	for _, n := range req.TrailNameList {
		var t *Trail
		if p, ok := parseARN(n); ok {
			cand, ok := s.trails[ARN(p.Region, p.Account, p.Name)]
			if !ok {
				continue
			}
			vis, shadow := visible(cand, c.AccountID, c.Region, a.Orgs)
			if !vis || (shadow && !shadows) {
				continue
			}
			t = cand
		} else if cand, ok := s.trails[ARN(c.Region, c.AccountID, n)]; ok {
			t = cand
		}
		if t != nil && !seen[t.ARN()] {
			seen[t.ARN()] = true
			out = append(out, view(t, true))
		}
	}
	return map[string]any{"trailList": out}, nil
}

type listRequest struct {
	NextToken string
}

type trailInfo struct {
	TrailARN   string
	Name       string
	HomeRegion string
}

func (a *API) listTrails(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s := a.Store
	s.mu.RLock()
	ts := s.inRegion(c.AccountID, c.Region, a.Orgs, true)
	infos := make([]trailInfo, len(ts))
	for i, t := range ts {
		infos[i] = trailInfo{TrailARN: t.ARN(), Name: t.Name, HomeRegion: t.HomeRegion}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].TrailARN < infos[j].TrailARN })
	start := 0
	if req.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(req.NextToken)
		if err != nil || !strings.HasPrefix(string(after), "arn:") {
			return nil, awsapi.Errorf(awsapi.CodeInvalidNextToken, "Invalid NextToken: %s", req.NextToken)
		}
		start = sort.Search(len(infos), func(i int) bool { return infos[i].TrailARN > string(after) })
	}
	size := a.PageSize
	if size <= 0 {
		size = 50
	}
	end := min(start+size, len(infos))
	out := map[string]any{"Trails": append([]trailInfo{}, infos[start:end]...)}
	if end < len(infos) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(infos[end-1].TrailARN))
	}
	return out, nil
}

// statusView is GetTrailStatus's answer. The string fields are
// deprecated in AWS's model but still returned, empty when unknown.
type statusView struct {
	IsLogging                          bool
	LatestDeliveryError                string       `json:",omitempty"`
	LatestNotificationError            string       `json:",omitempty"`
	LatestDeliveryTime                 *awsapi.Time `json:",omitempty"`
	LatestNotificationTime             *awsapi.Time `json:",omitempty"`
	StartLoggingTime                   *awsapi.Time `json:",omitempty"`
	StopLoggingTime                    *awsapi.Time `json:",omitempty"`
	LatestDigestDeliveryTime           *awsapi.Time `json:",omitempty"`
	LatestDigestDeliveryError          string       `json:",omitempty"`
	LatestDeliveryAttemptTime          string
	LatestNotificationAttemptTime      string
	LatestNotificationAttemptSucceeded string
	LatestDeliveryAttemptSucceeded     string
	TimeLoggingStarted                 string
	TimeLoggingStopped                 string
	// QuarantinedRecordCount is cairn's own: AWS's clients ignore a
	// member their model lacks, and raw callers see it.
	QuarantinedRecordCount uint64
}

func epoch(t time.Time) *awsapi.Time {
	if t.IsZero() {
		return nil
	}
	return &awsapi.Time{Time: t}
}

func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func (a *API) getTrailStatus(ctx context.Context, c *awsapi.Call) (any, error) {
	var req nameRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s := a.Store
	s.mu.RLock()
	t, err := a.find(c, req.Name, read, true)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	t = t.Clone()
	s.mu.RUnlock()
	d := a.Status.Status(t.ID)
	return statusView{
		IsLogging:                          t.IsLogging,
		LatestDeliveryError:                d.LatestDeliveryError,
		LatestNotificationError:            d.LatestNotificationError,
		LatestDeliveryTime:                 epoch(d.LatestDeliveryTime),
		LatestNotificationTime:             epoch(d.LatestNotificationTime),
		StartLoggingTime:                   epoch(t.StartLoggingTime),
		StopLoggingTime:                    epoch(t.StopLoggingTime),
		LatestDigestDeliveryTime:           epoch(d.LatestDigestDeliveryTime),
		LatestDigestDeliveryError:          d.LatestDigestDeliveryError,
		LatestDeliveryAttemptTime:          iso(d.LatestDeliveryAttemptTime),
		LatestNotificationAttemptTime:      iso(d.LatestNotificationAttemptTime),
		LatestNotificationAttemptSucceeded: iso(d.LatestNotificationAttemptSucceeded),
		LatestDeliveryAttemptSucceeded:     iso(d.LatestDeliveryAttemptSucceeded),
		TimeLoggingStarted:                 iso(t.StartLoggingTime),
		TimeLoggingStopped:                 iso(t.StopLoggingTime),
		QuarantinedRecordCount:             d.QuarantinedRecords,
	}, nil
}

func (a *API) startLogging(ctx context.Context, c *awsapi.Call) (any, error) {
	return a.setLogging(c, true)
}

func (a *API) stopLogging(ctx context.Context, c *awsapi.Call) (any, error) {
	return a.setLogging(c, false)
}

// setLogging starts or stops a trail. Logging is measured in ledger
// positions: a trail delivers the entries appended while it logs.
func (a *API) setLogging(c *awsapi.Call, on bool) (any, error) {
	var req nameRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	_, err := a.modify(c, func() (*Trail, error) { return a.find(c, req.Name, change, false) }, func(cur, t *Trail) (bool, error) {
		if cur.IsLogging == on {
			return false, nil
		}
		pos := a.Position()
		if on {
			t.IsLogging, t.StartLoggingTime = true, a.Now().UTC()
			t.Windows = append(t.Windows, Window{From: pos})
			if len(t.Windows) > maxWindows {
				t.Windows = t.Windows[len(t.Windows)-maxWindows:]
			}
		} else {
			t.IsLogging, t.StopLoggingTime = false, a.Now().UTC()
			if n := len(t.Windows); n > 0 && t.Windows[n-1].To == 0 {
				t.Windows[n-1].To = max(pos, t.Windows[n-1].From)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type putSelectorsRequest struct {
	TrailName              string
	EventSelectors         *[]selector.EventSelector
	AdvancedEventSelectors *[]selector.AdvancedEventSelector
}

func (a *API) putEventSelectors(ctx context.Context, c *awsapi.Call) (any, error) {
	var req putSelectorsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	t, err := a.modify(c, func() (*Trail, error) { return a.find(c, req.TrailName, change, false) }, func(_, t *Trail) (bool, error) {
		switch {
		case req.EventSelectors != nil && req.AdvancedEventSelectors != nil:
			return false, awsapi.Errorf(awsapi.CodeInvalidParameterCombination, "You can use EventSelectors or AdvancedEventSelectors in a request, but not both.")
		case req.EventSelectors == nil && req.AdvancedEventSelectors == nil:
			return false, awsapi.Errorf(awsapi.CodeInvalidParameterCombination, "Specify either EventSelectors or AdvancedEventSelectors.")
		case req.EventSelectors != nil:
			if err := selector.ValidateBasic(*req.EventSelectors); err != nil {
				return false, selectorError(err)
			}
			t.EventSelectors, t.AdvancedEventSelectors = selector.Normalize(*req.EventSelectors), nil
		default:
			if err := selector.ValidateAdvanced(*req.AdvancedEventSelectors, selector.Trail); err != nil {
				return false, selectorError(err)
			}
			t.EventSelectors, t.AdvancedEventSelectors = nil, *req.AdvancedEventSelectors
		}
		if len(t.InsightSelectors) > 0 {
			if err := selector.ValidateInsight(t.InsightSelectors, t.EventSelectors, t.AdvancedEventSelectors); err != nil {
				return false, selectorError(err)
			}
		}
		t.CustomSelectors = selector.HasCustom(t.EventSelectors, t.AdvancedEventSelectors)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return selectorsView(t), nil
}

func selectorError(err error) error {
	var ie *selector.InvalidError
	if errors.As(err, &ie) {
		return awsapi.Errorf(awsapi.CodeInvalidEventSelectors, "%s", ie.Message)
	}
	var ii *selector.InvalidInsightError
	if errors.As(err, &ii) {
		return awsapi.Errorf(awsapi.CodeInvalidInsightSelectors, "%s", ii.Message)
	}
	return err
}

func selectorsView(t *Trail) map[string]any {
	out := map[string]any{"TrailARN": t.ARN()}
	switch {
	case len(t.AdvancedEventSelectors) > 0:
		out["AdvancedEventSelectors"] = t.AdvancedEventSelectors
	case len(t.EventSelectors) > 0:
		out["EventSelectors"] = t.EventSelectors
	default:
		out["EventSelectors"] = selector.Default()
	}
	return out
}

type trailNameRequest struct {
	TrailName string
}

func (a *API) getEventSelectors(ctx context.Context, c *awsapi.Call) (any, error) {
	var req trailNameRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s := a.Store
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := a.find(c, req.TrailName, read, false)
	if err != nil {
		return nil, err
	}
	return selectorsView(t), nil
}

type putInsightRequest struct {
	TrailName           string
	EventDataStore      string
	InsightsDestination string
	InsightSelectors    *[]selector.InsightSelector
}

func (a *API) putInsightSelectors(ctx context.Context, c *awsapi.Call) (any, error) {
	var req putInsightRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.EventDataStore != "" || req.InsightsDestination != "" {
		return nil, awsapi.Errorf(awsapi.CodeUnsupportedOperation, "Insights for event data stores are not supported; give TrailName.")
	}
	if req.InsightSelectors == nil {
		return nil, awsapi.Errorf(awsapi.CodeInvalidInsightSelectors, "InsightSelectors is required; an empty list turns Insights off.")
	}
	t, err := a.modify(c, func() (*Trail, error) { return a.find(c, req.TrailName, change, false) }, func(_, t *Trail) (bool, error) {
		if err := selector.ValidateInsight(*req.InsightSelectors, t.EventSelectors, t.AdvancedEventSelectors); err != nil {
			return false, selectorError(err)
		}
		t.InsightSelectors = append([]selector.InsightSelector(nil), *req.InsightSelectors...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"TrailARN": t.ARN(), "InsightSelectors": nonNil(t.InsightSelectors)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *API) getInsightSelectors(ctx context.Context, c *awsapi.Call) (any, error) {
	var req putInsightRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.EventDataStore != "" {
		return nil, awsapi.Errorf(awsapi.CodeUnsupportedOperation, "Insights for event data stores are not supported; give TrailName.")
	}
	s := a.Store
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := a.find(c, req.TrailName, read, false)
	if err != nil {
		return nil, err
	}
	if len(t.InsightSelectors) == 0 {
		return nil, awsapi.Errorf(awsapi.CodeInsightNotEnabled, "Trail %s does not have Insights enabled.", t.ARN())
	}
	return map[string]any{"TrailARN": t.ARN(), "InsightSelectors": t.InsightSelectors}, nil
}

type tagsRequest struct {
	ResourceId string
	TagsList   []Tag
}

// tagged resolves a tag operation's ResourceId: a trail ARN.
//
// Unlike the trail operations, tag operations take no shadows: the ARN
// must name the caller's own account and Region, as AWS answers.
func (a *API) tagged(c *awsapi.Call, id string, acc access) (*Trail, error) {
	p, ok := parseARN(id)
	if !ok {
		return nil, awsapi.Errorf(awsapi.CodeCloudTrailARNInvalid, "ARN %s is not a valid trail ARN. A trail ARN looks like arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail.", id)
	}
	if p.Account != c.AccountID {
		return nil, awsapi.Errorf(awsapi.CodeCloudTrailARNInvalid, "AccountID in ARN is wrong, you can only access resources with AccountID %s.", c.AccountID)
	}
	if p.Region != c.Region {
		if t, ok := a.Store.trails[id]; ok && t.IsMultiRegionTrail && acc == change {
			return nil, awsapi.Errorf(awsapi.CodeInvalidHomeRegion, "The trail %s can only be changed in its home region %s, not in %s.", id, t.HomeRegion, c.Region)
		}
		return nil, awsapi.Errorf(awsapi.CodeCloudTrailARNInvalid, "Region in ARN is wrong, you can only access resources in region %s.", c.Region)
	}
	t, err := a.find(c, id, acc, false)
	var ae *awsapi.Error
	if errors.As(err, &ae) && ae.Code == awsapi.CodeTrailNotFound {
		return nil, awsapi.Errorf(awsapi.CodeResourceNotFound, "Resource not found: %s", id)
	}
	return t, err
}

func validateTags(have, add []Tag) error {
	for _, tg := range add {
		switch {
		case len(tg.Key) < 1 || len(tg.Key) > 128:
			return awsapi.Errorf(awsapi.CodeInvalidTagParameter, "Tag key must be between 1 and 128 characters long: %q", tg.Key)
		case len(tg.Value) > 256:
			return awsapi.Errorf(awsapi.CodeInvalidTagParameter, "Tag value must be at most 256 characters long (key %s).", tg.Key)
		case strings.HasPrefix(strings.ToLower(tg.Key), "aws:"):
			return awsapi.Errorf(awsapi.CodeInvalidTagParameter, "Tag keys beginning with aws: are reserved: %s", tg.Key)
		}
	}
	if len(mergeTags(have, add)) > MaxTags {
		return awsapi.Errorf(awsapi.CodeTagsLimitExceeded, "The number of tags per trail has exceeded the permitted amount. Currently, the limit is %d.", MaxTags)
	}
	return nil
}

// mergeTags adds tags, replacing the values of keys already present.
func mergeTags(have, add []Tag) []Tag {
	out := append([]Tag(nil), have...)
next:
	for _, tg := range add {
		for i := range out {
			if out[i].Key == tg.Key {
				out[i].Value = tg.Value
				continue next
			}
		}
		out = append(out, tg)
	}
	return out
}

func (a *API) addTags(ctx context.Context, c *awsapi.Call) (any, error) {
	var req tagsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	_, err := a.modify(c, func() (*Trail, error) { return a.tagged(c, req.ResourceId, change) }, func(cur, t *Trail) (bool, error) {
		if err := validateTags(cur.Tags, req.TagsList); err != nil {
			return false, err
		}
		t.Tags = mergeTags(t.Tags, req.TagsList)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (a *API) removeTags(ctx context.Context, c *awsapi.Call) (any, error) {
	var req tagsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	_, err := a.modify(c, func() (*Trail, error) { return a.tagged(c, req.ResourceId, change) }, func(_, t *Trail) (bool, error) {
		t.Tags = slices.DeleteFunc(t.Tags, func(tg Tag) bool {
			return slices.ContainsFunc(req.TagsList, func(r Tag) bool {
				return r.Key == tg.Key && (r.Value == "" || r.Value == tg.Value)
			})
		})
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type listTagsRequest struct {
	ResourceIdList []string
	NextToken      string
}

func (a *API) listTags(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listTagsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if len(req.ResourceIdList) > maxListTagsIDs {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "ResourceIdList can hold at most %d ARNs; it holds %d.", maxListTagsIDs, len(req.ResourceIdList))
	}
	s := a.Store
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []map[string]any{}
	for _, id := range req.ResourceIdList {
		t, err := a.tagged(c, id, read)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"ResourceId": t.ARN(), "TagsList": nonNil(t.Tags)})
	}
	return map[string]any{"ResourceTagList": out}, nil
}
