package event

import (
	"testing"
	"time"

	"github.com/cairn-audit/cairn/internal/synth"
)

// BenchmarkParse is Parse of a record on its own, JSON validation included.
func BenchmarkParse(b *testing.B) { benchParse(b, Parse) }

// BenchmarkParseValidated is what PutEvents spends per record: its body,
// and so each record, is validated once as a whole.
func BenchmarkParseValidated(b *testing.B) { benchParse(b, ParseValidated) }

func benchParse(b *testing.B, parse func([]byte, Defaults) (*Envelope, error)) {
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
		e, err := parse(recs[i%len(recs)], Defaults{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
