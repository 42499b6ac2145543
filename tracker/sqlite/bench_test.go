package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// BenchmarkCaptureDocuments stores 100-event documents from parallel
// clients, decoding included: the store-side cost of POST /capture.
// Reports events/s.
func BenchmarkCaptureDocuments(b *testing.B) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(b.TempDir(), "t.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const per = 100
	docs := make(chan []byte, 64)
	go func() {
		g := epcisgen.New(epcisgen.Config{Seed: 1})
		for {
			docs <- g.Document(per)
		}
	}()
	b.SetParallelism(benchPar)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			evs, err := tracker.DecodeDocument(<-docs)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Capture(context.Background(), evs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
	reportWriter(b, s, b.N*per)
}

// reportWriter adds what the single writer spent per event and how busy it
// was: at a busy fraction near 1 the writer is the bound, and 1e6 over its
// µs per event is the most events per second this store can take here.
func reportWriter(b *testing.B, s *sqlite.Store, events int) {
	busy := s.WriterBusy()
	b.ReportMetric(float64(busy.Microseconds())/float64(events), "writer_us/event")
	b.ReportMetric(busy.Seconds()/b.Elapsed().Seconds(), "writer_busy")
}

// BenchmarkCaptureSingle stores one event per Capture call from many
// parallel clients, the store-side cost of single-event POST /events:
// per-request overhead dominates, group commit amortizes the fsync.
// Reports events/s.
func BenchmarkCaptureSingle(b *testing.B) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(b.TempDir(), "t.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	events := make(chan []*tracker.Event, 1024)
	go func() {
		g := epcisgen.New(epcisgen.Config{Seed: 1})
		for {
			evs, err := tracker.DecodeDocument(g.Document(100))
			if err != nil {
				panic(err)
			}
			for _, ev := range evs {
				events <- []*tracker.Event{ev}
			}
		}
	}()
	b.SetParallelism(benchSinglePar)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Capture(context.Background(), <-events); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportWriter(b, s, b.N)
}

var benchPar = envInt("BENCH_PAR", 8)

// benchSinglePar is per GOMAXPROCS: 32 clients per core stand for the
// concurrent HTTP requests a busy edge serves.
var benchSinglePar = envInt("BENCH_SINGLE_PAR", 32)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
