package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cairn-audit/cairn/internal/lakesql"
)

// stagingTable holds records on their way into a store's table.
const stagingTable = "lake_staging"

// DB is the DuckDB database that holds every event data store's events,
// one table per store, and how far each store has ingested the ledger.
type DB struct {
	db *sql.DB
	// mu orders writes: records are added (each in a transaction of its
	// own; DuckDB appends do not conflict) under the read lock, tables
	// are made, dropped and expired under the write lock.
	mu sync.RWMutex

	bulkMu sync.Mutex
	bulk   map[string]int // tables an import is adding to

	ready sync.Map // tables Ensure has made or found, to spare queries the catalog lock

	exportDir string // where exports are written first; "" in memory
	path      string // the database file; "" in memory
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

// OpenDB opens (or makes) the database at path; "" is in memory.
func OpenDB(ctx context.Context, path string) (*DB, error) {
	db, err := sql.Open("duckdb", path+lakesql.Options)
	if err != nil {
		return nil, fmt.Errorf("open lake database: %w", err)
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS lake_cursor (id VARCHAR PRIMARY KEY, pos UBIGINT NOT NULL)`,
		`DROP TABLE IF EXISTS ` + stagingTable,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("lake database: %w", err)
		}
	}
	if err := lakesql.Setup(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("lake database: %w", err)
	}
	// Queries are users' SQL: nothing they run may reach files or the
	// network, and no setting may be changed back. Only exports write
	// files, into their own folder, which users' queries cannot name
	// (Check refuses every table function and statement but SELECT).
	settings := []string{`SET TimeZone = 'UTC'`}
	exportDir := ""
	if path != "" {
		exportDir = filepath.Join(filepath.Dir(path), exportFolder)
		if err := os.RemoveAll(exportDir); err != nil {
			db.Close()
			return nil, err
		}
		if err := os.MkdirAll(exportDir, 0o700); err != nil {
			db.Close()
			return nil, err
		}
		settings = append(settings, `SET allowed_directories = ['`+strings.ReplaceAll(exportDir, "'", "''")+`/']`)
	}
	settings = append(settings, `SET enable_external_access = false`, `SET lock_configuration = true`)
	for _, q := range settings {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("lake database: %w", err)
		}
	}
	return &DB{db: db, exportDir: exportDir, path: path}, nil
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

// bytesOf is the share of the database's bytes on disk (its file and
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
