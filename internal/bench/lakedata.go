package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LakeDataOptions says how to make a data set of CloudTrail log files for
// the Lake benchmark.
type LakeDataOptions struct {
	// Source is a folder of CloudTrail log files (.json.gz or .json, any
	// layout) whose records are the templates.
	Source string
	// Dir is where the data set is written, in AWS's layout
	// (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/...json.gz).
	Dir string
	// Events is how many records to write.
	Events int
	// FilesPerFile is how many template files of one account and Region
	// make one file of the data set: a busy account's five minutes.
	FilesPerFile int
	// End is the newest eventTime; events are spread evenly over Span
	// before it, in the order they are written.
	End  time.Time
	Span time.Duration
}

// LakeData is what was written.
type LakeData struct {
	Events int   `json:"events"`
	Files  int   `json:"files"`
	Bytes  int64 `json:"bytes"`
	// RawBytes is the size of the records' JSON before compression.
	RawBytes int64 `json:"raw_bytes"`
}

// templateFile is one log file's records, with its account and Region.
type templateFile struct {
	account, region string
	records         []json.RawMessage
}

// loadTemplates reads every log file under dir, in name order.
func loadTemplates(dir string) ([]templateFile, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".json.gz") || strings.HasSuffix(p, ".json") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []templateFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				continue
			}
			if b, err = io.ReadAll(zr); err != nil {
				continue
			}
		}
		var doc struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &doc) != nil || len(doc.Records) == 0 {
			continue
		}
		var head struct{ RecipientAccountID, AWSRegion string }
		_ = json.Unmarshal(doc.Records[0], &head)
		if head.RecipientAccountID == "" || head.AWSRegion == "" {
			continue
		}
		for i, r := range doc.Records {
			doc.Records[i] = compact(r)
		}
		out = append(out, templateFile{account: head.RecipientAccountID, region: head.AWSRegion, records: doc.Records})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CloudTrail log files under %s", dir)
	}
	return out, nil
}

func compact(r json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, r) != nil {
		return r
	}
	return b.Bytes()
}

// GenerateLakeData writes a data set of o.Events records made from the
// template records: each keeps everything but its eventID and requestID
// (new random ones) and its eventTime (spread over o.Span). Files are
// made of o.FilesPerFile template files of one account and Region, and
// named as CloudTrail names them.
func GenerateLakeData(ctx context.Context, o LakeDataOptions, progress io.Writer) (LakeData, error) {
	templates, err := loadTemplates(o.Source)
	if err != nil {
		return LakeData{}, err
	}
	if o.FilesPerFile <= 0 {
		o.FilesPerFile = 10
	}
	// Group the templates by account and Region, then cut each group
	// into runs of FilesPerFile: one run is one file of the data set.
	byKey := map[string][]templateFile{}
	var keys []string
	for _, t := range templates {
		k := t.account + "/" + t.region
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t)
	}
	var runs [][]templateFile
	for _, k := range keys {
		g := byKey[k]
		for i := 0; i < len(g); i += o.FilesPerFile {
			runs = append(runs, g[i:min(i+o.FilesPerFile, len(g))])
		}
	}
	// Plan the files: which run, and how many events come before it.
	type plan struct {
		run    []templateFile
		first  int
		events int
	}
	var plans []plan
	for n, i := 0, 0; n < o.Events; i++ {
		run := runs[i%len(runs)]
		count := 0
		for _, t := range run {
			count += len(t.records)
		}
		count = min(count, o.Events-n)
		plans = append(plans, plan{run: run, first: n, events: count})
		n += count
	}
	var (
		files, written int64
		bytesOut, raw  int64
		mu             sync.Mutex
		firstErr       error
	)
	work := make(chan plan)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body, gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			for p := range work {
				body.Reset()
				body.WriteString(`{"Records":[`)
				k := 0
				var fileTime time.Time
				for _, t := range p.run {
					for _, r := range t.records {
						if k == p.events {
							break
						}
						at := o.End.Add(-o.Span + time.Duration(float64(o.Span)*float64(p.first+k)/float64(o.Events))).Truncate(time.Second)
						if k == 0 {
							fileTime = at
						} else {
							body.WriteByte(',')
						}
						body.Write(rewriteRecord(r, at))
						k++
					}
				}
				body.WriteString("]}")
				gz.Reset()
				zw.Reset(&gz)
				zw.Write(body.Bytes())
				zw.Close()
				acct, region := p.run[0].account, p.run[0].region
				utc := fileTime.UTC()
				dir := filepath.Join(o.Dir, "AWSLogs", acct, "CloudTrail", region, utc.Format("2006"), utc.Format("01"), utc.Format("02"))
				name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", acct, region, utc.Truncate(5*time.Minute).Format("20060102T1504Z"), randomSuffix())
				err := os.MkdirAll(dir, 0o755)
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, name), gz.Bytes(), 0o644)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				atomic.AddInt64(&bytesOut, int64(gz.Len()))
				atomic.AddInt64(&raw, int64(body.Len()))
				atomic.AddInt64(&written, int64(k))
				if f := atomic.AddInt64(&files, 1); progress != nil && f%5000 == 0 {
					fmt.Fprintf(progress, "\rdata set: %d files, %d events", f, atomic.LoadInt64(&written))
				}
			}
		}()
	}
	for _, p := range plans {
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if progress != nil {
		fmt.Fprintf(progress, "\rdata set: %d files, %d events\n", files, written)
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return LakeData{Events: int(written), Files: int(files), Bytes: bytesOut, RawBytes: raw}, firstErr
}

// rewriteRecord gives a template record a new eventID and requestID and
// the eventTime at. Compact records are edited in place; anything else
// is decoded and encoded again.
func rewriteRecord(r json.RawMessage, at time.Time) []byte {
	out := make([]byte, 0, len(r)+16)
	out = append(out, r...)
	var ok bool
	if out, ok = replaceString(out, `"eventID":"`, newUUID()); !ok {
		return rewriteSlow(r, at)
	}
	out, _ = replaceString(out, `"requestID":"`, newUUID())
	out, _ = replaceString(out, `"eventTime":"`, at.UTC().Format("2006-01-02T15:04:05Z"))
	return out
}

// replaceString replaces the string value that follows key (`"name":"`)
// with v.
func replaceString(b []byte, key, v string) ([]byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return b, false
	}
	start := i + len(key)
	end := start
	for end < len(b) && b[end] != '"' {
		if b[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(b) {
		return b, false
	}
	return append(b[:start], append([]byte(v), b[end:]...)...), true
}

func rewriteSlow(r json.RawMessage, at time.Time) []byte {
	var m map[string]any
	if json.Unmarshal(r, &m) != nil {
		return r
	}
	m["eventID"] = newUUID()
	if _, ok := m["requestID"].(string); ok {
		m["requestID"] = newUUID()
	}
	m["eventTime"] = at.UTC().Format("2006-01-02T15:04:05Z")
	b, err := json.Marshal(m)
	if err != nil {
		return r
	}
	return b
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

const suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomSuffix() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b[:])
}
