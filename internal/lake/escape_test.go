package lake

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"github.com/cairn-audit/cairn/internal/awsapi"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/lakesql"
)

// escape is one statement of testdata/escapes.txt.
type escape struct {
	line   int
	sql    string // placeholders not yet filled in
	mayRun bool   // "any: ": it may run, on the tenant's own data
}

// loadEscapes reads testdata/escapes.txt (its format is described at its
// top).
func loadEscapes(t *testing.T) []escape {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "escapes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []escape
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		q, any := strings.CutPrefix(line, "any: ")
		out = append(out, escape{line: n, sql: q, mayRun: any})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var codePoint = regexp.MustCompile(`\{U\+([0-9A-F]{4,6})\}`)

// fill puts the fixture's names and the characters {U+XXXX} name into q.
func (x *twoTenants) fill(q string) string {
	tenantARN := "arn:aws:cloudtrail:us-east-1:" + tenantAccount + ":eventdatastore/" + x.tenant
	victimARN := "arn:aws:cloudtrail:us-east-1:" + victimAccount + ":eventdatastore/" + x.victim
	rel, _ := filepath.Rel(filepath.Dir(x.dir), x.exported)
	q = strings.NewReplacer(
		"{store}", x.tenant, "{store_arn}", tenantARN, "{store_upper}", strings.ToUpper(x.tenant), "{own_table}", TableOf(x.tenant),
		"{victim}", x.victim, "{victim_arn}", victimARN, "{victim_upper}", strings.ToUpper(x.victim), "{victim_table}", TableOf(x.victim),
		"{tenant}", tenantAccount, "{victim_account}", victimAccount,
		"{export}", x.exported, "{export_rel}", rel, "{export_dir}", filepath.Join(x.dir, exportFolder),
		"{victim_db}", AccountPath(x.dir, victimAccount), "{lake}", x.dir,
	).Replace(q)
	return codePoint.ReplaceAllStringFunc(q, func(m string) string {
		r, _ := strconv.ParseUint(codePoint.FindStringSubmatch(m)[1], 16, 32)
		return string(rune(r))
	})
}

// victimLeak names what of the victim text shows, if anything: its
// account, its store, its events, or the contents of its exported file.
func (x *twoTenants) victimLeak(text string) string {
	for _, s := range []string{victimAccount, x.victim, strings.ReplaceAll(x.victim, "-", ""), victimSecret, "PAR1"} {
		if strings.Contains(text, s) {
			return s
		}
	}
	return ""
}

// snapshot is every file under the Lake's folder but the tenant's own
// database, its spill folder and the saved queries, with a digest of
// its contents.
func (x *twoTenants) snapshot() map[string]string {
	x.t.Helper()
	own := AccountPath(x.dir, tenantAccount)
	out := map[string]string{}
	err := filepath.WalkDir(x.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == own+".tmp" || p == filepath.Join(x.dir, "queries") {
			return filepath.SkipDir
		}
		if d.IsDir() || p == own || p == own+".wal" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		x.t.Fatal(err)
	}
	return out
}

func (x *twoTenants) sameFiles(before map[string]string, when string) {
	x.t.Helper()
	after := x.snapshot()
	for p, h := range before {
		if after[p] != h {
			x.t.Errorf("%s: %s changed or went", when, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			x.t.Errorf("%s: %s appeared", when, p)
		}
	}
}

// TestEscapes runs the hostile statements of testdata/escapes.txt as a
// tenant, through StartQuery and then straight on the tenant's own
// database: none may show anything of the other account's store or
// change it or any file, and through StartQuery every statement not
// marked "any: " is refused before it runs and changes nothing of the
// tenant's own store either.
func TestEscapes(t *testing.T) {
	cases := loadEscapes(t)
	if len(cases) < 200 {
		t.Fatalf("%d statements in testdata/escapes.txt, want at least 200", len(cases))
	}
	x := newTwoTenants(t)
	ctx := context.Background()
	own := func() string {
		rows, msg := x.queryAs(tenantAccount, "SELECT count(*) AS n, max(eventname) AS m FROM "+x.tenant)
		return strings.Join(rows, ";") + msg
	}
	ownBefore := own()
	before := x.snapshot()

	for _, c := range cases {
		q := x.fill(c.sql)
		rows, msg := x.queryAs(tenantAccount, q)
		switch {
		case !c.mayRun && !strings.HasPrefix(msg, awsapi.CodeInvalidQueryStatement+": "):
			t.Errorf("line %d %q: %q %q, want %s", c.line, q, rows, msg, awsapi.CodeInvalidQueryStatement)
		case c.mayRun && msg != "" && !strings.HasPrefix(msg, awsapi.CodeInvalidQueryStatement+": ") && !strings.HasPrefix(msg, QueryFailed+": "):
			t.Errorf("line %d %q: %s", c.line, q, msg)
		}
		answer := strings.Join(rows, "\n") + msg
		if l := x.victimLeak(answer); l != "" && !echoes(q, l) {
			t.Errorf("line %d %q: the answer shows %q: %s", c.line, q, l, answer)
		}
		if l := x.leaks(answer); l != "" && !echoes(q, l) {
			t.Errorf("line %d %q: the answer shows %q: %s", c.line, q, l, answer)
		}
	}
	if got := own(); got != ownBefore {
		t.Errorf("the tenant's own store changed: %s, was %s", got, ownBefore)
	}
	x.victimIntact()
	x.sameFiles(before, "after the queries")

	// Past the front end: the tenant's database itself has nothing of the
	// victim's and reaches no file. Statements run on one connection, so
	// that BEGIN, PREPARE and the like hold for the ones after them.
	db, err := x.dbs.For(ctx, tenantAccount)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range cases {
		q := x.fill(c.sql)
		answer := rawRun(ctx, conn, q)
		// A statement may turn profiling on, which prints to stdout.
		conn.ExecContext(ctx, "PRAGMA disable_profiling")
		if l := x.victimLeak(answer); l != "" && !echoes(q, l) {
			t.Errorf("line %d %q run on the tenant's database: the answer shows %q: %s", c.line, q, l, answer)
		}
	}
	conn.ExecContext(ctx, "ROLLBACK")
	x.victimIntact()
	x.sameFiles(before, "after the statements on the tenant's database")
}

// echoes says whether the answer's text s may be the statement's own
// text, as DuckDB folds it.
func echoes(q, s string) bool {
	return strings.Contains(lakesql.FoldName(q), lakesql.FoldName(s))
}

// rawRun runs q on conn and returns its rows, or its error, as text. A
// statement that runs on (an endless recursive CTE) is stopped after a
// second: it spends only the tenant's own share of the machine.
func rawRun(ctx context.Context, conn *sql.Conn, q string) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, rows, err := fetch(ctx, conn, q)
	var b strings.Builder
	for _, row := range rows {
		for _, v := range row {
			if v != nil {
				b.WriteString(*v)
			}
			b.WriteString("|")
		}
		b.WriteString("\n")
	}
	if err != nil {
		b.WriteString(err.Error())
	}
	return b.String()
}
