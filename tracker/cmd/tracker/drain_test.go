package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// TestSIGTERMDrainsInFlightCaptures sends SIGTERM while clients are posting
// documents: every capture the server had begun must still be answered 202
// and be in the store after the process exits cleanly; none may be cut off
// with an error.
func TestSIGTERMDrainsInFlightCaptures(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drain.db")
	p := start(t, db, "sync_enabled=false")
	g := epcisgen.New(epcisgen.Config{Seed: 11})
	docs := make([][]byte, 64)
	ids := make([][]string, len(docs))
	for i := range docs {
		evs := g.Events(300)
		for _, ev := range evs {
			ids[i] = append(ids[i], ev.EventID)
		}
		docs[i] = epcisgen.Document(evs)
	}

	var (
		next       atomic.Int64
		signalled  atomic.Int64 // UnixNano of the SIGTERM, 0 before
		mu         sync.Mutex
		acked      []int
		spanned    int // started before the signal, answered after
		wg         sync.WaitGroup
		client     = &http.Client{Timeout: time.Minute}
		firstAcked = make(chan struct{})
		once       sync.Once
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(docs) {
					return
				}
				begun := time.Now().UnixNano()
				resp, err := client.Post(p.base+"/capture", "application/json", bytes.NewReader(docs[i]))
				if err != nil {
					// Refused once the listener closed: never begun, not acknowledged.
					if s := signalled.Load(); s == 0 || begun < s-int64(50*time.Millisecond) {
						t.Errorf("document %d: %v, though the server was not yet stopping", i, err)
					}
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("document %d = %d, want 202 (begun before or during shutdown)", i, resp.StatusCode)
					return
				}
				mu.Lock()
				acked = append(acked, i)
				if s := signalled.Load(); s != 0 && begun < s {
					spanned++
				}
				mu.Unlock()
				once.Do(func() { close(firstAcked) })
			}
		}()
	}
	select {
	case <-firstAcked:
	case <-time.After(time.Minute):
		t.Fatal("no capture acknowledged within a minute")
	}
	signalled.Store(time.Now().UnixNano())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
	wg.Wait()
	if spanned == 0 {
		t.Fatalf("no capture was in flight at SIGTERM (%d acknowledged): the test proved nothing", len(acked))
	}

	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, i := range acked {
		for _, id := range ids[i] {
			if _, err := s.Event(context.Background(), id); err != nil {
				t.Fatalf("document %d acknowledged, event %s: %v", i, id, err)
			}
		}
	}
	t.Logf("%d documents acknowledged, %d of them begun before SIGTERM and answered after", len(acked), spanned)
}
