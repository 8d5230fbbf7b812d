package lake

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/lakesql"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// exportFolder is the folder, under the Lake's, where exports are
// written before they go to their bucket: the only place any of the
// Lake's databases may write files, and only the export database, which
// runs no user's query. No account's database may read it.
const exportFolder = "export"

// exportDB is the DuckDB database that writes exports. It holds no data:
// it reads a store's records from the store's account's database through
// Go (the table function lake_export_source), makes the store's columns
// from them and writes Parquet files into the export folder, the one
// folder it may reach.
type exportDB struct {
	db *sql.DB
	// conn is its one connection, on which lake_export_source is
	// registered; exports run one at a time.
	conn    *sql.Conn
	sources sync.Map // token → *exportSource
}

// exportSourceFunction is the table function that gives an export's
// records, one JSON text a row in column j.
const exportSourceFunction = "lake_export_source"

// openExportDB opens the export database, which may write only in dir.
func openExportDB(ctx context.Context, dir string, o DBOptions) (*exportDB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := sql.Open("duckdb", lakesql.Options)
	if err != nil {
		return nil, fmt.Errorf("open export database: %w", err)
	}
	x := &exportDB{db: db}
	if x.conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, err
	}
	text, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		db.Close()
		return nil, err
	}
	err = duckdb.RegisterTableUDF(x.conn, exportSourceFunction, duckdb.ParallelChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{text}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
			token, _ := args[0].(string)
			src, ok := x.sources.Load(token)
			if !ok {
				return nil, fmt.Errorf("no export %q", token)
			}
			return src.(*exportSource), nil
		},
	})
	if err == nil {
		err = setUp(ctx, db, o.settings(dir+string(filepath.Separator)))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("export database: %w", err)
	}
	return x, nil
}

// exportSource feeds lake_export_source with batches of records that a
// goroutine reads from an account's database.
type exportSource struct {
	batches chan []string
	threads int
	err     error // set before batches is closed
}

// ColumnInfos implements duckdb.ParallelChunkTableSource.
func (s *exportSource) ColumnInfos() []duckdb.ColumnInfo {
	text, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	return []duckdb.ColumnInfo{{Name: "j", T: text}}
}

// Cardinality implements duckdb.ParallelChunkTableSource.
func (s *exportSource) Cardinality() *duckdb.CardinalityInfo { return nil }

// Init implements duckdb.ParallelChunkTableSource: the export's threads
// parse records in parallel.
func (s *exportSource) Init() duckdb.ParallelTableSourceInfo {
	return duckdb.ParallelTableSourceInfo{MaxThreads: s.threads}
}

// NewLocalState implements duckdb.ParallelChunkTableSource.
func (s *exportSource) NewLocalState() any { return nil }

// FillChunk implements duckdb.ParallelChunkTableSource.
func (s *exportSource) FillChunk(_ any, chunk duckdb.DataChunk) error {
	batch, ok := <-s.batches
	if !ok {
		if s.err != nil {
			return s.err
		}
		return chunk.SetSize(0)
	}
	for i, j := range batch {
		if err := chunk.SetValue(0, i, j); err != nil {
			return err
		}
	}
	return chunk.SetSize(len(batch))
}

// read sends table's records (the view's eventjson) in batches of a
// chunk at most, and closes s.batches at the end.
func (s *exportSource) read(ctx context.Context, db *sql.DB, table string) {
	defer close(s.batches)
	rows, err := db.QueryContext(ctx, `SELECT eventjson FROM `+lakesql.QuoteIdent(table))
	if err != nil {
		s.err = err
		return
	}
	defer rows.Close()
	size := duckdb.GetDataChunkCapacity()
	batch := make([]string, 0, size)
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			s.err = err
			return
		}
		if batch = append(batch, j); len(batch) == size {
			select {
			case s.batches <- batch:
			case <-ctx.Done():
				s.err = ctx.Err()
				return
			}
			batch = make([]string, 0, size)
		}
	}
	if s.err = rows.Err(); s.err == nil && len(batch) > 0 {
		select {
		case s.batches <- batch:
		case <-ctx.Done():
			s.err = ctx.Err()
		}
	}
}

