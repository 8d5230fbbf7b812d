package lake

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/objstore"
	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/safeio/safeiotest"
)

// oneBucket is a tenant's bucket for imports.
type oneBucket struct {
	st          objstore.Store
	name, owner string
}

func (b oneBucket) Store(string) (objstore.Store, error) { return b.st, nil }
func (b oneBucket) Owner(name string) (string, bool)     { return b.owner, name == b.name }

// TestImportBombIsAFailedEntry imports a tenant's bucket that holds a
// gzip bomb whose trailer claims a few bytes, a file larger than a log
// file may be, and a good log file. The import reads the good file, and
// records each of the others as a failed entry, having read no more of
// it than the limits allow, instead of inflating it and completing as
// though it held no events.
func TestImportBombIsAFailedEntry(t *testing.T) {
	f := newLake(t)
	ctx := context.Background()
	st := objstore.NewMem()
	if err := st.CreateBucket(ctx, "tenant-logs", false); err != nil {
		t.Fatal(err)
	}
	dir := "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/22/"
	var good bytes.Buffer
	zw := gzip.NewWriter(&good)
	zw.Write([]byte(`{"Records":[` + f.record("123456789012", "us-east-1", "s3.amazonaws.com", "A", false, "", f.clock) + `,` +
		f.record("123456789012", "us-east-1", "s3.amazonaws.com", "B", true, "", f.clock) + `]}`))
	zw.Close()
	lim := safeio.Limits{Compressed: 256 << 10, Inflated: 2 * safeiotest.Chunk, Records: 1000}
	for key, body := range map[string][]byte{
		dir + "a-good.json.gz": good.Bytes(),
		dir + "b-bomb.json.gz": safeiotest.LyingBomb(128, 1000),
		dir + "c-big.json.gz":  make([]byte, lim.Compressed+1),
	} {
		if err := st.Put(ctx, "tenant-logs", key, body, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	arn := f.ok("CreateEventDataStore", map[string]any{"Name": "imported"})["EventDataStoreArn"].(string)
	im := &Imports{DBs: f.dbs, API: f.a, Buckets: oneBucket{st, "tenant-logs", "123456789012"}, Log: quiet, Limits: lim}
	for name, op := range im.Ops() {
		f.extra[name] = op
	}
	id := f.ok("StartImport", map[string]any{"Destinations": []string{arn},
		"ImportSource": map[string]any{"S3": map[string]any{"S3LocationUri": "s3://tenant-logs/AWSLogs/", "S3BucketRegion": "us-east-1",
			"S3BucketAccessRoleArn": "arn:aws:iam::123456789012:role/r"}}})["ImportId"].(string)
	im.wg.Wait()

	got := f.ok("GetImport", map[string]any{"ImportId": id})
	stats := got["ImportStatistics"].(map[string]any)
	if got["ImportStatus"] != ImportCompleted || stats["EventsCompleted"] != 2.0 || stats["FilesCompleted"] != 1.0 || stats["FailedEntries"] != 2.0 {
		t.Fatalf("import: %v", got)
	}
	failures := f.ok("ListImportFailures", map[string]any{"ImportId": id})["Failures"].([]any)
	want := map[string]string{
		"s3://tenant-logs/" + dir + "b-bomb.json.gz": "file too large: inflates to more than 2 MiB",
		"s3://tenant-logs/" + dir + "c-big.json.gz":  "file too large: more than 256 KiB as stored",
	}
	if len(failures) != len(want) {
		t.Fatalf("failures: %v", failures)
	}
	for _, x := range failures {
		fl := x.(map[string]any)
		msg, ok := want[fl["Location"].(string)]
		if !ok || fl["ErrorMessage"] != msg || fl["Status"] != "FAILED" {
			t.Errorf("failure %v, want message %q", fl, msg)
		}
	}
	rows, errMsg := f.query("SELECT eventname FROM " + arn + " ORDER BY eventname")
	if errMsg != "" || strings.Join(rows, ";") != "eventname=A;eventname=B" {
		t.Errorf("imported: %q %s", rows, errMsg)
	}
}
