package lake

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/lakesql"
)

// Query statuses.
const (
	QueryQueued    = "QUEUED"
	QueryRunning   = "RUNNING"
	QueryFinished  = "FINISHED"
	QueryFailed    = "FAILED"
	QueryCancelled = "CANCELLED"
	QueryTimedOut  = "TIMED_OUT"
)

// Query limits.
const (
	MaxConcurrentQueries = 10
	maxStatement         = 10000
	queryKept            = 7 * 24 * time.Hour
	// QueryTimeout is when a running query is stopped (TIMED_OUT).
	QueryTimeout = time.Hour
)

// query is one StartQuery's query and, once done, its results.
type query struct {
	ID, Account, Region, Statement string
	Stores                         []string // IDs of the stores it reads
	Created                        time.Time

	mu         sync.Mutex
	status     string
	errMsg     string
	columns    []string
	total      int64  // rows of the result, on disk in pages under resDir
	resDir     string // "" until the query has results
	scanned    int64
	bytes      int64 // BytesScanned
	execMillis int64
	cancel     context.CancelFunc
	copyTo     *resultCopy   // nil without DeliveryS3Uri
	done       chan struct{} // closed once the query has ended and is saved; nil for one loaded
}

// Queries runs Lake queries, each on its account's database.
type Queries struct {
	DBs *Databases
	API *API
	// Buckets are where DeliveryS3Uri may send results.
	Buckets ImportBuckets
	// Dir, if set, is where ended queries are kept across restarts.
	Dir string
	// ResultsDir is where results are written, a folder per account and
	// query; a temporary folder, removed by Close, if "".
	ResultsDir string
	// MaxResultRows and MaxResultBytes limit each query's result
	// (MaxResultRows and MaxResultBytes if 0).
	MaxResultRows, MaxResultBytes int64
	// Timeout is when a query is stopped, TIMED_OUT (QueryTimeout if 0);
	// it counts from StartQuery, queued or running.
	Timeout time.Duration
	Log     *slog.Logger
	Now     func() time.Time
	wg      sync.WaitGroup
	mu      sync.Mutex
	byID    map[string]*query
	closed  bool
	tmp     string // the temporary ResultsDir
}

func (q *Queries) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Close cancels running queries and waits for them.
func (q *Queries) Close() {
	q.mu.Lock()
	q.closed = true
	for _, r := range q.byID {
		r.mu.Lock()
		if r.cancel != nil {
			r.cancel()
		}
		r.mu.Unlock()
	}
	q.mu.Unlock()
	q.wg.Wait()
	if q.tmp != "" {
		os.RemoveAll(q.tmp)
	}
}

// resultsDir is where query id of account keeps its result pages.
func (q *Queries) resultsDir(account, id string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	root := q.ResultsDir
	if root == "" {
		if q.tmp == "" {
			t, err := os.MkdirTemp("", "cairn-lake-results-")
			if err != nil {
				return "", err
			}
			q.tmp = t
		}
		root = q.tmp
	}
	return filepath.Join(root, account, id), nil
}

// Ops returns the query operations.
func (q *Queries) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{
		"StartQuery":      {Handle: q.start},
		"DescribeQuery":   {ReadOnly: true, Handle: q.describe},
		"GetQueryResults": {ReadOnly: true, Handle: q.results},
		"CancelQuery":     {Handle: q.cancelQuery},
		"ListQueries":     {ReadOnly: true, Handle: q.list},
	}
}

type startRequest struct {
	QueryStatement string
	DeliveryS3Uri  string
}

