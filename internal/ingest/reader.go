package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cairn-audit/cairn/internal/safeio"
)

// File is the records of one file, with the account its path names.
type File struct {
	Path string
	// AccountID is the account of an AWSLogs/[o-id/]ACCOUNT/ path, or "".
	AccountID string
	Records   []json.RawMessage
}

var awsLogsAccount = regexp.MustCompile(`(?:^|/)AWSLogs/(?:o-[a-z0-9]{10,32}/)?([0-9]{12})/`)

// PathAccount returns the account named by an AWSLogs/ path, or "".
func PathAccount(path string) string {
	m := awsLogsAccount.FindStringSubmatch(filepath.ToSlash(path))
	if m == nil {
		return ""
	}
	return m[1]
}

// Files lists the record files under paths: files given by name are taken
// as they are; directories are walked for .json, .json.gz, .jsonl, .ndjson
// (and their .gz) files, skipping CloudTrail-Digest folders, whose files are
// digests rather than records. The order is stable.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "CloudTrail-Digest" {
					return filepath.SkipDir
				}
				return nil
			}
			if recordFile(d.Name()) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func recordFile(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// ReadFile reads the records of one file within safeio.LogFile's limits.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lim := safeio.LogFile()
	st, err := f.Stat()
	if err == nil {
		err = lim.CheckSize(st.Size())
	}
	var recs []json.RawMessage
	if err == nil {
		recs, err = ReadWithin(f, lim)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Path: path, AccountID: PathAccount(path), Records: recs}, nil
}

// Errors of the readers.
var (
	// ErrNotRecords is returned for content that holds no CloudTrail
	// records.
	ErrNotRecords = errors.New("not CloudTrail records: expected {\"Records\":[...]}, a JSON array, or one JSON object per line")
	// ErrNotLogFile is returned by ReadLog for anything but a log file.
	ErrNotLogFile = errors.New("not a CloudTrail log file")
)

// Read reads records from r within safeio.LogFile's limits; see
// ReadWithin.
func Read(r io.Reader) ([]json.RawMessage, error) {
	return ReadWithin(r, safeio.LogFile())
}

// ReadWithin reads records from r, gzip or not: a {"Records":[...]}
// document, a JSON array of records, saved lookup-events output, or a
// sequence of records (NDJSON), failing with safeio.ErrTooLarge past lim.
// Arrays and documents are read record by record; each record, and any
// other value, is held whole (each at most lim.Inflated bytes).
func ReadWithin(r io.Reader, lim safeio.Limits) ([]json.RawMessage, error) {
	content, err := safeio.NewReader(r, lim)
	if err != nil {
		return nil, err
	}
	rr := &recordReader{w: window{r: content}, lim: lim}
	for n := 1; ; n++ {
		more, err := rr.w.skipSpace()
		if err == nil && more {
			err = rr.topValue()
		}
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", n, err)
		}
		if !more {
			return rr.recs, nil
		}
	}
}

// ReadLog reads a CloudTrail log file, gzip or not, within lim: one
// {"Records":[...]} document and nothing else, read record by record.
func ReadLog(r io.Reader, lim safeio.Limits) ([]json.RawMessage, error) {
	content, err := safeio.NewReader(r, lim)
	if err != nil {
		return nil, err
	}
	rr := &recordReader{w: window{r: content}, lim: lim}
	found, err := rr.doc(false)
	if err == nil && !found {
		err = fmt.Errorf("%w: no Records", ErrNotLogFile)
	}
	if err == nil {
		if more, serr := rr.w.skipSpace(); serr != nil {
			err = serr
		} else if more {
			err = fmt.Errorf("%w: more after the document", ErrNotLogFile)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrNotLogFile) && !errors.Is(err, safeio.ErrTooLarge) {
			err = fmt.Errorf("%w: %w", ErrNotLogFile, err)
		}
		return nil, err
	}
	return rr.recs, nil
}

// unwrapLookupEvent returns the record inside one LookupEvents result (its
// CloudTrailEvent string), or v itself when v is a record.
func unwrapLookupEvent(v json.RawMessage) json.RawMessage {
	if !bytes.Contains(v, []byte(`"CloudTrailEvent"`)) {
		return v
	}
	var le struct {
		CloudTrailEvent *string `json:"CloudTrailEvent"`
	}
	if json.Unmarshal(v, &le) != nil || le.CloudTrailEvent == nil {
		return v
	}
	return json.RawMessage(*le.CloudTrailEvent)
}
