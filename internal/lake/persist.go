package lake

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	Rows                           [][]*string
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
		Status: r.status, ErrMsg: r.errMsg, Columns: r.columns, Rows: r.rows, Scanned: r.scanned, Bytes: r.bytes, ExecMillis: r.execMillis}
	if d := r.delivery; d != nil {
		s.DeliveryURI, s.DeliveryBucket, s.DeliveryPrefix, s.DeliveryStatus = d.uri, d.bucket, d.prefix, d.status
	}
	r.mu.Unlock()
	if err := writeJSONGz(filepath.Join(q.Dir, s.ID+".json.gz"), s); err != nil && q.Log != nil {
		q.Log.Warn("save query", "query", s.ID, "err", err)
	}
}

// Load reads the queries of the last 7 days that earlier runs saved.
func (q *Queries) Load() error {
	if q.Dir == "" {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byID == nil {
		q.byID = map[string]*query{}
	}
	return eachSaved(q.Dir, func(p string) (bool, error) {
		var s savedQuery
		if err := readJSONGz(p, &s); err != nil {
			return false, err
		}
		if q.now().Sub(s.Created) > queryKept {
			return false, nil
		}
		r := &query{ID: s.ID, Account: s.Account, Region: s.Region, Statement: s.Statement, Stores: s.Stores, Created: s.Created,
			status: s.Status, errMsg: s.ErrMsg, columns: s.Columns, rows: s.Rows, scanned: s.Scanned, bytes: s.Bytes, execMillis: s.ExecMillis}
		if s.DeliveryURI != "" {
			r.delivery = &delivery{uri: s.DeliveryURI, bucket: s.DeliveryBucket, prefix: s.DeliveryPrefix, status: s.DeliveryStatus}
		}
		q.byID[r.ID] = r
		return true, nil
	})
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
