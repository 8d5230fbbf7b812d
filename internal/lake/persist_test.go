package lake

import (
	"testing"
	"time"
)

// TestImportsKeptAcrossRestarts saves imports as they end (or as they
// run, when the server stops) and loads them: a finished one as it was,
// a running one STOPPED, ready to run again.
func TestImportsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	im := &Imports{Dir: dir}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	done := &importJob{ID: "11111111-1111-4111-8111-111111111111", Account: "123456789012", Region: "us-east-1",
		Destinations: []string{"arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/x"}, storeIDs: []string{"x"},
		Source: "s3://b/p", Start: &start, Created: start, status: ImportCompleted,
		stats:    importStats{PrefixesFound: 2, PrefixesCompleted: 2, FilesCompleted: 7, EventsCompleted: 70, FailedEntries: 1},
		failures: []importFailure{{Location: "s3://b/p/bad.json.gz", Status: "FAILED", ErrorType: "InvalidLogFile", ErrorMessage: "corrupt"}}}
	running := &importJob{ID: "22222222-2222-4222-8222-222222222222", Account: "123456789012", Region: "us-east-1",
		Source: "s3://b/q", Created: start, status: ImportInProgress, stats: importStats{FilesCompleted: 3}}
	im.save(done)
	im.save(running)

	again := &Imports{Dir: dir}
	if err := again.Load(); err != nil {
		t.Fatal(err)
	}
	d, r := again.byID[done.ID], again.byID[running.ID]
	if d == nil || r == nil {
		t.Fatalf("loaded %v", again.byID)
	}
	if d.status != ImportCompleted || d.stats != done.stats || len(d.failures) != 1 || d.failures[0].ErrorMessage != "corrupt" ||
		!d.Start.Equal(start) || d.storeIDs[0] != "x" || d.Source != "s3://b/p" {
		t.Errorf("finished import: %+v", d)
	}
	if r.status != ImportStopped || r.stats.FilesCompleted != 3 {
		t.Errorf("running import after a restart: %s %+v", r.status, r.stats)
	}
}
