package tracker_test

import (
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// BenchmarkDecodeDocument measures decoding and validating 100-event
// documents, content hashing included: the per-event CPU a capture spends
// before the store sees it.
func BenchmarkDecodeDocument(b *testing.B) {
	g := epcisgen.New(epcisgen.Config{Seed: 1})
	docs := make([][]byte, 64)
	for i := range docs {
		docs[i] = g.Document(100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tracker.DecodeDocument(docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
