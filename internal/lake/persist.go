package lake

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/event"
)

// Queries and imports are kept in memory while they run and written to a
// folder of their own once they end (imports also when they start), so
// that results stay available for 7 days across restarts. A query that
// was running when the server stopped is lost with it; an import that
// was running is STOPPED after the restart, and StartImport with its ID
// runs it again.

// writeJSONGz writes v as gzipped JSON to path, replacing it whole.
func writeJSONGz(path string, v any) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	err = json.NewEncoder(zw).Encode(v)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func readJSONGz(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	return json.NewDecoder(zr).Decode(v)
}

// eachSaved calls load for every saved file in dir, and removes the
// files load says are too old or cannot be read.
func eachSaved(dir string, load func(path string) (keep bool, err error)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".tmp") {
			return os.Remove(p)
		}
		keep, err := load(p)
		if err != nil || !keep {
			os.Remove(p)
		}
		return nil
	})
}

type savedQuery struct {
	ID, Account, Region, Statement string
	Stores                         []string
	Created                        time.Time
	Status, ErrMsg                 string
	Columns                        []string
	Total                          int64 // rows of the result, kept in pages under Queries.ResultsDir
	// Rows is where servers before paged results kept the whole
	// result; Load moves it to pages.
	Rows                           [][]*string `json:",omitempty"`
	Scanned, Bytes, ExecMillis     int64
	DeliveryURI, DeliveryBucket    string
	DeliveryPrefix, DeliveryStatus string
}

// save writes an ended query; errors are logged, the query stays in
// memory.
func (q *Queries) save(r *query) {
	if q.Dir == "" {
		return
	}
	r.mu.Lock()
	s := savedQuery{ID: r.ID, Account: r.Account, Region: r.Region, Statement: r.Statement, Stores: r.Stores, Created: r.Created,
		Status: r.status, ErrMsg: r.errMsg, Columns: r.columns, Total: r.total, Scanned: r.scanned, Bytes: r.bytes, ExecMillis: r.execMillis}
	if d := r.copyTo; d != nil {
		s.DeliveryURI, s.DeliveryBucket, s.DeliveryPrefix, s.DeliveryStatus = d.uri, d.bucket, d.prefix, d.status
	}
	r.mu.Unlock()
	if err := writeJSONGz(filepath.Join(q.Dir, s.ID+".json.gz"), s); err != nil && q.Log != nil {
		q.Log.Warn("save query", "query", s.ID, "err", err)
	}
}

// Load reads what earlier runs saved of the queries of the last 7 days:
// their status and statistics, not their results, which stay on disk
// until GetQueryResults asks for a page. A result saved whole, as
// servers before paged results did, is moved to pages, one query at a
// time. Results of queries no longer kept are removed.
func (q *Queries) Load() error {
	if q.Dir == "" {
		return nil
	}
	loaded := map[string]*query{}
	err := eachSaved(q.Dir, func(p string) (bool, error) {
		var s savedQuery
		if err := readJSONGz(p, &s); err != nil {
			return false, err
		}
		if _, err := uuid.Parse(s.ID); err != nil || !event.ValidAccountID(s.Account) {
			return false, errors.New("not a saved query")
		}
		dir, err := q.resultsDir(s.Account, s.ID)
		if err != nil {
			return true, err
		}
		if q.now().Sub(s.Created) > queryKept {
			os.RemoveAll(dir)
			return false, nil
		}
		r := &query{ID: s.ID, Account: s.Account, Region: s.Region, Statement: s.Statement, Stores: s.Stores, Created: s.Created,
			status: s.Status, errMsg: s.ErrMsg, columns: s.Columns, total: s.Total, scanned: s.Scanned, bytes: s.Bytes, execMillis: s.ExecMillis}
		if s.Status == QueryFinished {
			r.resDir = dir
			if s.Rows != nil {
				if err := q.convertSaved(p, &s, dir); err != nil {
					return false, err
				}
				r.total = s.Total
			}
		}
		if s.DeliveryURI != "" {
			r.copyTo = &resultCopy{uri: s.DeliveryURI, bucket: s.DeliveryBucket, prefix: s.DeliveryPrefix, status: s.DeliveryStatus}
		}
		loaded[r.ID] = r
		return true, nil
	})
	q.mu.Lock()
	if q.byID == nil {
		q.byID = map[string]*query{}
	}
	for id, r := range loaded {
		q.byID[id] = r
	}
	q.mu.Unlock()
	if err != nil {
		return err
	}
	q.removeOrphanResults(loaded)
	return nil
}

