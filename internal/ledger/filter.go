package ledger

import (
	"hash/maphash"
	"math/bits"
)

// idFilter answers "certainly not in the ledger" for most new dedupe keys
// without touching the database: a Bloom filter over every key appended,
// rebuilt from the database at start. It grows by adding filters, each twice
// the size of the last, so memory stays about 1.25 bytes per event.
type idFilter struct {
	seed  maphash.Seed
	parts []*bloom
}

type bloom struct {
	bits  []uint64
	mask  uint64
	n, of int // keys added, capacity
}

const bitsPerKey = 10

func newIDFilter(capacity int) *idFilter {
	f := &idFilter{seed: maphash.MakeSeed()}
	f.grow(max(capacity, 1<<20))
	return f
}

func (f *idFilter) grow(capacity int) {
	words := 1 << bits.Len(uint(capacity*bitsPerKey/64))
	f.parts = append(f.parts, &bloom{bits: make([]uint64, words), mask: uint64(words*64 - 1), of: capacity})
}

// add records key.
func (f *idFilter) add(key []byte) {
	last := f.parts[len(f.parts)-1]
	if last.n >= last.of {
		f.grow(last.of * 2)
		last = f.parts[len(f.parts)-1]
	}
	h := maphash.Bytes(f.seed, key)
	last.set(h)
	last.n++
}

// mayContain is false only for keys never added.
func (f *idFilter) mayContain(key []byte) bool {
	h := maphash.Bytes(f.seed, key)
	for _, b := range f.parts {
		if b.test(h) {
			return true
		}
	}
	return false
}

// probes derives 7 bit positions from one 64-bit hash (double hashing).
func (b *bloom) set(h uint64) {
	h1, h2 := h, h>>32|h<<32
	for i := range uint64(7) {
		p := (h1 + i*h2) & b.mask
		b.bits[p>>6] |= 1 << (p & 63)
	}
}

func (b *bloom) test(h uint64) bool {
	h1, h2 := h, h>>32|h<<32
	for i := range uint64(7) {
		p := (h1 + i*h2) & b.mask
		if b.bits[p>>6]&(1<<(p&63)) == 0 {
			return false
		}
	}
	return true
}