// export writes the events of table, a store of account, as Parquet files
// partitioned by recipientaccountid, awsregion and date (of eventtime),
// Hive-style, into a new folder under the export folder, and returns it
// and the rows.
func (d *Databases) export(ctx context.Context, account, table string) (string, int64, error) {
	if d.dir == "" {
		return "", 0, fmt.Errorf("an in-memory lake database cannot export")
	}
	src, err := d.For(ctx, account)
	if err != nil {
		return "", 0, err
	}
	d.exportMu.Lock()
	defer d.exportMu.Unlock()
	if d.exporter == nil {
		if d.exporter, err = openExportDB(ctx, filepath.Join(d.dir, exportFolder), d.opts); err != nil {
			return "", 0, err
		}
	}
	x := d.exporter
	token := uuid.NewString()
	dir := filepath.Join(d.dir, exportFolder, token)
	s := &exportSource{batches: make(chan []string, 2*d.opts.Threads), threads: d.opts.Threads}
	x.sources.Store(token, s)
	defer x.sources.Delete(token)
	// The store is not dropped or expired while it is read.
	src.mu.RLock()
	defer src.mu.RUnlock()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.read(rctx, src.db, table); close(done) }()
	defer func() {
		cancel()
		for range s.batches {
		}
		<-done
	}()
	res, err := x.conn.ExecContext(ctx, `COPY (`+lakesql.ExportFromJSON(exportSourceFunction+`('`+token+`')`)+`) TO '`+strings.ReplaceAll(dir, "'", "''")+
		`' (FORMAT parquet, PARTITION_BY (recipientaccountid, awsregion, "date"), COMPRESSION zstd, FILENAME_PATTERN 'events_{i}')`)
	if err != nil {
		os.RemoveAll(dir)
		return "", 0, err
	}
	n, _ := res.RowsAffected()
	return dir, n, nil
}

// Exporter serves ExportEventDataStore: a store, as Parquet, into a
// bucket of its account, for Athena, Trino and the like.
type Exporter struct {
	DBs     *Databases
	API     *API
	Buckets ImportBuckets
}

// ExportResult is what ExportEventDataStore wrote.
type ExportResult struct {
	Location string
	Files    int
	Rows     int64
	Bytes    int64
}

// Ops returns the operation, by name.
func (e *Exporter) Ops() map[string]awsapi.Op {
	return map[string]awsapi.Op{"ExportEventDataStore": {ReadOnly: true, Handle: e.export}}
}

func (e *Exporter) export(ctx context.Context, c *awsapi.Call) (any, error) {
	var req struct{ EventDataStore, Destination string }
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	s, err := e.API.find(c, req.EventDataStore)
	if err != nil {
		return nil, err
	}
	if TakesAuditEvents(s) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Only stores of CloudTrail events can be exported; %s takes events from outside AWS.", s.ARN())
	}
	rest, ok := strings.CutPrefix(req.Destination, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !ok || !objstore.ValidBucketName(bucket) {
		return nil, awsapi.Errorf(awsapi.CodeInvalidParameter, "Destination %q is not an s3://bucket/prefix URI.", req.Destination)
	}
	if owner, ok := e.Buckets.Owner(bucket); !ok || owner != c.AccountID {
		return nil, awsapi.Errorf(awsapi.CodeS3BucketDoesNotExist, "S3 bucket %s does not exist in account %s.", bucket, c.AccountID)
	}
	st, err := e.Buckets.Store(bucket)
	if err != nil {
		return nil, err
	}
	db, err := e.DBs.For(ctx, s.Account)
	if err != nil {
		return nil, err
	}
	if err := db.EnsureStore(ctx, s); err != nil {
		return nil, err
	}
	dir, rows, err := e.DBs.export(ctx, s.Account, s.Table())
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	prefix = strings.Trim(prefix, "/")
	out := ExportResult{Location: "s3://" + bucket + "/" + prefix, Rows: rows}
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		key := strings.TrimPrefix(prefix+"/"+filepath.ToSlash(rel), "/")
		if err := st.Put(ctx, bucket, key, b, objstore.PutOptions{ContentType: "application/vnd.apache.parquet"}); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		out.Files++
		out.Bytes += int64(len(b))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
