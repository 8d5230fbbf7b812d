package ingest

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/synth"
)

// logFile returns a gzipped log file of n synthetic records, as an
// import reads them.
func logFile(n int) (gz []byte, inflated int) {
	g := synth.New(synth.Options{Seed: 1, Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	body := []byte(`{"Records":[`)
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = g.Next(body)
	}
	body = append(body, "]}"...)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	zw.Close()
	return b.Bytes(), len(body)
}

// BenchmarkReadLog reads a log file of 200 records, the size of the
// files of the Lake benchmark, as imports do.
func BenchmarkReadLog(b *testing.B) {
	gz, n := logFile(200)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := ReadLog(bytes.NewReader(gz), safeio.LogFile())
		if err != nil || len(recs) != 200 {
			b.Fatal(len(recs), err)
		}
	}
}
