package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cairn-audit/cairn/internal/client"
	"github.com/cairn-audit/cairn/internal/ingest"
)

// LakeOptions says how to run the Lake benchmark against a server on
// this machine.
type LakeOptions struct {
	// DataDir is the server's data directory: the data set is made in
	// (or taken from) its fs bucket Bucket, and the store's size is read
	// from its lake folder.
	DataDir string
	Bucket  string
	Account string
	// Data makes the data set when the bucket holds none.
	Data LakeDataOptions
	// Repeat is how many times each query runs on the server.
	Repeat int
	// Compare also runs each query with DuckDB over the raw files and
	// with zgrep.
	Compare bool
	// Store, if set, is a store that already holds the data set: the
	// import is skipped.
	Store string
}

// LakeQuery is one query of the benchmark, as Lake SQL, as DuckDB SQL
// over the raw files, and as a zgrep pipeline. The pipeline is what
// zgrep does, with one gzip for all files rather than one per file,
// which would make it several times slower still, and a line per JSON
// member, since a log file is one line and grep would otherwise hold all
// of them as one.
type LakeQuery struct {
	Name  string `json:"name"`
	Lake  string `json:"lake"`
	Raw   string `json:"-"`
	Zgrep string `json:"-"`
}

// LakeQueryResult is one query's measurements.
type LakeQueryResult struct {
	LakeQuery
	Rows int `json:"rows"`
	// EndToEnd is StartQuery to the last page of GetQueryResults.
	EndToEnd Percentiles `json:"end_to_end"`
	// ServerMillis is the median ExecutionTimeInMillis.
	ServerMillis int64         `json:"server_millis"`
	Raw          time.Duration `json:"raw_duckdb,omitempty"`
	RawRows      int           `json:"raw_rows,omitempty"`
	Zgrep        time.Duration `json:"zgrep,omitempty"`
}

// LakeResult is what the Lake benchmark measured.
type LakeResult struct {
	Data            LakeData          `json:"data"`
	Imported        int64             `json:"imported"`
	ImportTime      time.Duration     `json:"import_time"`
	ImportPerSecond float64           `json:"import_events_per_second"`
	StoreBytes      int64             `json:"store_bytes"`
	Queries         []LakeQueryResult `json:"queries"`
	MaxRSSBytes     float64           `json:"server_max_rss_bytes"`
}

// lakeQueries are the benchmark's queries; {eds} is the store, {raw} the
// DuckDB table function over the raw files, {dir} the data set.
var lakeQueries = []LakeQuery{
	{
		Name:  "GROUP BY eventname",
		Lake:  "SELECT eventname, count(*) AS n FROM {eds} GROUP BY eventname ORDER BY n DESC, eventname LIMIT 10",
		Raw:   "SELECT r.eventName, count(*) AS n FROM (SELECT unnest(Records) AS r FROM {raw}) GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
		Zgrep: `find {dir} -name '*.json.gz' -print0 | xargs -0 cat | gzip -dc | tr , '\n' | grep -o '"eventName":"[^"]*"' | sort | uniq -c | sort -rn | head -10`,
	},
	{
		Name:  "selective filter",
		Lake:  "SELECT eventtime, useridentity.arn, sourceipaddress FROM {eds} WHERE eventname = 'DeleteTrail'",
		Raw:   "SELECT r.eventTime, r.userIdentity.arn, r.sourceIPAddress FROM (SELECT unnest(Records) AS r FROM {raw}) WHERE r.eventName = 'DeleteTrail'",
		Zgrep: `find {dir} -name '*.json.gz' -print0 | xargs -0 cat | gzip -dc | tr , '\n' | grep -c '"eventName":"DeleteTrail"'`,
	},
	{
		Name: "errors by user, last 7 days",
		Lake: "SELECT useridentity.arn, errorcode, count(*) AS n FROM {eds} WHERE errorcode IS NOT NULL AND eventtime > date_add('day', -7, now()) " +
			"GROUP BY 1, 2 ORDER BY n DESC LIMIT 10",
		Raw: "SELECT r.userIdentity.arn, r.errorCode, count(*) AS n FROM (SELECT unnest(Records) AS r FROM {raw}) " +
			"WHERE r.errorCode IS NOT NULL AND CAST(r.eventTime AS TIMESTAMP) > now()::TIMESTAMP - INTERVAL 7 DAY GROUP BY 1, 2 ORDER BY n DESC LIMIT 10",
	},
}

