// Package safeiotest makes hostile files for the tests of the readers
// that safeio bounds: gzip files that inflate to far more than they
// weigh.
package safeiotest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"sync"
)

// Chunk is the step in which a bomb's inflated size grows: each chunk of
// padding costs about a thousandth of its size in the file.
const Chunk = 1 << 20

// The content of a bomb: a CloudTrail log document without records,
// padded with spaces, which is valid JSON. Inflated whole, it is an
// empty log file that cost Chunks of memory to read.
const (
	bombHead = `{"Records":[`
	bombTail = `]}`
)

// Bomb returns a well-formed gzip file of a CloudTrail log document with
// no records whose content is chunks*Chunk bytes of padding plus a few
// bytes: a few KiB of file per MiB inflated. The trailer tells the truth
// (its size modulo 2^32, as gzip's format has it). chunks is at least 1.
func Bomb(chunks int) []byte {
	b, n := bomb(chunks)
	return withTrailer(b, n, uint32(n))
}

// LyingBomb is Bomb with a trailer that claims the content is claim
// bytes long.
func LyingBomb(chunks int, claim uint32) []byte {
	b, n := bomb(chunks)
	return withTrailer(b, n, claim)
}

// InflatedSize is how many bytes Bomb(chunks) inflates to.
func InflatedSize(chunks int) int64 {
	chunks = max(chunks, 1)
	return int64(len(bombHead)) + int64(chunks)*Chunk + int64(len(bombTail))
}

// bomb returns the header and deflate stream of a bomb, without its
// trailer, and the size of its content. A chunk of spaces compressed
// after a sync flush, with spaces behind it, is a byte-aligned run of
// blocks that inflates to the same chunk wherever it is repeated, so one
// compressed chunk is written as many times as asked.
func bomb(chunks int) (out []byte, content int64) {
	chunks = max(chunks, 1)
	p := compressed()
	out = append(make([]byte, 0, len(p.first)+(chunks-1)*len(p.repeat)+len(p.last)+8), p.first...)
	for range chunks - 1 {
		out = append(out, p.repeat...)
	}
	return append(out, p.last...), InflatedSize(chunks)
}

// pieces are the parts bombs are made of: the header and the first chunk,
// the chunk to repeat, and the final block.
type pieces struct{ first, repeat, last []byte }

// compressed makes the pieces once: compressing a chunk at the best
// level takes a while.
var compressed = sync.OnceValue(func() pieces {
	var buf bytes.Buffer
	// The fixed header of gzip(1): deflate, no name, no time, unknown OS.
	buf.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	spaces := bytes.Repeat([]byte(" "), Chunk)
	zw.Write([]byte(bombHead))
	zw.Write(spaces) // history of spaces for the repeated chunk to refer to
	zw.Flush()
	mark := buf.Len()
	zw.Write(spaces)
	zw.Flush()
	var p pieces
	p.repeat = bytes.Clone(buf.Bytes()[mark:])
	p.first = bytes.Clone(buf.Bytes()[:mark])
	var tail bytes.Buffer
	zw.Reset(&tail) // a new stream would start from scratch; only its final block is wanted
	zw.Write([]byte(bombTail))
	zw.Close()
	p.last = tail.Bytes()
	return p
})

func withTrailer(b []byte, n int64, isize uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(b, contentCRC(n)), isize)
}

// contentCRC is the CRC-32 of a bomb's content of n bytes.
func contentCRC(n int64) uint32 {
	crc := crc32.ChecksumIEEE([]byte(bombHead))
	spaces := bytes.Repeat([]byte(" "), Chunk)
	for range (n - int64(len(bombHead)) - int64(len(bombTail))) / Chunk {
		crc = crc32.Update(crc, crc32.IEEETable, spaces)
	}
	return crc32.Update(crc, crc32.IEEETable, []byte(bombTail))
}
