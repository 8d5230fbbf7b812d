package event

import (
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/synth"
)

func BenchmarkParse(b *testing.B) {
	g := synth.New(synth.Options{Seed: 1, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	recs := make([][]byte, 1024)
	total := 0
	for i := range recs {
		recs[i] = g.Next(nil)
		total += len(recs[i])
	}
	b.SetBytes(int64(total / len(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e, err := Parse(recs[i%len(recs)], Defaults{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
