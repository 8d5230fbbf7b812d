package lake

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/cairn-audit/cairn/internal/awsapi"
	"github.com/cairn-audit/cairn/internal/lakesql"
	"github.com/cairn-audit/cairn/internal/objstore"
)

// exportFolder is the folder, beside the database, where exports are
// written before they go to their bucket: the only place the database
// may write files, and only on cairn's behalf (users' queries cannot
// name files at all).
const exportFolder = "export"

// export writes a store's events as Parquet files partitioned by
// recipientaccountid, awsregion and date (of eventtime), Hive-style, into
// a new folder under the export folder, and returns it and the rows.
func (d *DB) export(ctx context.Context, table string) (string, int64, error) {
	if d.exportDir == "" {
		return "", 0, fmt.Errorf("an in-memory lake database cannot export")
	}
	dir := filepath.Join(d.exportDir, uuid.NewString())
	d.mu.RLock()
	defer d.mu.RUnlock()
	res, err := d.db.ExecContext(ctx, `COPY (SELECT * EXCLUDE (eventjsonchecksum), strftime(eventtime, '%Y-%m-%d') AS "date" FROM `+
		lakesql.QuoteIdent(table)+`) TO '`+strings.ReplaceAll(dir, "'", "''")+`' (FORMAT parquet, PARTITION_BY (recipientaccountid, awsregion, "date"), COMPRESSION zstd, FILENAME_PATTERN 'events_{i}')`)
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
	DB      *DB
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
		return nil, awsapi.Errorf(CodeInvalidParameter, "Only stores of CloudTrail events can be exported; %s takes events from outside AWS.", s.ARN())
	}
	rest, ok := strings.CutPrefix(req.Destination, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !ok || !objstore.ValidBucketName(bucket) {
		return nil, awsapi.Errorf(CodeInvalidParameter, "Destination %q is not an s3://bucket/prefix URI.", req.Destination)
	}
	if owner, ok := e.Buckets.Owner(bucket); !ok || owner != c.AccountID {
		return nil, awsapi.Errorf(CodeS3BucketDoesNotExist, "S3 bucket %s does not exist in account %s.", bucket, c.AccountID)
	}
	st, err := e.Buckets.Store(bucket)
	if err != nil {
		return nil, err
	}
	if err := e.DB.EnsureStore(ctx, s); err != nil {
		return nil, err
	}
	dir, rows, err := e.DB.export(ctx, s.Table())
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
