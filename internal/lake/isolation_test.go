package lake

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/store"
)

// The accounts of the isolation tests: a tenant who attacks, and the
// victim whose store holds events the tenant must never see.
const (
	tenantAccount = "123456789012"
	victimAccount = "210987654321"
	victimSecret  = "VictimSecretEvent"
)

// twoTenants is a Lake holding a store of each account, and the victim's
// store exported to Parquet and left under the export folder, as it is
// while an export runs.
type twoTenants struct {
	*lakeFixture
	dir              string // the Lake's folder
	tenant, victim   string // store IDs
	exported         string // a Parquet file of the victim's events
	victimRows       int
	victimFileBefore []byte
}

func newTwoTenants(t *testing.T) *twoTenants {
	t.Helper()
	f := newLake(t)
	f.clock = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	x := &twoTenants{lakeFixture: f, dir: f.dbs.dir}
	create := func(account, name string) string {
		out, code := f.call(account, "us-east-1", "CreateEventDataStore", map[string]any{"Name": name})
		if code != "" {
			t.Fatalf("create %s: %s", name, code)
		}
		id, _, _, _ := ParseRef(out["EventDataStoreArn"].(string))
		return id
	}
	x.tenant = create(tenantAccount, "tenant-store")
	x.victim = create(victimAccount, "victim-store")
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var recs []string
	for i := range 5 {
		recs = append(recs,
			f.record(tenantAccount, "us-east-1", "s3.amazonaws.com", "TenantEvent", false, "", base.Add(time.Duration(i)*time.Minute)),
			f.record(victimAccount, "us-east-1", "iam.amazonaws.com", victimSecret, false, `{"secret":"`+victimSecret+`"}`, base.Add(time.Duration(i)*time.Minute)))
	}
	f.add(recs...)
	f.drain()
	x.victimRows = 5
	ctx := context.Background()
	out, _, err := f.dbs.export(ctx, victimAccount, TableOf(x.victim))
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			x.exported = p
		}
		return err
	})
	if x.exported == "" {
		t.Fatal("the export wrote no Parquet file")
	}
	if x.victimFileBefore, err = os.ReadFile(x.exported); err != nil {
		t.Fatal(err)
	}
	return x
}

// leaks names what a tenant's answer must never hold.
func (x *twoTenants) leaks(text string) string {
	for _, s := range []string{victimAccount, x.victim, strings.ReplaceAll(x.victim, "-", ""), victimSecret, x.dir, "accounts/", ".duckdb", ".parquet"} {
		if strings.Contains(text, s) {
			return s
		}
	}
	return ""
}

