package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// TestWALStaysBoundedUnderSteadyWrites keeps the writer busy from parallel
// clients, so that passive checkpoints never catch up, and checks that the
// WAL file stays near walLimit while far more than that is written.
func TestWALStaysBoundedUnderSteadyWrites(t *testing.T) {
	defer func(c, l int64) { checkpointThreshold, walLimit = c, l }(checkpointThreshold, walLimit)
	checkpointThreshold, walLimit = 1<<20, 4<<20
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := epcisgen.New(epcisgen.Config{Seed: uint64(c + 1)})
			for {
				select {
				case <-stop:
					return
				default:
				}
				evs, err := tracker.DecodeDocument(g.Document(100))
				if err == nil {
					_, err = s.Capture(context.Background(), evs)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Write until the database holds 96 MiB (a slow machine takes longer,
	// not less), watching the WAL. Unbounded, the WAL grows to several times
	// the database (about 300 MiB by then).
	const enough = 96 << 20
	var maxWAL int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
		if fi, err := os.Stat(path); err == nil && fi.Size() >= enough {
			break
		}
	}
	close(stop)
	wg.Wait()
	db, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("database %d MiB, WAL at most %d MiB (limit %d MiB)", db.Size()>>20, maxWAL>>20, walLimit>>20)
	if db.Size() < enough {
		t.Fatalf("only %d bytes written: too little to tell a bounded WAL from an unbounded one", db.Size())
	}
	// The writer rewinds after the commit that took the WAL past the limit,
	// so it overshoots by about one batch (8 documents here: 7-8 MiB seen;
	// up to 85 MiB when a 250 ms loop decided when to rewind). The margin is
	// for a rewind that had to wait for the next commit.
	if maxWAL > 32<<20 {
		t.Errorf("WAL reached %d bytes, want it kept near the %d-byte limit", maxWAL, walLimit)
	}
}
