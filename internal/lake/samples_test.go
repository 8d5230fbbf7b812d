package lake

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/lakesql"
)

// realArchive reads the records of the real CloudTrail archive beside the
// project.
func realArchive(t *testing.T) []json.RawMessage {
	t.Helper()
	root := filepath.Join("..", "..", "testdata", "cloudtrail-real", "s3-layout")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("CAIRN_REQUIRE_ALL") != "" {
			t.Fatalf("the real data set is missing: %v", err)
		}
		t.Skip("the real data set is not beside the project")
	}
	var out []json.RawMessage
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".json.gz") && !strings.HasSuffix(path, ".json") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			r = zr
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.NewDecoder(r).Decode(&doc); err != nil {
			return err
		}
		out = append(out, doc.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSamplesRunOnRealData runs every sample query on a store holding the
// real archive: each must be accepted and run, and most find something.
// realStoreID is the store realStore fills.
const realStoreID = "8a2f7e4c-1d2b-4c3e-9f00-123456789abc"

// realStore is a database whose store realStoreID holds the real
// archive's records, which it returns too.
func realStore(t *testing.T) (*DB, []json.RawMessage) {
	t.Helper()
	records := realArchive(t)
	ctx := context.Background()
	db, err := OpenDB(ctx, filepath.Join(t.TempDir(), "lake.duckdb"), DefaultDBOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := TableOf(realStoreID)
	if err := db.Ensure(ctx, table); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(ctx, table, records); err != nil {
		t.Fatal(err)
	}
	return db, records
}

// runLake runs a query as StartQuery does: rewritten, checked, run.
func runLake(t *testing.T, db *DB, q string) ([]string, [][]*string, error) {
	t.Helper()
	ctx := context.Background()
	table := TableOf(realStoreID)
	rw, err := lakesql.Rewrite(q, map[string]string{realStoreID: table})
	if err != nil {
		return nil, nil, err
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lakesql.Check(ctx, conn, rw, []string{table})
	conn.Close()
	if err != nil {
		return nil, nil, err
	}
	return fetch(ctx, db.SQL(), rw)
}

func TestSamplesRunOnRealData(t *testing.T) {
	db, _ := realStore(t)
	id := realStoreID
	if len(Samples) < 50 {
		t.Fatalf("%d sample queries, want at least 50", len(Samples))
	}
	names := map[string]bool{}
	found := 0
	for _, s := range Samples {
		if names[s.Name] {
			t.Errorf("two samples named %q", s.Name)
		}
		names[s.Name] = true
		_, rows, err := runLake(t, db, strings.ReplaceAll(s.SQL, "$EDS_ID", id))
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if len(rows) > 0 {
			found++
		} else {
			t.Logf("%s: no rows in this data", s.Name)
		}
	}
	if found < 40 {
		t.Errorf("only %d of %d samples find anything in the real data", found, len(Samples))
	}
}

func TestSearchSampleQueries(t *testing.T) {
	f := newAPI(t)
	f.extra = map[string]awsapi.Op{"SearchSampleQueries": SearchSampleQueriesOp()}
	out := f.ok("SearchSampleQueries", map[string]any{"SearchPhrase": "root user", "MaxResults": 3})
	res := out["SearchResults"].([]any)
	if len(res) != 3 || !strings.Contains(res[0].(map[string]any)["Name"].(string), "Root") || out["NextToken"] == nil {
		t.Fatalf("search: %v", out)
	}
	if r := res[0].(map[string]any)["Relevance"].(float64); r <= 0 || r > 1 {
		t.Errorf("relevance %v", r)
	}
	f.fails("SearchSampleQueries", map[string]any{"SearchPhrase": "x"}, awsapi.CodeValidation)
	f.fails("SearchSampleQueries", map[string]any{"SearchPhrase": "root", "MaxResults": 51}, awsapi.CodeValidation)
}
