package apitest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// benchEvents is the preload for the in-process benchmarks; the 1M-event
// figures come from hack/bench-tracker.sh, which preloads over HTTP.
const benchEvents = 50_000

var benchStore = sync.OnceValues(func() (string, []string) {
	dir, err := tempDir()
	if err != nil {
		panic(err)
	}
	benchDir = dir
	path := filepath.Join(dir, "bench.db")
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	g := epcisgen.New(epcisgen.Config{Seed: 1, KeepEPCs: true})
	for range benchEvents / 100 {
		evs, err := tracker.DecodeDocument(g.Document(100))
		if err != nil {
			panic(err)
		}
		if _, err := s.Capture(context.Background(), evs); err != nil {
			panic(err)
		}
	}
	return path, g.EPCs()
})

// TestMain removes the shared benchmark store.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

var benchDir string

// BenchmarkLocation measures GET /epcs/{epc}/location through the full
// handler (mux, metrics, cache, store) for random preloaded EPCs, beside a
// bare handler writing a same-sized answer: compare ns/op within one run.
func BenchmarkLocation(b *testing.B) {
	path, epcs := benchStore()
	b.Run("baseline", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"epc":"urn:epc:id:sgtin:4012345.100001.1","bizLocation":"urn:epc:id:sgln:4012345.00003.0","readPoint":"urn:epc:id:sgln:4012345.00003.7","disposition":"retail_sold","bizStep":"retail_selling","eventTime":"2026-01-01T00:10:00Z","eventID":"urn:uuid:00000001-0000-4000-8000-000000000010","source":"urn:epc:id:sgtin:4012345.100001.1","parents":[]}`))
		})
		runLookups(b, h, epcs)
	})
	for _, cached := range []bool{false, true} {
		name := "cache=off"
		if cached {
			name = "cache=on"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, envOpts{path: path, cache: cached})
			runLookups(b, e.h, epcs)
		})
	}
}

func runLookups(b *testing.B, h http.Handler, epcs []string) {
	paths := make([]string, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range paths {
		paths[i] = "/epcs/" + url.PathEscape(epcs[rng.IntN(len(epcs))]) + "/location"
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rng.IntN(len(paths))
		for pb.Next() {
			i = (i + 1) % len(paths)
			w := httptest.NewRecorder()
			// net/http serves every request under a cancellable context;
			// httptest's is Background, which spares the store the
			// cancellation hooks a real request costs.
			ctx, cancel := context.WithCancel(context.Background())
			h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, "GET", paths[i], nil))
			cancel()
			if w.Code != 200 {
				b.Errorf("GET %s = %d", paths[i], w.Code)
				return
			}
		}
	})
}
