package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/ingest"
	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/safeio"
)

// Import statuses.
const (
	ImportInitializing = "INITIALIZING"
	ImportInProgress   = "IN_PROGRESS"
	ImportFailed       = "FAILED"
	ImportStopped      = "STOPPED"
	ImportCompleted    = "COMPLETED"
)

// ImportBuckets is what imports need of buckets: the store that holds a
// bucket, and whether an account may read it.
type ImportBuckets interface {
	Store(bucket string) (objstore.Store, error)
	Owner(bucket string) (account string, ok bool)
}

// Imports copies CloudTrail log files from a bucket (AWS's layout) into
// event data stores.
type Imports struct {
	// Dir, if set, is where imports are kept across restarts.
	Dir     string
	DBs     *Databases
	API     *API
	Buckets ImportBuckets
	Log     *slog.Logger
	// BatchRecords bounds the records one transaction adds.
	BatchRecords int
	// Limits bound each log file read; zero means safeio.LogFile().
	Limits safeio.Limits

	wg     sync.WaitGroup
	mu     sync.Mutex
	byID   map[string]*importJob
	closed bool
}

type importFailure struct {
	Location        string
	Status          string
	ErrorType       string
	ErrorMessage    string
	LastUpdatedTime awsapi.Time
}

type importStats struct {
	PrefixesFound     int64
	PrefixesCompleted int64
	FilesCompleted    int64
	EventsCompleted   int64
	FailedEntries     int64
}

type importJob struct {
	ID, Account, Region string
	Destinations        []string // store ARNs
	storeIDs            []string
	Source              string // s3://bucket/prefix
	BucketRegion        string
	RoleArn             string
	Start, End          *time.Time
	Created             time.Time

	mu       sync.Mutex
	status   string
	updated  time.Time
	stats    importStats
	failures []importFailure
	cancel   context.CancelFunc
}

// Close stops running imports and waits for them.
func (im *Imports) Close() {
	im.mu.Lock()
	im.closed = true
	for _, j := range im.byID {
		j.mu.Lock()
		if j.cancel != nil {
			j.cancel()
		}
		j.mu.Unlock()
	}
	im.mu.Unlock()
	im.wg.Wait()
}

// Ops returns the import operations.
func (im *Imports) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"StartImport":        {Handle: im.start},
		"GetImport":          {ReadOnly: true, Handle: im.get},
		"ListImports":        {ReadOnly: true, Handle: im.list},
		"StopImport":         {Handle: im.stop},
		"ListImportFailures": {ReadOnly: true, Handle: im.failures},
	}
}

type importSource struct {
	S3 struct {
		S3LocationUri         string
		S3BucketRegion        string
		S3BucketAccessRoleArn string
	}
}

type startImportRequest struct {
	Destinations   []string
	ImportSource   *importSource
	StartEventTime *awsapi.Time
	EndEventTime   *awsapi.Time
	ImportId       string
}

type importView struct {
	ImportId         string
	Destinations     []string
	ImportSource     importSource
	StartEventTime   *awsapi.Time `json:",omitempty"`
	EndEventTime     *awsapi.Time `json:",omitempty"`
	ImportStatus     string
	CreatedTimestamp awsapi.Time
	UpdatedTimestamp awsapi.Time
	ImportStatistics *importStats `json:",omitempty"`
}

func (j *importJob) view(stats bool) importView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := importView{ImportId: j.ID, Destinations: j.Destinations, ImportStatus: j.status,
		CreatedTimestamp: awsapi.Time{Time: j.Created}, UpdatedTimestamp: awsapi.Time{Time: j.updated}}
	v.ImportSource.S3.S3LocationUri, v.ImportSource.S3.S3BucketRegion, v.ImportSource.S3.S3BucketAccessRoleArn = j.Source, j.BucketRegion, j.RoleArn
	if j.Start != nil {
		v.StartEventTime = &awsapi.Time{Time: *j.Start}
	}
	if j.End != nil {
		v.EndEventTime = &awsapi.Time{Time: *j.End}
	}
	if stats {
		s := j.stats
		v.ImportStatistics = &s
	}
	return v
}

