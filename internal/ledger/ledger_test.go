package ledger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairn-audit/cairn/internal/store"
)

func open(t *testing.T, dir string) (*Ledger, func()) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "log"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := store.Open(filepath.Join(dir, "ids"), store.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(db, ids, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	return l, func() { cancel(); <-done; ids.Close(); db.Close() }
}

func TestAppendDedupeAndReopen(t *testing.T) {
	dir := t.TempDir()
	l, closeFn := open(t, dir)
	ctx := t.Context()
	res, err := l.Append(ctx, []Entry{
		{Account: "111111111111", ID: "a", Value: []byte("one")},
		{Account: "111111111111", ID: "b", Value: []byte("two")},
		{Account: "111111111111", ID: "a", Value: []byte("one again")},
		{Account: "222222222222", ID: "a", Value: []byte("other account")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{{Seq: 1}, {Seq: 2}, {Seq: 1, Duplicate: true}, {Seq: 3}}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, res[i], want[i])
		}
	}
	closeFn()

	l, closeFn = open(t, dir)
	defer closeFn()
	if l.Last() != 3 {
		t.Fatalf("Last after reopen = %d, want 3", l.Last())
	}
	res, err = l.Append(ctx, []Entry{{Account: "111111111111", ID: "b", Value: []byte("x")}, {Account: "111111111111", ID: "c", Value: []byte("three")}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != (Result{Seq: 2, Duplicate: true}) || res[1] != (Result{Seq: 4}) {
		t.Fatalf("after reopen: %+v", res)
	}
	var got []string
	next, err := l.Scan(1, 10, func(seq uint64, v []byte) error {
		got = append(got, fmt.Sprintf("%d:%s", seq, v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1:one 2:two 3:other account 4:three]" || next != 5 {
		t.Fatalf("scan = %v next %d", got, next)
	}
	if seq, ok, _ := l.Lookup("222222222222", "a"); !ok || seq != 3 {
		t.Fatalf("Lookup = %d %v", seq, ok)
	}
}

func TestConcurrentAppendsGetDistinctSequences(t *testing.T) {
	l, closeFn := open(t, t.TempDir())
	defer closeFn()
	const writers, per = 8, 200
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*per)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				res, err := l.Append(t.Context(), []Entry{{Account: "111111111111", ID: fmt.Sprintf("%d-%d", w, i), Value: []byte("v")}})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- res[0].Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("sequence %d handed out twice", s)
		}
		seen[s] = true
	}
	if len(seen) != writers*per || l.Last() != writers*per {
		t.Fatalf("got %d sequences, last %d", len(seen), l.Last())
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	l, closeFn := open(t, t.TempDir())
	closeFn()
	if _, err := l.Append(context.Background(), []Entry{{Account: "1", ID: "x", Value: nil}}); err != ErrClosed {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestIDFilterHasNoFalseNegatives(t *testing.T) {
	f := newIDFilter(10)
	var fp int
	for i := range 400_000 {
		k := []byte(fmt.Sprintf("k%d", i))
		if i%2 == 0 {
			f.add(k)
		}
	}
	for i := range 400_000 {
		k := []byte(fmt.Sprintf("k%d", i))
		if i%2 == 0 && !f.mayContain(k) {
			t.Fatalf("key %d added but not found", i)
		}
		if i%2 == 1 && f.mayContain(k) {
			fp++
		}
	}
	if rate := float64(fp) / 200_000; rate > 0.05 {
		t.Errorf("false positive rate %.3f", rate)
	} else {
		t.Logf("false positive rate %.4f over %d filters", rate, len(f.parts))
	}
}

// TestDedupeIndexCatchesUp loses the dedupe index (as a crash of its
// WAL-less database would) and checks that reopening rebuilds it from the
// log, so that old IDs are still recognised.
func TestDedupeIndexCatchesUp(t *testing.T) {
	dir := t.TempDir()
	l, closeFn := open(t, dir)
	if _, err := l.Append(t.Context(), []Entry{{Account: "111111111111", ID: "a", Value: []byte("1")}, {Account: "111111111111", ID: "b", Value: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	closeFn()
	if err := os.RemoveAll(filepath.Join(dir, "ids")); err != nil {
		t.Fatal(err)
	}
	l, closeFn = open(t, dir)
	defer closeFn()
	res, err := l.Append(t.Context(), []Entry{{Account: "111111111111", ID: "b", Value: []byte("x")}, {Account: "111111111111", ID: "c", Value: []byte("3")}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != (Result{Seq: 2, Duplicate: true}) || res[1] != (Result{Seq: 3}) {
		t.Fatalf("after losing the index: %+v", res)
	}
	if v, err := l.Get(3); err != nil || string(v) != "3" {
		t.Fatalf("Get = %q %v", v, err)
	}
}

// TestScanReadsRecentEntriesAndOlderOnes scans across the boundary of what
// is kept in memory and checks every value, in order.
func TestScanReadsRecentEntriesAndOlderOnes(t *testing.T) {
	l, closeFn := open(t, t.TempDir())
	defer closeFn()
	n := recentSize + 500
	var entries []Entry
	for i := range n {
		entries = append(entries, Entry{Account: "111111111111", ID: fmt.Sprint(i), Value: []byte(fmt.Sprint("v", i+1))})
	}
	if _, err := l.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	for _, from := range []uint64{1, 400, 501, 502, uint64(n) - 3} {
		want := from
		next, err := l.Scan(from, 1000, func(seq uint64, v []byte) error {
			if seq != want || string(v) != fmt.Sprint("v", seq) {
				return fmt.Errorf("seq %d value %q, want seq %d", seq, v, want)
			}
			want++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next != want || next != min(from+1000, uint64(n)+1) {
			t.Fatalf("from %d: next %d, scanned to %d", from, next, want)
		}
	}
}
