package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cairn-audit/cairn/internal/lakesql"
)

// sharedFile is the one database an earlier cairn kept every account's
// stores in, under the Lake's folder.
const sharedFile = "lake.duckdb"

// migrateShared moves the stores of the shared database dir/lake.duckdb,
// if there is one, into their accounts' databases, then removes it. Each
// store is copied with its cursor in one transaction of its account's
// database, which makes its table there; a store whose table is there
// already was copied before a crash and is not copied again. The shared
// file goes only once every store's rows are counted in its new home.
// No account's database is open meanwhile: this runs before any is.
func migrateShared(ctx context.Context, dir string, stores *Stores, log *slog.Logger) error {
	shared := filepath.Join(dir, sharedFile)
	if _, err := os.Stat(shared); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	byTable := map[string]*EventDataStore{}
	for _, s := range stores.All() {
		byTable[s.Table()] = s
	}
	old, err := sql.Open("duckdb", shared+lakesql.Options)
	if err != nil {
		return err
	}
	tables, err := sharedTables(ctx, old)
	old.Close()
	if err != nil {
		return err
	}
	// The stores to move, by account; tables of stores that no longer
	// exist are left behind.
	byAccount := map[string][]sharedTable{}
	for _, t := range tables {
		s, ok := byTable[t.store]
		if !ok {
			log.Warn("lake migration: a table of no event data store is not moved", "table", t.name)
			continue
		}
		t.id = s.ID
		byAccount[s.Account] = append(byAccount[s.Account], t)
	}
	accounts := make([]string, 0, len(byAccount))
	for a := range byAccount {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	for _, account := range accounts {
		if !accountPattern.MatchString(account) {
			return fmt.Errorf("store of account %q: not an account ID", account)
		}
		if err := migrateAccount(ctx, shared, AccountPath(dir, account), byAccount[account]); err != nil {
			return fmt.Errorf("account %s: %w", account, err)
		}
		log.Info("lake migration: stores moved into the account's database", "account", account, "stores", len(byAccount[account]))
	}
	for _, p := range []string{shared, shared + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	log.Info("lake migration: done; the shared database is removed", "file", shared)
	return nil
}

// sharedTable is a store's table in the shared database.
type sharedTable struct {
	name  string // the table holding its rows
	store string // the store's view (its TableOf)
	id    string // the store's ID
}

// sharedTables lists the stores' tables of the shared database: eds_X_rows,
// or eds_X where a store made before rows and view were split keeps its
// rows in a table of the view's name.
func sharedTables(ctx context.Context, db *sql.DB) ([]sharedTable, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name LIKE 'eds\_%' ESCAPE '\' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sharedTable
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, sharedTable{name: name, store: strings.TrimSuffix(name, "_rows")})
	}
	return out, rows.Err()
}

// migrateAccount copies tables from the shared database into the
// database at path, with their cursors.
func migrateAccount(ctx context.Context, shared, path string, tables []sharedTable) error {
	db, err := sql.Open("duckdb", path+lakesql.Options)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS lake_cursor (id VARCHAR PRIMARY KEY, pos UBIGINT NOT NULL)`,
		`ATTACH '` + strings.ReplaceAll(shared, "'", "''") + `' AS shared (READ_ONLY)`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH shared`)
	for _, t := range tables {
		if err := migrateTable(ctx, conn, t); err != nil {
			return fmt.Errorf("store %s: %w", t.id, err)
		}
	}
	return nil
}

// migrateTable copies one store's rows and cursor, unless its table is
// there already, and checks that every row is.
func migrateTable(ctx context.Context, conn *sql.Conn, t sharedTable) error {
	rowsTable := lakesql.RowsTable(t.store)
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?`, rowsTable).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		// The columns both tables have: a table of an earlier schema
		// lacks the newer columns, which stay NULL.
		var cols []string
		rows, err := conn.QueryContext(ctx, `SELECT column_name FROM duckdb_columns() WHERE database_name = 'shared' AND schema_name = 'main' AND table_name = ? ORDER BY column_index`, t.name)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			if slices.ContainsFunc(lakesql.Columns, func(col struct{ Name, Type string }) bool { return col.Name == c && c != "eventjsonchecksum" }) {
				cols = append(cols, lakesql.QuoteIdent(c))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		list := strings.Join(cols, ", ")
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, q := range []string{
			lakesql.CreateRows(t.store),
			`INSERT INTO ` + lakesql.QuoteIdent(rowsTable) + ` (` + list + `) SELECT ` + list + ` FROM shared.main.` + lakesql.QuoteIdent(t.name),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO lake_cursor SELECT id, pos FROM shared.main.lake_cursor WHERE id = ?`, t.id); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	var copied, had int64
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM `+lakesql.QuoteIdent(rowsTable)+`), (SELECT count(*) FROM shared.main.`+lakesql.QuoteIdent(t.name)+`)`).Scan(&copied, &had); err != nil {
		return err
	}
	if copied != had {
		return fmt.Errorf("%d rows copied of %d", copied, had)
	}
	return nil
}
