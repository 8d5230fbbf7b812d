package safeio

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// The bounds of one file. CloudTrail writes a log file every few minutes
// per account and Region, at most tens of MiB once inflated, and a digest
// file each hour that lists the log files of that hour; the limits leave
// an order of magnitude of room above that.
const (
	// MaxLogFileCompressed bounds the bytes of a log file as stored.
	MaxLogFileCompressed = 128 << 20
	// MaxLogFileInflated bounds the bytes a log file inflates to (of a
	// file that is not compressed: its size).
	MaxLogFileInflated = 512 << 20
	// MaxLogFileRecords bounds the records of one log file: a record of
	// a real file is hundreds of bytes, and each record kept costs memory
	// beyond its bytes, so that a file of "{}," would otherwise cost many
	// times its size.
	MaxLogFileRecords = 2 << 20

	// MaxDigestCompressed bounds the bytes of a digest file as stored.
	MaxDigestCompressed = 8 << 20
	// MaxDigestInflated bounds the bytes a digest file inflates to: room
	// for about 40,000 log files in one hour.
	MaxDigestInflated = 16 << 20
)

// Limits bound one file.
type Limits struct {
	// Compressed bounds the bytes read from the source.
	Compressed int64
	// Inflated bounds the bytes of content: what a gzip stream inflates
	// to, or what is read of content that is not compressed.
	Inflated int64
	// Records bounds the records of the file, for the decoders that
	// count them (see CheckRecords).
	Records int
}

// LogFile returns the limits of a CloudTrail log file, and of any file of
// records read for import or ingestion.
func LogFile() Limits {
	return Limits{Compressed: MaxLogFileCompressed, Inflated: MaxLogFileInflated, Records: MaxLogFileRecords}
}

// DigestFile returns the limits of a digest file.
func DigestFile() Limits {
	return Limits{Compressed: MaxDigestCompressed, Inflated: MaxDigestInflated, Records: 1}
}

// Errors of the readers. ErrTooLarge is wrapped with the limit that was
// passed; test with errors.Is.
var (
	ErrTooLarge = errors.New("file too large")
	// ErrTrailingData is the AWS CLI's verdict on bytes after a gzip
	// member where exactly one is expected.
	ErrTrailingData = errors.New("unexpected data after end of compressed stream")
)

// Or returns l, or def when l is zero: a zero Limits means the defaults
// of whoever holds it.
func (l Limits) Or(def Limits) Limits {
	if l == (Limits{}) {
		return def
	}
	return l
}

// CheckSize fails with ErrTooLarge when a source of size bytes (as a
// listing or a HEAD reports it) is over the limit, so that it need not be
// read to be refused.
func (l Limits) CheckSize(size int64) error {
	if size > l.Compressed {
		return storedError(l.Compressed)
	}
	return nil
}

// CheckRecords fails with ErrTooLarge once a decoder has found more than
// the limit of records.
func (l Limits) CheckRecords(n int) error {
	if n > l.Records {
		return fmt.Errorf("%w: more than %d records", ErrTooLarge, l.Records)
	}
	return nil
}

// NewReader returns the content of r, inflated when it is gzip (any
// number of members, as gzip(1) writes them) and as it is otherwise,
// within lim. It never reads more than lim.Compressed+1 bytes from r.
func NewReader(r io.Reader, lim Limits) (io.Reader, error) {
	br := bufio.NewReaderSize(&limited{r: r, left: lim.Compressed, tooLarge: storedError(lim.Compressed)}, 64<<10)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a gzip file: %w", err)
		}
		return inflated(zr, lim), nil
	}
	return inflated(br, lim), nil
}

// NewGzipMember returns the content of r, which must be exactly one gzip
// member, inflated within lim: bytes after the member make the read fail
// with ErrTrailingData, as `aws cloudtrail validate-logs` treats them.
func NewGzipMember(r io.Reader, lim Limits) (io.Reader, error) {
	// gzip reads a flate.Reader byte by byte without reading ahead, so
	// what is left in br after the member is exactly what follows it.
	br := bufio.NewReader(&limited{r: r, left: lim.Compressed, tooLarge: storedError(lim.Compressed)})
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a gzip file: %w", err)
	}
	zr.Multistream(false)
	return inflated(&oneMember{zr: zr, rest: br}, lim), nil
}

func inflated(r io.Reader, lim Limits) io.Reader {
	return &limited{r: r, left: lim.Inflated, tooLarge: fmt.Errorf("%w: inflates to more than %s", ErrTooLarge, size(lim.Inflated))}
}

func storedError(n int64) error {
	return fmt.Errorf("%w: more than %s as stored", ErrTooLarge, size(n))
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limited passes on at most left bytes of r; when r has more, it fails
// with tooLarge instead of cutting the stream short, so that a file over
// the limit is never mistaken for a shorter one.
type limited struct {
	r        io.Reader
	left     int64
	tooLarge error
	err      error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left <= 0 {
		// At the limit: one more byte means the source is over it.
		var probe [1]byte
		n, err := l.r.Read(probe[:])
		if n > 0 {
			l.err = l.tooLarge
			return 0, l.err
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// oneMember ends where the gzip member does, and fails if anything
// follows it.
type oneMember struct {
	zr   *gzip.Reader
	rest *bufio.Reader
}

func (o *oneMember) Read(p []byte) (int, error) {
	n, err := o.zr.Read(p)
	if err == io.EOF {
		if _, perr := o.rest.ReadByte(); perr == nil {
			return n, ErrTrailingData
		} else if perr != io.EOF {
			return n, perr
		}
	}
	return n, err
}
