package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
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

// ReadFile reads the records of one file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Path: path, AccountID: PathAccount(path), Records: recs}, nil
}

// ErrNotRecords is returned for content that holds no CloudTrail records.
var ErrNotRecords = errors.New("not CloudTrail records: expected {\"Records\":[...]}, a JSON array, or one JSON object per line")

// Read reads records from r, gzip or not: a {"Records":[...]} document, a
// JSON array of records, or a sequence of records (NDJSON).
func Read(r io.Reader) ([]json.RawMessage, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	d := json.NewDecoder(br)
	var recs []json.RawMessage
	for n := 0; ; n++ {
		var v json.RawMessage
		err := d.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", n+1, err)
		}
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '[':
			var arr []json.RawMessage
			if err := json.Unmarshal(v, &arr); err != nil {
				return nil, err
			}
			for _, e := range arr {
				recs = append(recs, unwrapLookupEvent(e))
			}
		case len(v) > 0 && v[0] == '{':
			var doc struct {
				Records *[]json.RawMessage `json:"Records"`
				Events  *[]json.RawMessage `json:"Events"`
			}
			switch err := json.Unmarshal(v, &doc); {
			case err == nil && doc.Records != nil:
				recs = append(recs, *doc.Records...)
			case err == nil && doc.Events != nil:
				// Saved `aws cloudtrail lookup-events` output.
				for _, e := range *doc.Events {
					recs = append(recs, unwrapLookupEvent(e))
				}
			default:
				recs = append(recs, unwrapLookupEvent(v))
			}
		default:
			return nil, ErrNotRecords
		}
	}
	return recs, nil
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