// victimIntact checks that the victim's store and the files on disk are
// as they were.
func (x *twoTenants) victimIntact() {
	x.t.Helper()
	rows, msg := x.queryAs(victimAccount, "SELECT count(*) AS n, count(DISTINCT eventname) AS k FROM "+x.victim)
	if msg != "" || len(rows) != 1 || rows[0] != "n=5|k=1" {
		x.t.Errorf("the victim's store changed: %q %s", rows, msg)
	}
	b, err := os.ReadFile(x.exported)
	if err != nil || string(b) != string(x.victimFileBefore) {
		x.t.Errorf("the exported file changed: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(x.dir, AccountsFolder))
	if err != nil {
		x.t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n != tenantAccount+".duckdb" && n != victimAccount+".duckdb" && !strings.HasSuffix(n, ".duckdb.wal") {
			x.t.Errorf("a file appeared among the accounts' databases: %s", n)
		}
	}
}

// TestAccountDatabaseFiles checks that each account's stores are in a
// database file of its own, which holds no other account's table.
func TestAccountDatabaseFiles(t *testing.T) {
	x := newTwoTenants(t)
	ctx := context.Background()
	for account, own := range map[string]string{tenantAccount: x.tenant, victimAccount: x.victim} {
		path := filepath.Join(x.dir, "accounts", account+".duckdb")
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Fatalf("the database of %s is not at %s: %v", account, path, err)
		}
		db, err := x.dbs.For(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.SQL().QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'eds%'`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			tables = append(tables, n)
		}
		rows.Close()
		if len(tables) != 1 || tables[0] != TableOf(own)+"_rows" {
			t.Errorf("the database of %s holds %q, want only its store's table", account, tables)
		}
	}
	if _, err := os.Stat(filepath.Join(x.dir, sharedFile)); err == nil {
		t.Error("a shared database exists")
	}
	if _, err := x.dbs.For(ctx, "../../etc/x"); err == nil {
		t.Error("an account that is not an ID named a file")
	}
}

// TestAccountDatabaseSettings reads the settings of an account's
// database through the connections StartQuery checks and runs queries
// on, and checks that none can be changed and no file reached, even by
// SQL that the front end would have refused.
func TestAccountDatabaseSettings(t *testing.T) {
	x := newTwoTenants(t)
	ctx := context.Background()
	db, err := x.dbs.For(ctx, tenantAccount)
	if err != nil {
		t.Fatal(err)
	}
	// Several connections of the pool: the settings are the instance's.
	var conns []interface{ Close() error }
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 {
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		var mem, temp, dirs, external, locked string
		var threads int
		if err := conn.QueryRowContext(ctx, `SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('max_temp_directory_size'),
			CAST(current_setting('allowed_directories') AS VARCHAR), CAST(current_setting('enable_external_access') AS VARCHAR), CAST(current_setting('lock_configuration') AS VARCHAR)`).
			Scan(&mem, &threads, &temp, &dirs, &external, &locked); err != nil {
			t.Fatal(err)
		}
		// DuckDB lets a database reach its own spill folder, and nothing
		// else: allowed_directories is set empty.
		spill := "[" + AccountPath(x.dir, tenantAccount) + ".tmp/]"
		o := DefaultDBOptions()
		if mem != "1.0 GiB" || threads != o.Threads || temp != "10.0 GiB" || dirs != spill || external != "false" || locked != "true" {
			t.Errorf("settings: memory_limit %s, threads %d, max_temp_directory_size %s, allowed_directories %s, enable_external_access %s, lock_configuration %s",
				mem, threads, temp, dirs, external, locked)
		}
	}
	other := AccountPath(x.dir, victimAccount)
	for _, q := range []string{
		`SET memory_limit = '64GiB'`,
		`SET GLOBAL threads = 64`,
		`SET enable_external_access = true`,
		`SET allowed_directories = ['/']`,
		`SET lock_configuration = false`,
		`RESET memory_limit`,
		`ATTACH '` + other + `' AS v (READ_ONLY)`,
		`SELECT * FROM read_parquet('` + x.exported + `')`,
		`SELECT * FROM '` + x.exported + `'`,
		`SELECT * FROM read_text('` + other + `')`,
		`SELECT * FROM glob('` + x.dir + `/**')`,
		`COPY (SELECT 1) TO '` + filepath.Join(x.dir, "export", "x.csv") + `'`,
		`INSTALL httpfs`,
		`LOAD httpfs`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err == nil {
			t.Errorf("%s: ran on an account's database", q)
		}
	}
	x.victimIntact()
}

// TestFoldingAttackAcrossAccounts reproduces a tenant's escape from the
// shared database: a CTE named with KELVIN SIGN hid the catalog's views
// from the checks, a string FROM read other accounts' exported Parquet.
// Each attack must now be refused, its answer must name nothing of the
// victim, and nothing may change.
func TestFoldingAttackAcrossAccounts(t *testing.T) {
	x := newTwoTenants(t)
	rel, err := filepath.Rel(filepath.Dir(x.dir), x.exported)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"WITH \"duc\u212Adb_tables\" AS (SELECT 1) SELECT * FROM duckdb_tables",
		"WITH \"duc\u212Adb_columns\" AS (SELECT 1) SELECT * FROM duckdb_columns",
		"WITH \"duc\u212Adb_databases\" AS (SELECT 1) SELECT * FROM duckdb_databases",
		"WITH \"pg_sett\u0130ngs\" AS (SELECT 1) SELECT * FROM pg_settings",
		"WITH \"la\u212Ae_cursor\" AS (SELECT 1) SELECT * FROM lake_cursor",
		"WITH \"" + strings.Replace(x.exported, "k", "\u212A", 1) + "\" AS (SELECT 1) SELECT * FROM '" + x.exported + "'",
		"WITH \"" + strings.Replace(rel, "k", "\u212A", 1) + "\" AS (SELECT 1) SELECT * FROM '" + rel + "'",
		"SELECT * FROM '" + x.exported + "'",
		"SELECT * FROM duckdb_databases",
		"SELECT * FROM pg_settings",
		"SELECT count(*) FROM " + x.victim,
		"SELECT count(*) FROM " + TableOf(x.victim),
	} {
		rows, msg := x.queryAs(tenantAccount, q)
		if msg == "" {
			t.Errorf("%q ran: %q", q, rows)
		}
		if l := x.leaks(strings.Join(rows, "\n") + msg); l != "" && !strings.Contains(q, l) {
			t.Errorf("%q: the answer shows %q: %s", q, l, msg)
		}
	}
	x.victimIntact()
}

// TestMigrateSharedDatabase upgrades a Lake kept in one database for
// every account (as an earlier cairn kept it, with a store of the oldest
// form among them) after a crash that had moved one account already: each
// store's rows and cursor end up, once, in its account's database, and
// the shared database is gone.
func TestMigrateSharedDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pdb, err := store.Open(filepath.Join(dir, "ledger"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	stores, err := OpenStores(pdb)
	if err != nil {
		t.Fatal(err)
	}
	lakeDir := filepath.Join(dir, "lake")
	if err := os.MkdirAll(filepath.Join(lakeDir, AccountsFolder), 0o700); err != nil {
		t.Fatal(err)
	}
	shared, err := OpenDB(ctx, filepath.Join(lakeDir, sharedFile), DefaultDBOptions())
	if err != nil {
		t.Fatal(err)
	}
	gen := &lakeFixture{apiFixture: &apiFixture{}}
	when := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	type want struct {
		account string
		rows    int
		cursor  uint64
	}
	wants := map[string]want{}
	for i, c := range []struct {
		id, account string
		rows        int
		legacy      bool
	}{
		{"0a000000-0000-4000-8000-000000000001", tenantAccount, 3, false},
		{"0a000000-0000-4000-8000-000000000002", tenantAccount, 2, true},
		{"0b000000-0000-4000-8000-000000000003", victimAccount, 4, false},
	} {
		s := &EventDataStore{ID: c.id, Name: "s" + c.id[:2], Account: c.account, Region: "us-east-1", Status: StatusEnabled, Selectors: defaultSelectors(), MultiRegionEnabled: true}
		if err := stores.Put(s); err != nil {
			t.Fatal(err)
		}
		var recs [][]byte
		for range c.rows {
			recs = append(recs, []byte(gen.record(c.account, "us-east-1", "s3.amazonaws.com", "Moved", false, "", when)))
		}
		if err := shared.Ensure(ctx, s.Table()); err != nil {
			t.Fatal(err)
		}
		if err := shared.Ingest(ctx, s.ID, s.Table(), recs, uint64(100+i)); err != nil {
			t.Fatal(err)
		}
		if c.legacy {
			// The oldest form: the rows in a table of the view's name,
			// with a checksum column.
			for _, q := range []string{`DROP VIEW ` + s.Table(), `ALTER TABLE ` + s.Table() + `_rows RENAME TO ` + s.Table(), `ALTER TABLE ` + s.Table() + ` ADD COLUMN eventjsonchecksum VARCHAR`} {
				if _, err := shared.SQL().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}
		wants[c.id] = want{c.account, c.rows, uint64(100 + i)}
	}
	shared.Close()
	// A crash after the victim's stores were moved.
	if err := migrateAccount(ctx, filepath.Join(lakeDir, sharedFile), AccountPath(lakeDir, victimAccount),
		[]sharedTable{{name: TableOf("0b000000-0000-4000-8000-000000000003") + "_rows", store: TableOf("0b000000-0000-4000-8000-000000000003"), id: "0b000000-0000-4000-8000-000000000003"}}); err != nil {
		t.Fatal(err)
	}

	dbs, err := OpenDatabases(ctx, lakeDir, DefaultDBOptions(), stores, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	if _, err := os.Stat(filepath.Join(lakeDir, sharedFile)); !os.IsNotExist(err) {
		t.Errorf("the shared database is still there: %v", err)
	}
	for id, w := range wants {
		s, _ := stores.Get(id)
		db, err := dbs.For(ctx, w.account)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.EnsureStore(ctx, s); err != nil {
			t.Fatal(err)
		}
		var n int
		var names string
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*), string_agg(DISTINCT eventname) FROM `+s.Table()).Scan(&n, &names); err != nil {
			t.Fatal(err)
		}
		cur, err := db.Cursor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n != w.rows || names != "Moved" || cur != w.cursor {
			t.Errorf("store %s in %s: %d rows (%s), cursor %d; want %d rows, cursor %d", id, w.account, n, names, cur, w.rows, w.cursor)
		}
	}
}

// startAs starts a query as account and returns it.
func (f *lakeFixture) startAs(account, sql string) (*query, string) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"QueryStatement": sql})
	out, err := f.queries.Ops()["StartQuery"].Handle(context.Background(), &awsapi.Call{Operation: "StartQuery", AccountID: account, Region: "us-east-1", Body: body})
	if err != nil {
		var ae *awsapi.Error
		if errors.As(err, &ae) {
			return nil, ae.Code
		}
		f.t.Fatal(err)
	}
	f.queries.mu.Lock()
	defer f.queries.mu.Unlock()
	return f.queries.byID[out.(struct{ QueryId string }).QueryId], ""
}