func (q *Queries) start(ctx context.Context, c *awsapi.Call) (any, error) {
	var req startRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.QueryStatement) == "" || len(req.QueryStatement) > maxStatement {
		return nil, awsapi.Errorf(awsapi.CodeInvalidQueryStatement, "The query statement must be 1 to %d characters.", maxStatement)
	}
	var dl *resultCopy
	if req.DeliveryS3Uri != "" {
		var err error
		if dl, err = q.checkResultCopy(c, req.DeliveryS3Uri); err != nil {
			return nil, err
		}
	}
	// The query is checked, and runs, on the caller's own database:
	// nothing else is there to name.
	db, err := q.DBs.For(ctx, c.AccountID)
	if err != nil {
		return nil, err
	}
	tables := map[string]string{}
	var names []string
	for _, s := range q.API.Visible(c.AccountID, c.Region) {
		if s.Status == StatusPendingDeletion {
			continue
		}
		tables[s.ID] = s.Table()
		names = append(names, s.Table())
		if err := db.EnsureStore(ctx, s); err != nil {
			return nil, err
		}
	}
	rewritten, err := lakesql.Rewrite(req.QueryStatement, tables)
	if err != nil {
		return nil, invalidQuery(err)
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return nil, err
	}
	colNames, err := lakesql.Check(ctx, conn, rewritten, names)
	conn.Close()
	if err != nil {
		return nil, invalidQuery(err)
	}
	var used []string
	for id, table := range tables {
		if strings.Contains(rewritten, lakesql.QuoteIdent(table)) {
			used = append(used, id)
		}
	}
	sort.Strings(used)
	r := &query{ID: uuid.NewString(), Account: c.AccountID, Region: c.Region, Statement: req.QueryStatement,
		Stores: used, Created: q.now().UTC(), status: QueryQueued, copyTo: dl, done: make(chan struct{})}
	q.mu.Lock()
	if q.byID == nil {
		q.byID = map[string]*query{}
	}
	q.prune()
	active := 0
	for _, o := range q.byID {
		if o.Account == c.AccountID {
			if st := o.state(); st == QueryQueued || st == QueryRunning {
				active++
			}
		}
	}
	if active >= MaxConcurrentQueries {
		q.mu.Unlock()
		return nil, awsapi.Errorf(awsapi.CodeMaxConcurrentQueries, "You are already running the maximum number of concurrent queries (%d). Wait a minute for some queries to finish, and then run the query again.", MaxConcurrentQueries)
	}
	if q.closed {
		q.mu.Unlock()
		return nil, awsapi.Errorf(awsapi.CodeServiceUnavailable, "The server is shutting down.")
	}
	q.byID[r.ID] = r
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = QueryTimeout
	}
	rctx, cancel := context.WithTimeout(context.Background(), timeout)
	r.cancel = cancel
	q.wg.Add(1)
	q.mu.Unlock()
	go func() {
		defer q.wg.Done()
		defer close(r.done)
		defer cancel()
		q.run(rctx, db, r, rewritten, colNames)
	}()
	return struct{ QueryId string }{r.ID}, nil
}

func invalidQuery(err error) error {
	var qe *lakesql.QueryError
	if errors.As(err, &qe) {
		return awsapi.Errorf(awsapi.CodeInvalidQueryStatement, "%s", qe.Msg)
	}
	if errors.Is(err, lakesql.ErrInvalidQuery) {
		return awsapi.Errorf(awsapi.CodeInvalidQueryStatement, "%v", err)
	}
	return err
}

func (r *query) state() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// prune forgets queries older than 7 days and removes their files;
// q.mu is held.
func (q *Queries) prune() {
	for id, r := range q.byID {
		if q.now().Sub(r.Created) > queryKept && r.state() != QueryRunning && r.state() != QueryQueued {
			delete(q.byID, id)
			r.mu.Lock()
			dir := r.resDir
			r.mu.Unlock()
			if dir != "" {
				os.RemoveAll(dir)
			}
			if q.Dir != "" {
				os.Remove(filepath.Join(q.Dir, id+".json.gz"))
			}
		}
	}
}