func (im *Imports) start(ctx context.Context, c *awsapi.Call) (any, error) {
	var req startImportRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.ImportId != "" {
		return im.restart(c, req.ImportId)
	}
	if len(req.Destinations) == 0 || req.ImportSource == nil || req.ImportSource.S3.S3LocationUri == "" {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "StartImport needs Destinations and an ImportSource, or the ImportId of an import to start again.")
	}
	j := &importJob{ID: uuid.NewString(), Account: c.AccountID, Region: c.Region, Source: req.ImportSource.S3.S3LocationUri,
		BucketRegion: req.ImportSource.S3.S3BucketRegion, RoleArn: req.ImportSource.S3.S3BucketAccessRoleArn, Created: time.Now().UTC()}
	for _, d := range req.Destinations {
		s, err := im.API.find(c, d)
		if err != nil {
			return nil, err
		}
		if s.Status == StatusPendingDeletion {
			return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreStatus, "The event data store %s is pending deletion.", s.ARN())
		}
		if TakesAuditEvents(s) {
			return nil, awsapi.Errorf(awsapi.CodeInvalidEventDataStoreCategory, "The event data store %s takes events from outside AWS; CloudTrail logs are imported into stores of CloudTrail events.", s.ARN())
		}
		j.Destinations = append(j.Destinations, s.ARN())
		j.storeIDs = append(j.storeIDs, s.ID)
	}
	if req.StartEventTime != nil {
		t := req.StartEventTime.UTC()
		j.Start = &t
	}
	if req.EndEventTime != nil {
		t := req.EndEventTime.UTC()
		j.End = &t
	}
	if j.Start != nil && j.End != nil && j.Start.After(*j.End) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidTimeRange, "StartEventTime must be before EndEventTime.")
	}
	bucket, _, err := parseS3URI(j.Source)
	if err != nil {
		return nil, awsapi.Errorf(awsapi.CodeInvalidImportSource, "%v", err)
	}
	if owner, ok := im.Buckets.Owner(bucket); !ok || owner != c.AccountID {
		return nil, awsapi.Errorf(awsapi.CodeInvalidImportSource, "The bucket %s does not exist or cannot be read by this account.", bucket)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return nil, awsapi.Errorf(awsapi.CodeServiceUnavailable, "The server is shutting down.")
	}
	for _, o := range im.byID {
		if o.Account == c.AccountID {
			if st := o.state(); st == ImportInitializing || st == ImportInProgress {
				return nil, awsapi.Errorf(awsapi.CodeAccountHasOngoingImport, "This account already has an import in progress: %s.", o.ID)
			}
		}
	}
	if im.byID == nil {
		im.byID = map[string]*importJob{}
	}
	im.byID[j.ID] = j
	im.launch(j)
	return j.view(false), nil
}

// restart starts a stopped or failed import again from the beginning.
// Records already copied are not copied twice: each destination keeps
// the event IDs it has.
func (im *Imports) restart(c *awsapi.Call, id string) (any, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	j, ok := im.byID[id]
	if !ok || j.Account != c.AccountID || j.Region != c.Region {
		return nil, awsapi.Errorf(awsapi.CodeImportNotFound, "The specified import was not found.")
	}
	if st := j.state(); st != ImportStopped && st != ImportFailed {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Only a STOPPED or FAILED import can be started again; this one is %s.", st)
	}
	im.launch(j)
	return j.view(false), nil
}

// launch runs j; im.mu is held.
func (im *Imports) launch(j *importJob) {
	ctx, cancel := context.WithCancel(context.Background())
	j.mu.Lock()
	j.status, j.updated, j.cancel = ImportInitializing, time.Now().UTC(), cancel
	j.stats, j.failures = importStats{}, nil
	j.mu.Unlock()
	im.wg.Add(1)
	im.save(j)
	go func() {
		defer im.wg.Done()
		defer cancel()
		im.run(ctx, j)
		im.save(j)
	}()
}

func (j *importJob) state() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status
}

func (j *importJob) set(f func()) {
	j.mu.Lock()
	f()
	j.updated = time.Now().UTC()
	j.mu.Unlock()
}

func parseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("the import source %q is not an s3://bucket/prefix URI", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !objstore.ValidBucketName(bucket) {
		return "", "", fmt.Errorf("the import source %q does not name a valid bucket", uri)
	}
	return bucket, prefix, nil
}

