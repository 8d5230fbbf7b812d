package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cairn-audit/cairn/internal/lakesql"
)

// stagingTable holds records on their way into a store's table.
const stagingTable = "lake_staging"

// DB is the DuckDB database of one account: the tables of every event
// data store the account owns (an organization store, which takes its
// members' events too, is its management account's), how far each store
// has ingested the ledger, and nothing else. Users' queries run on it
// and can reach nothing outside it: each account's database is a DuckDB
// instance of its own, with its own file, connections, memory and
// threads, so no name a query could write, however spelt, is another
// account's table.
type DB struct {
	db *sql.DB
	// mu orders writes: records are added (each in a transaction of its
	// own; DuckDB appends do not conflict) under the read lock, tables
	// are made, dropped and expired under the write lock.
	mu sync.RWMutex

	bulkMu sync.Mutex
	bulk   map[string]int // tables an import is adding to

	ready sync.Map // tables Ensure has made or found, to spare queries the catalog lock

	path string // the database file; "" in memory
	// running holds a token for each of the account's queries that is
	// running: the others wait, QUEUED.
	running chan struct{}
}

// DBOptions are the limits of each account's database (DuckDB settings
// of its instance) and of its queries.
type DBOptions struct {
	// MemoryLimit is DuckDB's memory_limit, e.g. "1GiB".
	MemoryLimit string
	// Threads is DuckDB's threads: how many cores one account's queries
	// may keep busy.
	Threads int
	// MaxTempDirectorySize is DuckDB's max_temp_directory_size: how much
	// a query may spill to disk.
	MaxTempDirectorySize string
	// RunningQueries is how many of an account's queries run at once;
	// the others wait QUEUED (up to MaxConcurrentQueries queued or
	// running, as Lake allows).
	RunningQueries int
	// MaxResultRows and MaxResultBytes limit each query's result (see
	// Queries); the package's MaxResultRows and MaxResultBytes if 0.
	MaxResultRows, MaxResultBytes int64
}

// DefaultDBOptions are the limits cairn runs with: each account gets half
// the machine's cores at most (at least one) and 1 GiB of memory, and
// runs as many queries at once as it has threads.
func DefaultDBOptions() DBOptions {
	threads := max(1, runtime.NumCPU()/2)
	return DBOptions{MemoryLimit: "1GiB", Threads: threads, MaxTempDirectorySize: "10GiB", RunningQueries: threads,
		MaxResultRows: MaxResultRows, MaxResultBytes: MaxResultBytes}
}

// Validate checks the options.
func (o DBOptions) Validate() error {
	if o.Threads < 1 || o.RunningQueries < 1 || o.RunningQueries > MaxConcurrentQueries {
		return fmt.Errorf("lake database options: threads must be at least 1, running queries 1 to %d", MaxConcurrentQueries)
	}
	if o.MaxResultRows < 0 || o.MaxResultBytes < 0 {
		return fmt.Errorf("lake database options: result limits must not be negative")
	}
	if !sizePattern.MatchString(o.MemoryLimit) || !sizePattern.MatchString(o.MaxTempDirectorySize) {
		return fmt.Errorf("lake database options: sizes are like 512MiB or 2GB, not %q and %q", o.MemoryLimit, o.MaxTempDirectorySize)
	}
	return nil
}

var sizePattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)

// settings are the DuckDB settings of a database with these limits,
// which may read and write files only in dirs (none for an account's
// database), and whose configuration nothing can change afterwards.
func (o DBOptions) settings(dirs ...string) []string {
	quoted := make([]string, len(dirs))
	for i, d := range dirs {
		quoted[i] = "'" + strings.ReplaceAll(d, "'", "''") + "'"
	}
	return []string{
		`SET GLOBAL TimeZone = 'UTC'`,
		`SET GLOBAL memory_limit = '` + o.MemoryLimit + `'`,
		`SET GLOBAL threads = ` + strconv.Itoa(o.Threads),
		`SET GLOBAL max_temp_directory_size = '` + o.MaxTempDirectorySize + `'`,
		`SET GLOBAL allowed_directories = [` + strings.Join(quoted, ", ") + `]`,
		`SET GLOBAL enable_external_access = false`,
		`SET GLOBAL lock_configuration = true`,
	}
}

// BeginBulk marks table as taking an import's large batches until the
// returned function is called. Ingestion from the ledger waits
// meanwhile: its small transactions, between an import's whole row
// groups, make DuckDB rewrite those row groups, which costs time and
// leaves the file twice the size of its data.
func (d *DB) BeginBulk(table string) (end func()) {
	d.bulkMu.Lock()
	defer d.bulkMu.Unlock()
	if d.bulk == nil {
		d.bulk = map[string]int{}
	}
	d.bulk[table]++
	return func() {
		d.bulkMu.Lock()
		defer d.bulkMu.Unlock()
		if d.bulk[table]--; d.bulk[table] == 0 {
			delete(d.bulk, table)
		}
	}
}

