package lake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// A query's results are written to disk as DuckDB returns them, in pages
// of resultPage rows (one gzipped JSON file each, 0600), and read back a
// page at a time: GetQueryResults and DeliveryS3Uri never hold more than
// a page or two of a result in memory, whatever its size, and a restart
// reads none of them.

// Result limits; a query whose result passes one ends FAILED and its
// pages are removed.
const (
	resultPage = 1000
	// MaxResultRows is how many rows a query may return.
	MaxResultRows = 10_000_000
	// MaxResultBytes is how much text (the sum of the lengths of the
	// values) a query's result may hold.
	MaxResultBytes = 1 << 30
)

// errResultTooLarge ends a query whose result passes a limit.
var errResultTooLarge = errors.New("result too large")

// resultWriter writes a result's pages while it is fetched.
type resultWriter struct {
	dir              string
	maxRows, maxText int64
	rows, text       int64
	buf              [][]*string
	pages            int
}

func (w *resultWriter) add(row []*string) error {
	for _, v := range row {
		if v != nil {
			w.text += int64(len(*v))
		}
	}
	w.rows++
	if w.rows > w.maxRows || w.text > w.maxText {
		return errResultTooLarge
	}
	w.buf = append(w.buf, row)
	if len(w.buf) == resultPage {
		return w.flush()
	}
	return nil
}

func (w *resultWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.pages == 0 {
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return err
		}
	}
	if err := writeJSONGz(pagePath(w.dir, w.pages), w.buf); err != nil {
		return err
	}
	w.pages++
	w.buf = w.buf[:0]
	return nil
}

func pagePath(dir string, n int) string {
	return filepath.Join(dir, strconv.Itoa(n)+".json.gz")
}

// readResult returns rows [from, from+n) of the result in dir, total
// rows long, reading only the pages that hold them.
func readResult(dir string, total, from int64, n int) ([][]*string, error) {
	end := min(from+int64(n), total)
	var out [][]*string
	for from < end {
		p := int(from / resultPage)
		var rows [][]*string
		if err := readJSONGz(pagePath(dir, p), &rows); err != nil {
			return nil, fmt.Errorf("query results: %w", err)
		}
		lo := from - int64(p)*resultPage
		hi := min(int64(len(rows)), end-int64(p)*resultPage)
		if lo >= hi {
			return nil, errors.New("query results: page shorter than its count")
		}
		out = append(out, rows[lo:hi]...)
		from += hi - lo
	}
	return out, nil
}

// eachResultPage calls f with each page of the result in dir in order.
func eachResultPage(dir string, total int64, f func(rows [][]*string) error) error {
	for from := int64(0); from < total; from += resultPage {
		rows, err := readResult(dir, total, from, resultPage)
		if err != nil {
			return err
		}
		if err := f(rows); err != nil {
			return err
		}
	}
	return nil
}