// run copies every log file under the source into the destinations.
func (im *Imports) run(ctx context.Context, j *importJob) {
	bucket, prefix, _ := parseS3URI(j.Source)
	st, err := im.Buckets.Store(bucket)
	if err != nil {
		j.set(func() { j.status = ImportFailed })
		im.Log.Warn("import failed", "import", j.ID, "err", err)
		return
	}
	var keys []string
	prefixes := map[string]bool{}
	after := ""
	for {
		infos, err := st.List(ctx, bucket, prefix, after, 1000)
		if err != nil {
			j.set(func() { j.status = ImportFailed })
			im.Log.Warn("import failed", "import", j.ID, "err", err)
			return
		}
		for _, o := range infos {
			after = o.Key
			if strings.Contains(o.Key, "/CloudTrail-Digest/") || !strings.HasSuffix(o.Key, ".json.gz") && !strings.HasSuffix(o.Key, ".json") {
				continue
			}
			keys = append(keys, o.Key)
			if i := strings.LastIndexByte(o.Key, '/'); i >= 0 {
				prefixes[o.Key[:i+1]] = true
			}
		}
		if len(infos) < 1000 {
			break
		}
	}
	sort.Strings(keys)
	j.set(func() { j.status, j.stats.PrefixesFound = ImportInProgress, int64(len(prefixes)) })

	// The destinations are the importing account's stores, in its
	// database.
	db, err := im.DBs.For(ctx, j.Account)
	if err != nil {
		j.set(func() { j.status = ImportFailed })
		im.Log.Warn("import failed", "import", j.ID, "err", err)
		return
	}
	tables := make([]string, len(j.storeIDs))
	for i, id := range j.storeIDs {
		tables[i] = TableOf(id)
		if err := db.Ensure(ctx, tables[i]); err != nil {
			j.set(func() { j.status = ImportFailed })
			return
		}
		defer db.BeginBulk(tables[i])()
	}
	limit := im.BatchRecords
	if limit <= 0 {
		limit = importBatch
	}
	// One goroutine reads and decodes the files; two add the batches it
	// makes, each in its own transaction, so that reading, DuckDB's
	// parsing and its compression overlap.
	type batch struct {
		records []json.RawMessage
		files   int64
	}
	batches := make(chan batch, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		addErr  error
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if wctx.Err() != nil {
					continue
				}
				var err error
				for _, t := range tables {
					if err = db.Append(wctx, t, b.records); err != nil {
						break
					}
				}
				if err != nil {
					errOnce.Do(func() { addErr = err; cancel() })
					continue
				}
				n, files := int64(len(b.records)), b.files
				j.set(func() { j.stats.EventsCompleted += n; j.stats.FilesCompleted += files })
			}
		}()
	}
	donePrefix := map[string]int{}
	for _, k := range keys {
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			donePrefix[k[:i+1]]++
		}
	}
	var cur batch
	for _, key := range keys {
		if wctx.Err() != nil {
			break
		}
		records, err := readLogFile(wctx, st, bucket, key, im.Limits.Or(safeio.LogFile()))
		if err != nil {
			msg := err.Error()
			j.set(func() {
				j.stats.FailedEntries++
				j.failures = append(j.failures, importFailure{Location: "s3://" + bucket + "/" + key, Status: "FAILED",
					ErrorType: "InvalidLogFile", ErrorMessage: msg, LastUpdatedTime: awsapi.Time{Time: time.Now().UTC()}})
			})
		} else {
			for _, r := range records {
				if j.Start != nil || j.End != nil {
					t, ok := eventTime(r)
					if !ok || j.Start != nil && t.Before(*j.Start) || j.End != nil && t.After(*j.End) {
						continue
					}
				}
				cur.records = append(cur.records, r)
			}
			// A file that failed is a failed entry, not a completed file.
			cur.files++
		}
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			p := key[:i+1]
			donePrefix[p]--
			if donePrefix[p] == 0 {
				j.set(func() { j.stats.PrefixesCompleted++ })
			}
		}
		// Batches hold exactly limit records (a file's records may span
		// two), so each is whole row groups; a file counts as done with
		// the batch that holds its last record.
		for len(cur.records) >= limit && wctx.Err() == nil {
			next := batch{records: append([]json.RawMessage(nil), cur.records[limit:]...)}
			cur.records = cur.records[:limit:limit]
			if len(next.records) > 0 {
				// The last file read goes on into the next batch.
				next.files, cur.files = 1, cur.files-1
			}
			select {
			case batches <- cur:
			case <-wctx.Done():
			}
			cur = next
		}
	}
	if cur.files > 0 && wctx.Err() == nil {
		select {
		case batches <- cur:
		case <-wctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		j.set(func() { j.status = ImportStopped })
	case addErr != nil:
		j.set(func() { j.status = ImportFailed })
		im.Log.Warn("import failed", "import", j.ID, "err", addErr)
	default:
		j.set(func() { j.status = ImportCompleted })
	}
}

