package safeio_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cairn-audit/cairn/internal/safeio"
	"github.com/cairn-audit/cairn/internal/safeio/safeiotest"
)

func gz(parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		w := gzip.NewWriter(&b)
		w.Write([]byte(p))
		w.Close()
	}
	return b.Bytes()
}

// noise returns n bytes that do not compress.
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint32(1)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// counting counts what is read from a source.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReaderPassesFilesWithinLimits(t *testing.T) {
	lim := safeio.Limits{Compressed: 1 << 10, Inflated: 1 << 10}
	for name, in := range map[string][]byte{
		"plain":            []byte(`{"Records":[]}`),
		"empty":            nil,
		"gzip":             gz(`{"Records":[]}`),
		"gzip, 2 members":  gz(`{"Records":`, `[]}`),
		"plain, at limits": bytes.Repeat([]byte("x"), 1<<10),
	} {
		r, err := safeio.NewReader(bytes.NewReader(in), lim)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		want := in
		if strings.HasPrefix(name, "gzip") {
			want = []byte(`{"Records":[]}`)
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// TestBombFailsAtTheLimit reads gzip bombs, one of them with a trailer
// claiming a few bytes: the read fails with ErrTooLarge having produced
// no more than the limit, whatever the file says of itself.
func TestBombFailsAtTheLimit(t *testing.T) {
	lim := safeio.Limits{Compressed: 1 << 20, Inflated: 3 * safeiotest.Chunk}
	for name, b := range map[string][]byte{
		"honest trailer": safeiotest.Bomb(64),
		"lying trailer":  safeiotest.LyingBomb(64, 20),
		"huge claim":     safeiotest.LyingBomb(64, 1<<32-1),
	} {
		for _, open := range []func(io.Reader, safeio.Limits) (io.Reader, error){safeio.NewReader, safeio.NewGzipMember} {
			r, err := open(bytes.NewReader(b), lim)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			if !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "inflates to more than 3 MiB") {
				t.Errorf("%s: %v", name, err)
			}
			if n > lim.Inflated {
				t.Errorf("%s: %d bytes read past the limit of %d", name, n, lim.Inflated)
			}
		}
	}
}

func TestStoredLimit(t *testing.T) {
	lim := safeio.Limits{Compressed: 100, Inflated: 1 << 20}
	for name, in := range map[string][]byte{
		"plain": bytes.Repeat([]byte("x"), 101),
		"gzip":  gz(string(noise(1000))),
	} {
		src := &counting{r: bytes.NewReader(in)}
		r, err := safeio.NewReader(src, lim)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "more than 100 bytes as stored") {
			t.Errorf("%s: %v", name, err)
		}
		if src.n > lim.Compressed+1 {
			t.Errorf("%s: read %d bytes of the source", name, src.n)
		}
	}
	if err := lim.CheckSize(101); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("CheckSize(101): %v", err)
	}
	if err := lim.CheckSize(100); err != nil {
		t.Errorf("CheckSize(100): %v", err)
	}
}

// TestGzipMember takes exactly one gzip member, as validate-logs does.
func TestGzipMember(t *testing.T) {
	lim := safeio.DigestFile()
	read := func(b []byte) ([]byte, error) {
		r, err := safeio.NewGzipMember(bytes.NewReader(b), lim)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	if got, err := read(gz("abc")); err != nil || string(got) != "abc" {
		t.Errorf("one member: %q, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"two members":   gz("abc", "def"),
		"trailing junk": append(gz("abc"), 'x'),
	} {
		if _, err := read(b); !errors.Is(err, safeio.ErrTrailingData) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"plain":     []byte("abc"),
		"empty":     nil,
		"truncated": gz("abcdef")[:20],
	} {
		if _, err := read(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDefaultsAreGenerous(t *testing.T) {
	l := safeio.LogFile()
	if l.Compressed != 128<<20 || l.Inflated != 512<<20 || l.Records != 2<<20 {
		t.Errorf("log file limits %+v", l)
	}
	if err := l.CheckRecords(l.Records + 1); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("CheckRecords: %v", err)
	}
	if got := (safeio.Limits{}).Or(l); got != l {
		t.Errorf("zero limits: %+v", got)
	}
	small := safeio.Limits{Compressed: 1}
	if got := small.Or(l); got != small {
		t.Errorf("limits replaced: %+v", got)
	}
	d := safeio.DigestFile()
	if d.Compressed != 8<<20 || d.Inflated != 16<<20 {
		t.Errorf("digest limits %+v", d)
	}
}