// convertSaved moves the rows of a query saved whole at path to pages
// in dir and saves the query again without them.
func (q *Queries) convertSaved(path string, s *savedQuery, dir string) error {
	os.RemoveAll(dir)
	w := &resultWriter{dir: dir, maxRows: int64(len(s.Rows)), maxText: math.MaxInt64}
	for _, row := range s.Rows {
		if err := w.add(row); err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	s.Rows, s.Total = nil, w.rows
	if err := writeJSONGz(path, s); err != nil {
		return err
	}
	if q.Log != nil {
		q.Log.Info("query results moved to pages", "query", s.ID, "rows", s.Total)
	}
	return nil
}

// removeOrphanResults removes the result folders of queries that are not
// kept: those that were running when the server stopped, or whose saved
// query could not be read.
func (q *Queries) removeOrphanResults(kept map[string]*query) {
	if q.ResultsDir == "" {
		return
	}
	accounts, _ := os.ReadDir(q.ResultsDir)
	for _, a := range accounts {
		ids, _ := os.ReadDir(filepath.Join(q.ResultsDir, a.Name()))
		for _, id := range ids {
			if r := kept[id.Name()]; r == nil || r.Account != a.Name() || r.resDir == "" {
				os.RemoveAll(filepath.Join(q.ResultsDir, a.Name(), id.Name()))
			}
		}
	}
}

type savedImport struct {
	ID, Account, Region           string
	Destinations, StoreIDs        []string
	Source, BucketRegion, RoleArn string
	Start, End                    *time.Time
	Created, Updated              time.Time
	Status                        string
	Stats                         importStats
	Failures                      []importFailure
}

// save writes an import as it stands.
func (im *Imports) save(j *importJob) {
	if im.Dir == "" {
		return
	}
	j.mu.Lock()
	s := savedImport{ID: j.ID, Account: j.Account, Region: j.Region, Destinations: j.Destinations, StoreIDs: j.storeIDs,
		Source: j.Source, BucketRegion: j.BucketRegion, RoleArn: j.RoleArn, Start: j.Start, End: j.End, Created: j.Created,
		Updated: j.updated, Status: j.status, Stats: j.stats, Failures: j.failures}
	j.mu.Unlock()
	if err := writeJSONGz(filepath.Join(im.Dir, s.ID+".json.gz"), s); err != nil && im.Log != nil {
		im.Log.Warn("save import", "import", s.ID, "err", err)
	}
}

// Load reads the imports earlier runs saved; one that was running is
// STOPPED.
func (im *Imports) Load() error {
	if im.Dir == "" {
		return nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.byID == nil {
		im.byID = map[string]*importJob{}
	}
	return eachSaved(im.Dir, func(p string) (bool, error) {
		var s savedImport
		if err := readJSONGz(p, &s); err != nil {
			return false, err
		}
		if s.ID == "" {
			return false, errors.New("no import ID")
		}
		j := &importJob{ID: s.ID, Account: s.Account, Region: s.Region, Destinations: s.Destinations, storeIDs: s.StoreIDs,
			Source: s.Source, BucketRegion: s.BucketRegion, RoleArn: s.RoleArn, Start: s.Start, End: s.End, Created: s.Created,
			status: s.Status, updated: s.Updated, stats: s.Stats, failures: s.Failures}
		if j.status == ImportInitializing || j.status == ImportInProgress {
			j.status = ImportStopped
		}
		im.byID[j.ID] = j
		return true, nil
	})
}