// InBulk says whether an import is adding to table.
func (d *DB) InBulk(table string) bool {
	d.bulkMu.Lock()
	defer d.bulkMu.Unlock()
	return d.bulk[table] > 0
}

// OpenDB opens (or makes) one account's database at path ("" is in
// memory), with the limits of o. Users' queries run on it: nothing they
// run may reach a file or the network, and no setting may be changed
// back.
func OpenDB(ctx context.Context, path string, o DBOptions) (*DB, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	db, err := sql.Open("duckdb", path+lakesql.Options)
	if err != nil {
		return nil, fmt.Errorf("open lake database: %w", err)
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS lake_cursor (id VARCHAR PRIMARY KEY, pos UBIGINT NOT NULL)`,
		`DROP TABLE IF EXISTS ` + stagingTable,
	}
	if err := setUp(ctx, db, append(stmts, o.settings()...)); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{db: db, path: path, running: make(chan struct{}, o.RunningQueries)}, nil
}

// setUp runs stmts on a new database, after the macros queries call and
// before its configuration is locked (the last of stmts).
func setUp(ctx context.Context, db *sql.DB, stmts []string) error {
	if err := lakesql.Setup(ctx, db); err != nil {
		return fmt.Errorf("lake database: %w", err)
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("lake database: %s: %w", q, err)
		}
	}
	return nil
}

// Databases are the Lake's DuckDB databases: one per account, in
// <dir>/accounts/<account ID>.duckdb, opened when first needed, and the
// one that writes exports. With dir "" they are in memory.
type Databases struct {
	dir  string
	opts DBOptions

	mu       sync.Mutex
	accounts map[string]*DB
	closed   bool

	exportMu sync.Mutex
	exporter *exportDB
}

// accountPattern is what an account ID must be to name a file.
var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// AccountsFolder is the folder, under the Lake's, of the accounts'
// databases.
const AccountsFolder = "accounts"

// AccountPath is the file of an account's database under the Lake's
// folder dir.
func AccountPath(dir, account string) string {
	return filepath.Join(dir, AccountsFolder, account+".duckdb")
}

// OpenDatabases opens the Lake's databases under dir. A Lake kept by an
// earlier cairn in one database for every account (dir/lake.duckdb) is
// first moved, store by store, into the databases of the stores' accounts
// (stores names each store's account).
func OpenDatabases(ctx context.Context, dir string, o DBOptions, stores *Stores, log *slog.Logger) (*Databases, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := &Databases{dir: dir, opts: o, accounts: map[string]*DB{}}
	if dir == "" {
		return d, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, AccountsFolder), 0o700); err != nil {
		return nil, err
	}
	// Exports left by a crash are of no use.
	if err := os.RemoveAll(filepath.Join(dir, exportFolder)); err != nil {
		return nil, err
	}
	if err := migrateShared(ctx, dir, stores, log); err != nil {
		return nil, fmt.Errorf("move the Lake into a database per account: %w", err)
	}
	return d, nil
}

// For returns the database of account, opened if need be.
func (d *Databases) For(ctx context.Context, account string) (*DB, error) {
	if !accountPattern.MatchString(account) {
		return nil, fmt.Errorf("lake database: %q is not an account ID", account)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("lake databases are closed")
	}
	if db, ok := d.accounts[account]; ok {
		return db, nil
	}
	path := ""
	if d.dir != "" {
		path = AccountPath(d.dir, account)
	}
	db, err := OpenDB(ctx, path, d.opts)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", account, err)
	}
	d.accounts[account] = db
	return db, nil
}

// Close closes every database.
func (d *Databases) Close() error {
	d.mu.Lock()
	d.closed = true
	var errs []error
	for _, db := range d.accounts {
		errs = append(errs, db.Close())
	}
	d.accounts = map[string]*DB{}
	d.mu.Unlock()
	d.exportMu.Lock()
	if d.exporter != nil {
		errs = append(errs, d.exporter.db.Close())
		d.exporter = nil
	}
	d.exportMu.Unlock()
	return errors.Join(errs...)
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// SQL is the database, for queries.
func (d *DB) SQL() *sql.DB { return d.db }

// Ensure makes a store's table and view. A store made before the two
// were separate has its table renamed: its raw records are whole, which
// the view reads as they are.
func (d *DB) Ensure(ctx context.Context, table string) error {
	return d.ensure(ctx, table, lakesql.CreateTable(table))
}

// EnsureStore makes a store's table and view, with the integration
// schema for a store of events from outside AWS.
func (d *DB) EnsureStore(ctx context.Context, s *EventDataStore) error {
	if TakesAuditEvents(s) {
		return d.ensure(ctx, s.Table(), lakesql.CreateIntegrationTable(s.Table()))
	}
	return d.Ensure(ctx, s.Table())
}

func (d *DB) ensure(ctx context.Context, table, ddl string) error {
	if _, ok := d.ready.Load(table); ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var kind string
	err := d.db.QueryRowContext(ctx, `SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?`, table).Scan(&kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case kind == "BASE TABLE":
		if _, err := d.db.ExecContext(ctx, `ALTER TABLE `+lakesql.QuoteIdent(table)+` RENAME TO `+lakesql.QuoteIdent(lakesql.RowsTable(table))); err != nil {
			return err
		}
	default:
		d.ready.Store(table, true)
		return nil
	}
	if _, err = d.db.ExecContext(ctx, ddl); err != nil {
		return err
	}
	d.ready.Store(table, true)
	return nil
}

// Drop removes a store's view, table and cursor.
func (d *DB) Drop(ctx context.Context, id, table string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ready.Delete(table)
	if _, err := d.db.ExecContext(ctx, `DROP VIEW IF EXISTS `+lakesql.QuoteIdent(table)+`; DROP TABLE IF EXISTS `+lakesql.QuoteIdent(lakesql.RowsTable(table))); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `DELETE FROM lake_cursor WHERE id = ?`, id)
	return err
}

// Cursor is the last ledger position a store has ingested.
func (d *DB) Cursor(ctx context.Context, id string) (uint64, error) {
	var pos uint64
	err := d.db.QueryRowContext(ctx, `SELECT pos FROM lake_cursor WHERE id = ?`, id).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// Ingest adds records (CloudTrail JSON) to a store's table and moves its
// cursor to pos, in one transaction: a crash leaves either both or
// neither, so every record is ingested once.
func (d *DB) Ingest(ctx context.Context, id, table string, records [][]byte, pos uint64) error {
	return d.add(ctx, id, table, records, pos)
}

// Append adds records to a store's table, as an import does: no cursor
// moves.
func (d *DB) Append(ctx context.Context, table string, records []json.RawMessage) error {
	rs := make([][]byte, len(records))
	for i, r := range records {
		rs[i] = r
	}
	return d.add(ctx, "", table, rs, 0)
}

// add stages records and moves them into table, and the cursor id (if
// any) to pos, in one transaction.
func (d *DB) add(ctx context.Context, id, table string, records [][]byte, pos uint64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The staging table is the connection's own, in memory, made anew
	// for each call and dropped after it: rows deleted from a temporary
	// table would keep their memory.
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE `+stagingTable+` (`+lakesql.StagingColumns+`)`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.main.`+stagingTable)
	if len(records) > 0 {
		err = conn.Raw(func(dc any) error {
			a, err := duckdb.NewAppender(dc.(driver.Conn), "temp", "main", stagingTable)
			if err != nil {
				return err
			}
			for _, r := range records {
				rest, cut := lakesql.Splice(r)
				// The appender copies the text into DuckDB's vector before
				// it returns, so the bytes need not be copied to strings.
				if err := a.AppendRow(bytesString(r), bytesString(rest), cut[0], cut[1], cut[2]); err != nil {
					a.Close()
					return err
				}
			}
			return a.Close()
		})
		if err != nil {
			return fmt.Errorf("stage records: %w", err)
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(records) > 0 {
		if _, err := tx.ExecContext(ctx, lakesql.InsertFromJSON(table, stagingTable)); err != nil {
			return fmt.Errorf("ingest into %s: %w", table, err)
		}
	}
	if id != "" {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO lake_cursor VALUES (?, ?)`, id, pos); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// bytesOf is the share of the account database's bytes on disk (its file and
// write-ahead log) that rows events take, apportioned by rows over the
// events of every store: what a query that reads rows events reads from
// disk at most, as CloudTrail Lake's BytesScanned counts.
func (d *DB) bytesOf(ctx context.Context, rows int64) int64 {
	if rows == 0 || d.path == "" {
		return 0
	}
	var total int64
	if err := d.db.QueryRowContext(ctx, `SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() WHERE table_name LIKE 'eds\_%\_rows' ESCAPE '\'`).Scan(&total); err != nil || total == 0 {
		return 0
	}
	var onDisk int64
	for _, p := range []string{d.path, d.path + ".wal"} {
		if fi, err := os.Stat(p); err == nil {
			onDisk += fi.Size()
		}
	}
	return int64(float64(onDisk) * float64(min(rows, total)) / float64(total))
}

// Expire removes a store's events whose eventTime is before cutoff.
func (d *DB) Expire(ctx context.Context, table string, cutoff time.Time) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.db.ExecContext(ctx, `DELETE FROM `+lakesql.QuoteIdent(lakesql.RowsTable(table))+` WHERE eventtime < ?`, cutoff.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// bytesString is b as a string without a copy; b must not change while
// the string is in use.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