// rawColumns is the table definition DuckDB reads the raw files with, as
// an Athena table declares the columns it needs.
const rawColumns = `{'Records': 'STRUCT(eventName VARCHAR, eventTime VARCHAR, errorCode VARCHAR, sourceIPAddress VARCHAR, ` +
	`userIdentity STRUCT(arn VARCHAR))[]'}`

// Lake imports a data set of CloudTrail log files into a new event data
// store, then times queries on it, and (with Compare) the same queries
// with DuckDB reading the raw files and with zgrep.
func Lake(ctx context.Context, root *client.Client, o LakeOptions, progress io.Writer) (LakeResult, error) {
	var res LakeResult
	if o.Repeat <= 0 {
		o.Repeat = 5
	}
	bucketDir := filepath.Join(o.DataDir, "buckets", o.Bucket)
	data, err := measureData(bucketDir)
	if err != nil {
		return res, err
	}
	if data.Files == 0 {
		if o.Data.Source == "" {
			return res, fmt.Errorf("bucket %s holds no log files: give a folder of CloudTrail log files to make the data set from", o.Bucket)
		}
		o.Data.Dir = bucketDir
		if data, err = GenerateLakeData(ctx, o.Data, progress); err != nil {
			return res, err
		}
	}
	res.Data = data

	if err := root.Call(ctx, ingest.Target, "CreateAccount", map[string]string{"AccountId": o.Account, "Name": "lake benchmark"}, nil); err != nil && !alreadyExists(err) {
		return res, err
	}
	c := root.ForAccount(o.Account)
	if err := c.Call(ctx, ingest.Target, "CreateBucket", map[string]any{"Bucket": o.Bucket, "Backend": "fs"}, nil); err != nil && !alreadyExists(err) {
		return res, err
	}
	mem := &memWatcher{endpoint: root.Endpoint()}
	mctx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	go mem.run(mctx)

	id := o.Store
	if id == "" {
		if id, err = importLake(ctx, c, o, &res, progress); err != nil {
			return res, err
		}
	}
	if res.ImportTime > 0 {
		res.ImportPerSecond = float64(res.Imported) / res.ImportTime.Seconds()
	}
	if res.Data.Events == 0 {
		// A data set made earlier: its events are what the import read.
		res.Data.Events = int(res.Imported)
	}

	// Queries on the store.
	var rawDB *sql.DB
	if o.Compare {
		if rawDB, err = sql.Open("duckdb", ""); err != nil {
			return res, err
		}
		defer rawDB.Close()
	}
	for _, q := range lakeQueries {
		r := LakeQueryResult{LakeQuery: q}
		r.Lake = strings.ReplaceAll(q.Lake, "{eds}", id)
		var times []time.Duration
		var server []int64
		for i := 0; i < o.Repeat; i++ {
			d, rows, ms, err := timeLakeQuery(ctx, c, r.Lake)
			if err != nil {
				return res, fmt.Errorf("%s: %w", q.Name, err)
			}
			times, server, r.Rows = append(times, d), append(server, ms), rows
		}
		r.EndToEnd = percentiles(times)
		sort.Slice(server, func(i, j int) bool { return server[i] < server[j] })
		r.ServerMillis = server[len(server)/2]
		if progress != nil {
			fmt.Fprintf(progress, "%s: %d rows, end to end %s\n", q.Name, r.Rows, r.EndToEnd)
		}
		if o.Compare {
			raw := fmt.Sprintf("read_json(%s, format = 'unstructured', columns = %s, compression = 'gzip')",
				sqlString(filepath.Join(bucketDir, "AWSLogs", "**", "*.json.gz")), rawColumns)
			start := time.Now()
			rs, err := rawDB.QueryContext(ctx, strings.ReplaceAll(q.Raw, "{raw}", raw))
			if err != nil {
				return res, fmt.Errorf("%s on the raw files: %w", q.Name, err)
			}
			for rs.Next() {
				r.RawRows++
			}
			err = rs.Err()
			rs.Close()
			if err != nil {
				return res, fmt.Errorf("%s on the raw files: %w", q.Name, err)
			}
			r.Raw = time.Since(start)
			if progress != nil {
				fmt.Fprintf(progress, "%s: DuckDB on the raw files %s (%d rows)\n", q.Name, r.Raw.Round(time.Millisecond), r.RawRows)
			}
			if q.Zgrep != "" {
				start = time.Now()
				cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(q.Zgrep, "{dir}", shellQuote(bucketDir)))
				if out, err := cmd.Output(); err != nil {
					return res, fmt.Errorf("%s with zgrep: %w (%s)", q.Name, err, out)
				}
				r.Zgrep = time.Since(start)
				if progress != nil {
					fmt.Fprintf(progress, "%s: zgrep %s\n", q.Name, r.Zgrep.Round(time.Millisecond))
				}
			}
		}
		res.Queries = append(res.Queries, r)
	}
	stopMem()
	res.MaxRSSBytes = mem.MaxRSS()
	res.StoreBytes = dirSize(filepath.Join(o.DataDir, "lake"))
	return res, nil
}