// importBatch is how many records an import adds in one transaction:
// DuckDB's row group, so that each batch is written straight to the
// database file as whole row groups, not through the write-ahead log.
const importBatch = 122880

// readLogFile reads a CloudTrail log file: {"Records":[...]}, gzipped or
// not, within lim. The object is in a tenant's bucket, so it is streamed
// and bounded as it is read; a file over a limit is an error like any
// other unreadable file. Records of any eventVersion are taken as they
// are.
func readLogFile(ctx context.Context, st objstore.Store, bucket, key string, lim safeio.Limits) ([]json.RawMessage, error) {
	obj, err := st.Open(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	if err := lim.CheckSize(obj.Size); err != nil {
		return nil, err
	}
	return ingest.ReadLog(obj.Body, lim)
}

func eventTime(r json.RawMessage) (time.Time, bool) {
	var e struct{ EventTime string }
	if json.Unmarshal(r, &e) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, e.EventTime)
	return t, err == nil
}

func (im *Imports) find(c *awsapi.Call, id string) (*importJob, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	j, ok := im.byID[id]
	if !ok || j.Account != c.AccountID || j.Region != c.Region {
		return nil, awsapi.Errorf(awsapi.CodeImportNotFound, "The specified import was not found.")
	}
	return j, nil
}

type importRef struct{ ImportId string }

func (im *Imports) get(ctx context.Context, c *awsapi.Call) (any, error) {
	var req importRef
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	j, err := im.find(c, req.ImportId)
	if err != nil {
		return nil, err
	}
	return j.view(true), nil
}

func (im *Imports) stop(ctx context.Context, c *awsapi.Call) (any, error) {
	var req importRef
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	j, err := im.find(c, req.ImportId)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	if j.status == ImportInitializing || j.status == ImportInProgress {
		j.cancel()
		j.status = ImportStopped
	}
	j.mu.Unlock()
	return j.view(true), nil
}

type listImportsRequest struct {
	MaxResults   *int
	Destination  string
	ImportStatus string
	NextToken    string
}

func (im *Imports) list(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listImportsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	max, err := pageSize(req.MaxResults, awsapi.CodeInvalidParameter, "MaxResults")
	if err != nil {
		return nil, err
	}
	dest := ""
	if req.Destination != "" {
		s, err := im.API.find(c, req.Destination)
		if err != nil {
			return nil, err
		}
		dest = s.ARN()
	}
	type entry struct {
		ImportId         string
		ImportStatus     string
		Destinations     []string
		CreatedTimestamp awsapi.Time
		UpdatedTimestamp awsapi.Time
	}
	var all []entry
	im.mu.Lock()
	for _, j := range im.byID {
		if j.Account != c.AccountID || j.Region != c.Region {
			continue
		}
		v := j.view(false)
		if req.ImportStatus != "" && v.ImportStatus != req.ImportStatus {
			continue
		}
		if dest != "" && !contains(v.Destinations, dest) {
			continue
		}
		all = append(all, entry{v.ImportId, v.ImportStatus, v.Destinations, v.CreatedTimestamp, v.UpdatedTimestamp})
	}
	im.mu.Unlock()
	sort.Slice(all, func(a, b int) bool {
		if !all[a].CreatedTimestamp.Equal(all[b].CreatedTimestamp.Time) {
			return all[a].CreatedTimestamp.After(all[b].CreatedTimestamp.Time)
		}
		return all[a].ImportId < all[b].ImportId
	})
	items, next, err := page(all, req.NextToken, max)
	if err != nil {
		return nil, err
	}
	return struct {
		Imports   []entry
		NextToken string `json:",omitempty"`
	}{append([]entry{}, items...), next}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type listFailuresRequest struct {
	ImportId   string
	MaxResults *int
	NextToken  string
}

func (im *Imports) failures(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listFailuresRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	j, err := im.find(c, req.ImportId)
	if err != nil {
		return nil, err
	}
	max, err := pageSize(req.MaxResults, awsapi.CodeInvalidParameter, "MaxResults")
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	all := append([]importFailure(nil), j.failures...)
	j.mu.Unlock()
	items, next, err := page(all, req.NextToken, max)
	if err != nil {
		return nil, err
	}
	return struct {
		Failures  []importFailure
		NextToken string `json:",omitempty"`
	}{append([]importFailure{}, items...), next}, nil
}