// TestQueriesQueuePerAccount fills an account's running queries: its next
// queries wait QUEUED (up to Lake's 10, then
// MaxConcurrentQueriesException), can be cancelled or time out while
// they wait, and run once a slot frees, while another account's queries
// run meanwhile.
func TestQueriesQueuePerAccount(t *testing.T) {
	x := newTwoTenants(t)
	db, err := x.dbs.For(context.Background(), tenantAccount)
	if err != nil {
		t.Fatal(err)
	}
	hold := func() {
		for range cap(db.running) {
			db.running <- struct{}{}
		}
	}
	release := func() {
		for range cap(db.running) {
			<-db.running
		}
	}
	hold()
	var queued []*query
	for range MaxConcurrentQueries {
		r, code := x.startAs(tenantAccount, "SELECT count(*) FROM "+x.tenant)
		if code != "" {
			t.Fatal(code)
		}
		queued = append(queued, r)
	}
	if _, code := x.startAs(tenantAccount, "SELECT 1"); code != awsapi.CodeMaxConcurrentQueries {
		t.Errorf("an eleventh query: %q, want %s", code, awsapi.CodeMaxConcurrentQueries)
	}
	if rows, msg := x.queryAs(victimAccount, "SELECT count(*) AS n FROM "+x.victim); msg != "" || len(rows) != 1 || rows[0] != "n=5" {
		t.Errorf("the other account's query while the tenant's wait: %q %s", rows, msg)
	}
	for _, r := range queued {
		if st := r.state(); st != QueryQueued {
			t.Fatalf("a query waiting for a slot is %s", st)
		}
	}
	if _, code := x.call(tenantAccount, "us-east-1", "CancelQuery", map[string]any{"QueryId": queued[0].ID}); code != "" {
		t.Fatal(code)
	}
	<-queued[0].done
	release()
	for _, r := range queued[1:] {
		<-r.done
		if st := r.state(); st != QueryFinished {
			t.Errorf("a queued query ended %s", st)
		}
	}
	if st := queued[0].state(); st != QueryCancelled {
		t.Errorf("the cancelled query is %s", st)
	}

	hold()
	defer release()
	x.queries.Timeout = time.Millisecond
	r, code := x.startAs(tenantAccount, "SELECT 1")
	if code != "" {
		t.Fatal(code)
	}
	<-r.done
	if st := r.state(); st != QueryTimedOut {
		t.Errorf("a query that waited past its time is %s", st)
	}
}