// run executes a query on db, its account's database, and keeps its
// results. It waits QUEUED while the account runs as many queries as
// its database allows.
func (q *Queries) run(ctx context.Context, db *DB, r *query, sqlText string, names []string) {
	defer q.save(r)
	select {
	case db.running <- struct{}{}:
		defer func() { <-db.running }()
	case <-ctx.Done():
		// Cancelled, timed out or the server stopping while queued.
		r.mu.Lock()
		if r.status == QueryQueued {
			r.status, r.errMsg = QueryFailed, "The query was stopped before it ran."
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				r.status, r.errMsg = QueryTimedOut, "The query ran longer than the time allowed."
			}
			if r.copyTo != nil {
				r.copyTo.status = DeliveryFailed
			}
		}
		r.mu.Unlock()
		return
	}
	start := time.Now()
	r.mu.Lock()
	if r.status == QueryCancelled {
		r.mu.Unlock()
		return
	}
	r.status = QueryRunning
	r.mu.Unlock()

	var scanned int64
	for _, id := range r.Stores {
		var n int64
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM `+lakesql.QuoteIdent(lakesql.RowsTable(TableOf(id)))).Scan(&n); err == nil {
			scanned += n
		}
	}
	bytesScanned := db.bytesOf(ctx, scanned)
	dir, err := q.resultsDir(r.Account, r.ID)
	w := &resultWriter{dir: dir, maxRows: cmp.Or(q.MaxResultRows, MaxResultRows), maxText: cmp.Or(q.MaxResultBytes, MaxResultBytes)}
	var cols []string
	if err == nil {
		cols, err = fetchEach(ctx, db.SQL(), sqlText, w.add)
	}
	if err == nil {
		err = w.flush()
	}
	r.mu.Lock()
	r.execMillis = time.Since(start).Milliseconds()
	r.scanned, r.bytes = scanned, bytesScanned
	switch {
	case r.status == QueryCancelled:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.status, r.errMsg = QueryTimedOut, "The query ran longer than the time allowed."
	case errors.Is(err, errResultTooLarge):
		r.status, r.errMsg = QueryFailed, fmt.Sprintf("The query result is larger than the %d rows or %d bytes a query may return. Narrow the query (WHERE, LIMIT) and run it again.", w.maxRows, w.maxText)
	case err != nil:
		r.status, r.errMsg = QueryFailed, queryFailure(err)
	default:
		if len(names) == len(cols) {
			cols = names
		}
		r.status, r.columns, r.total, r.resDir = QueryFinished, cols, w.rows, dir
	}
	status, d := r.status, r.copyTo
	r.mu.Unlock()
	if status != QueryFinished && dir != "" {
		// A result that did not finish is not shown: its pages go.
		os.RemoveAll(dir)
	}
	if d == nil {
		return
	}
	// Results go to the bucket once the query has finished; a query that
	// failed, timed out or was cancelled delivers nothing.
	result := DeliveryFailed
	switch status {
	case QueryFinished:
		result = q.copyResults(r, cols)
	case QueryCancelled:
		result = DeliveryCancelled
	}
	r.mu.Lock()
	d.status = result
	r.mu.Unlock()
}

// queryFailure is the ErrorMessage of a query that failed while it ran.
func queryFailure(err error) string {
	msg := err.Error()
	// Internal table names mean nothing to the user.
	return strings.ReplaceAll(msg, "\n", " ")
}

// queryer is a database or one of its connections.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// fetch runs sqlText and returns its column names and its rows as text.
func fetch(ctx context.Context, db queryer, sqlText string) ([]string, [][]*string, error) {
	var out [][]*string
	cols, err := fetchEach(ctx, db, sqlText, func(row []*string) error {
		out = append(out, row)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return cols, out, nil
}

// fetchEach runs sqlText, gives each row as text to add as it comes and
// returns the column names.
func fetchEach(ctx context.Context, db queryer, sqlText string, add func([]*string) error) ([]string, error) {
	rs, err := db.QueryContext(ctx, sqlText)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v != nil {
				s := Format(v)
				row[i] = &s
			}
		}
		if err := add(row); err != nil {
			return nil, err
		}
	}
	return cols, rs.Err()
}

func (q *Queries) get(c *awsapi.Call, id string) (*query, error) {
	q.mu.Lock()
	r, ok := q.byID[id]
	q.mu.Unlock()
	if !ok || r.Account != c.AccountID || r.Region != c.Region {
		return nil, awsapi.Errorf(awsapi.CodeQueryIdNotFound, "The query ID does not exist or does not map to a query.")
	}
	return r, nil
}

type queryRef struct {
	QueryId        string
	EventDataStore string
}

type queryStats struct {
	EventsMatched         int64
	EventsScanned         int64
	BytesScanned          int64
	ExecutionTimeInMillis int64
	CreationTime          awsapi.Time
}

func (q *Queries) describe(ctx context.Context, c *awsapi.Call) (any, error) {
	var req queryRef
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	r, err := q.get(c, req.QueryId)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := struct {
		QueryId         string
		QueryString     string
		QueryStatus     string
		QueryStatistics queryStats
		ErrorMessage    string `json:",omitempty"`
		DeliveryS3Uri   string `json:",omitempty"`
		DeliveryStatus  string `json:",omitempty"`
	}{QueryId: r.ID, QueryString: r.Statement, QueryStatus: r.status, QueryStatistics: queryStats{
		EventsMatched: r.total, EventsScanned: r.scanned, BytesScanned: r.bytes, ExecutionTimeInMillis: r.execMillis,
		CreationTime: awsapi.Time{Time: r.Created},
	}, ErrorMessage: r.errMsg}
	if r.copyTo != nil {
		out.DeliveryS3Uri, out.DeliveryStatus = r.copyTo.uri, r.copyTo.status
	}
	return out, nil
}

type resultsRequest struct {
	QueryId         string
	NextToken       string
	MaxQueryResults *int
}

func (q *Queries) results(ctx context.Context, c *awsapi.Call) (any, error) {
	var req resultsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	r, err := q.get(c, req.QueryId)
	if err != nil {
		return nil, err
	}
	max, err := pageSize(req.MaxQueryResults, awsapi.CodeInvalidMaxResults, "MaxQueryResults")
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	status, errMsg, columns, total, dir, bytesScanned := r.status, r.errMsg, r.columns, r.total, r.resDir, r.bytes
	r.mu.Unlock()
	from, err := rowToken(req.NextToken, total)
	if err != nil {
		return nil, err
	}
	type stats struct {
		ResultsCount      int
		TotalResultsCount int
		BytesScanned      int64
	}
	out := struct {
		QueryStatus     string
		QueryStatistics stats
		QueryResultRows [][]map[string]*string
		NextToken       string `json:",omitempty"`
		ErrorMessage    string `json:",omitempty"`
	}{QueryStatus: status, ErrorMessage: errMsg, QueryResultRows: [][]map[string]*string{}}
	if status == QueryFinished {
		rows, err := readResult(dir, total, from, max)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if len(row) != len(columns) {
				return nil, errors.New("query results: a row does not match the columns")
			}
			cells := make([]map[string]*string, len(row))
			for i, v := range row {
				cells[i] = map[string]*string{columns[i]: v}
			}
			out.QueryResultRows = append(out.QueryResultRows, cells)
		}
		out.NextToken = nextToken(from+int64(len(rows)), total)
		out.QueryStatistics = stats{ResultsCount: len(rows), TotalResultsCount: int(total), BytesScanned: bytesScanned}
	}
	return out, nil
}

func (q *Queries) cancelQuery(ctx context.Context, c *awsapi.Call) (any, error) {
	var req queryRef
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	r, err := q.get(c, req.QueryId)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status != QueryQueued && r.status != QueryRunning {
		return nil, awsapi.Errorf(awsapi.CodeInactiveQuery, "The specified query cannot be canceled because it is in the %s status.", r.status)
	}
	r.status = QueryCancelled
	if r.copyTo != nil {
		r.copyTo.status = DeliveryCancelled
	}
	if r.cancel != nil {
		r.cancel()
	}
	return struct{ QueryId, QueryStatus string }{r.ID, r.status}, nil
}

type listQueriesRequest struct {
	EventDataStore string
	StartTime      *awsapi.Time
	EndTime        *awsapi.Time
	QueryStatus    string
	MaxResults     *int
	NextToken      string
}

func (q *Queries) list(ctx context.Context, c *awsapi.Call) (any, error) {
	var req listQueriesRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s, err := q.API.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	switch req.QueryStatus {
	case "", QueryQueued, QueryRunning, QueryFinished, QueryFailed, QueryCancelled, QueryTimedOut:
	default:
		return nil, awsapi.Errorf(awsapi.CodeInvalidQueryStatus, "The query status %s is not valid.", req.QueryStatus)
	}
	if req.StartTime != nil && req.EndTime != nil && req.StartTime.After(req.EndTime.Time) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidTimeRange, "StartTime must be before EndTime.")
	}
	max, err := pageSize(req.MaxResults, awsapi.CodeInvalidMaxResults, "MaxResults")
	if err != nil {
		return nil, err
	}
	type entry struct {
		QueryId      string
		QueryStatus  string
		CreationTime awsapi.Time
	}
	var all []entry
	q.mu.Lock()
	q.prune()
	for _, r := range q.byID {
		if r.Account != c.AccountID || r.Region != c.Region {
			continue
		}
		found := false
		for _, id := range r.Stores {
			found = found || id == s.ID
		}
		st := r.state()
		if !found || req.QueryStatus != "" && st != req.QueryStatus ||
			req.StartTime != nil && r.Created.Before(req.StartTime.Time) || req.EndTime != nil && r.Created.After(req.EndTime.Time) {
			continue
		}
		all = append(all, entry{r.ID, st, awsapi.Time{Time: r.Created}})
	}
	q.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreationTime.Equal(all[j].CreationTime.Time) {
			return all[i].CreationTime.After(all[j].CreationTime.Time)
		}
		return all[i].QueryId < all[j].QueryId
	})
	items, next, err := page(all, req.NextToken, max)
	if err != nil {
		return nil, err
	}
	return struct {
		Queries   []entry
		NextToken string `json:",omitempty"`
	}{append([]entry{}, items...), next}, nil
}

// pageSize is a MaxResults parameter's value, 1000 if it is not given;
// out of 1 to 1000 it is refused with code.
func pageSize(v *int, code, name string) (int, error) {
	if v == nil {
		return 1000, nil
	}
	if *v < 1 || *v > 1000 {
		return 0, awsapi.Errorf(code, "%s must be between 1 and 1000.", name)
	}
	return *v, nil
}

// rowToken is the row a NextToken starts at, as nextToken makes them,
// for a result or list total rows long. Only the exact token issued is
// taken.
func rowToken(token string, total int64) (int64, error) {
	if token == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(token, "page-")
	n, err := strconv.ParseInt(rest, 10, 64)
	if !ok || err != nil || n < 0 || n > total || strconv.FormatInt(n, 10) != rest {
		return 0, awsapi.Errorf(awsapi.CodeInvalidNextToken, "Invalid NextToken.")
	}
	return n, nil
}

// nextToken is the NextToken of a page that ends at row end of total
// rows: "" at the end.
func nextToken(end, total int64) string {
	if end >= total {
		return ""
	}
	return "page-" + strconv.FormatInt(end, 10)
}

// page returns the page of all that token starts (the first page for
// ""), at most max long, and the NextToken of the page after it ("" at
// the end). Tokens are "page-N": at least the 4 characters the API's
// model asks for.
func page[T any](all []T, token string, max int) ([]T, string, error) {
	start, err := rowToken(token, int64(len(all)))
	if err != nil {
		return nil, "", err
	}
	end := min(int(start)+max, len(all))
	return all[start:end:end], nextToken(int64(end), int64(len(all))), nil
}

// Format writes a query result value as CloudTrail Lake shows it: Trino's
// text forms (timestamps as "2023-01-22 16:53:53.000", structs and maps
// as {k=v, ...}, arrays as [a, b]).
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Format(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + Format(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case duckdb.Map:
		keys := make([]string, 0, len(x))
		byKey := map[string]any{}
		for k, e := range x {
			ks := Format(k)
			keys = append(keys, ks)
			byKey[ks] = e
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + Format(byKey[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