// importLake makes a store and imports the data set into it with
// StartImport, timing it.
func importLake(ctx context.Context, c *client.Client, o LakeOptions, res *LakeResult, progress io.Writer) (string, error) {
	var eds struct{ EventDataStoreArn string }
	name := "lake-bench-" + time.Now().UTC().Format("20060102T150405")
	if err := c.Call(ctx, ctTarget, "CreateEventDataStore", map[string]any{"Name": name, "RetentionPeriod": 3653, "TerminationProtectionEnabled": false}, &eds); err != nil {
		return "", err
	}
	id := eds.EventDataStoreArn[strings.LastIndexByte(eds.EventDataStoreArn, '/')+1:]

	// Import.
	var started struct{ ImportId string }
	begin := time.Now()
	err := c.Call(ctx, ctTarget, "StartImport", map[string]any{
		"Destinations": []string{eds.EventDataStoreArn},
		"ImportSource": map[string]any{"S3": map[string]any{"S3LocationUri": "s3://" + o.Bucket + "/", "S3BucketRegion": c.Region(),
			"S3BucketAccessRoleArn": "arn:aws:iam::" + o.Account + ":role/lake-bench"}},
	}, &started)
	if err != nil {
		return "", err
	}
	var lastShown time.Time
	for {
		var imp struct {
			ImportStatus     string
			ImportStatistics struct{ EventsCompleted, FilesCompleted, FailedEntries int64 }
		}
		if err := c.Call(ctx, ctTarget, "GetImport", map[string]any{"ImportId": started.ImportId}, &imp); err != nil {
			return "", err
		}
		st := imp.ImportStatistics
		if progress != nil && time.Since(lastShown) >= time.Second {
			lastShown = time.Now()
			fmt.Fprintf(progress, "\rimport: %d files, %d events, %.0f events/s   ", st.FilesCompleted, st.EventsCompleted, float64(st.EventsCompleted)/time.Since(begin).Seconds())
		}
		if imp.ImportStatus != "INITIALIZING" && imp.ImportStatus != "IN_PROGRESS" {
			res.ImportTime = time.Since(begin)
			res.Imported = st.EventsCompleted
			if progress != nil {
				fmt.Fprintln(progress)
			}
			if imp.ImportStatus != "COMPLETED" {
				return "", fmt.Errorf("import ended %s", imp.ImportStatus)
			}
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return id, nil
}

// timeLakeQuery runs a query as a client would, polling DescribeQuery
// closely, and reads every page of its results: the time from StartQuery
// to the last page.
func timeLakeQuery(ctx context.Context, c *client.Client, stmt string) (time.Duration, int, int64, error) {
	start := time.Now()
	var q struct{ QueryId string }
	if err := c.Call(ctx, ctTarget, "StartQuery", map[string]any{"QueryStatement": stmt}, &q); err != nil {
		return 0, 0, 0, err
	}
	var ms int64
	for {
		var d struct {
			QueryStatus     string
			ErrorMessage    string
			QueryStatistics struct{ ExecutionTimeInMillis int64 }
		}
		if err := c.Call(ctx, ctTarget, "DescribeQuery", map[string]any{"QueryId": q.QueryId}, &d); err != nil {
			return 0, 0, 0, err
		}
		if d.QueryStatus == "FINISHED" {
			ms = d.QueryStatistics.ExecutionTimeInMillis
			break
		}
		if d.QueryStatus != "QUEUED" && d.QueryStatus != "RUNNING" {
			return 0, 0, 0, fmt.Errorf("query %s: %s", d.QueryStatus, d.ErrorMessage)
		}
		time.Sleep(2 * time.Millisecond)
	}
	rows := 0
	token := ""
	for {
		in := map[string]any{"QueryId": q.QueryId, "MaxQueryResults": 1000}
		if token != "" {
			in["NextToken"] = token
		}
		var page struct {
			QueryResultRows [][]map[string]string
			NextToken       string
		}
		if err := c.Call(ctx, ctTarget, "GetQueryResults", in, &page); err != nil {
			return 0, 0, 0, err
		}
		rows += len(page.QueryResultRows)
		if token = page.NextToken; token == "" {
			break
		}
	}
	return time.Since(start), rows, ms, nil
}

// measureData counts the log files under dir and their bytes.
func measureData(dir string) (LakeData, error) {
	var d LakeData
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !e.IsDir() && strings.HasSuffix(p, ".json.gz") {
			info, err := e.Info()
			if err != nil {
				return err
			}
			d.Files++
			d.Bytes += info.Size()
		}
		return nil
	})
	return d, err
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func alreadyExists(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && (strings.Contains(ae.Code, "AlreadyExists") || strings.Contains(ae.Code, "BucketAlreadyOwnedByYou") || strings.Contains(ae.Code, "EntityAlreadyExists"))
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// WriteMarkdown writes the result as a table for docs/benchmarks.md.
func (r LakeResult) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "| data set | %d events in %d files, %.1f MiB gzipped (%.1f MiB of JSON) |\n", r.Data.Events, r.Data.Files, float64(r.Data.Bytes)/(1<<20), float64(r.Data.RawBytes)/(1<<20))
	fmt.Fprintf(w, "| import | %d events in %.1f s = %.0f events/s |\n", r.Imported, r.ImportTime.Seconds(), r.ImportPerSecond)
	fmt.Fprintf(w, "| store on disk | %.1f MiB (%.2f× the gzipped files) |\n", float64(r.StoreBytes)/(1<<20), float64(r.StoreBytes)/float64(max(r.Data.Bytes, 1)))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| query | rows | cairn end to end p50 / max | server | DuckDB on raw files | zgrep |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, q := range r.Queries {
		raw, zg := "—", "—"
		if q.Raw > 0 {
			raw = fmt.Sprintf("%.1f s (%.0f×)", q.Raw.Seconds(), float64(q.Raw)/float64(q.EndToEnd.P50))
		}
		if q.Zgrep > 0 {
			zg = fmt.Sprintf("%.1f s (%.0f×)", q.Zgrep.Seconds(), float64(q.Zgrep)/float64(q.EndToEnd.P50))
		}
		fmt.Fprintf(w, "| %s | %d | %d / %d ms | %d ms | %s | %s |\n", q.Name, q.Rows, q.EndToEnd.P50.Milliseconds(), q.EndToEnd.Max.Milliseconds(), q.ServerMillis, raw, zg)
	}
}
