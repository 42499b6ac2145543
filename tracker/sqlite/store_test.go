package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// TestConcurrentCapturesGroupCommit sends many captures at once: each must
// be stored whole, with exactly one outbox row per event, and fewer commits
// than captures must have run (OnCommit counts them).
func TestConcurrentCapturesGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	var mu sync.Mutex
	commits := 0
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, OnCommit: func() { mu.Lock(); commits++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	const clients, docs, per = 16, 5, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients*docs)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := epcisgen.New(epcisgen.Config{Seed: uint64(c + 1)})
			for range docs {
				evs, err := tracker.DecodeDocument(g.Document(per))
				if err != nil {
					errs <- err
					return
				}
				job, err := s.Capture(context.Background(), evs)
				if err != nil {
					errs <- err
					return
				}
				if job.StoredCount != per {
					t.Errorf("stored %d of %d", job.StoredCount, per)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var events, outbox int
	if err := s.QueryRowForTest("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)", &events, &outbox); err != nil {
		t.Fatal(err)
	}
	if events != clients*docs*per || outbox != events {
		t.Errorf("events %d, outbox %d, want %d each", events, outbox, clients*docs*per)
	}
	if commits >= clients*docs {
		t.Logf("no batching observed: %d commits for %d captures (possible on an idle scheduler)", commits, clients*docs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Everything survives a reopen, and migrations are not re-run.
	s2, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	var again int
	s2.QueryRowForTest("SELECT count(*) FROM events", &again)
	if again != events {
		t.Errorf("after reopen %d events, want %d", again, events)
	}
}

func TestClosedStoreRefusesCaptures(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := tracker.DecodeDocument(epcisgen.New(epcisgen.Config{}).Document(1))
	s.Close()
	if _, err := s.Capture(context.Background(), evs); tracker.ErrorCode(err) != tracker.EUNAVAILABLE {
		t.Errorf("capture after close: %v, want EUNAVAILABLE", err)
	}
	if err := s.Ready(context.Background()); tracker.ErrorCode(err) != tracker.EUNAVAILABLE {
		t.Errorf("ready after close: %v, want EUNAVAILABLE", err)
	}
}

// TestConcurrentRequestsSharingEventIDs races single-event captures that
// reuse a few eventIDs, each with one of two contents, so that group
// commits hold requests that repeat or contradict an earlier request of the
// same batch. Whatever the interleaving: each eventID is stored once, every
// capture that succeeded sent what is stored, every other one got
// ECONFLICT, and the stored counts add up.
func TestConcurrentRequestsSharingEventIDs(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "t.db"), UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ids, clients, each = 40, 32, 25
	body := func(id, variant int) []byte {
		return []byte(fmt.Sprintf(`{"type":"ObjectEvent","eventID":"urn:uuid:race-%d","eventTime":"2026-01-01T00:00:00Z",`+
			`"eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:4012345.000001.%d"],"bizStep":"v%d"}`, id, id, variant))
	}
	var mu sync.Mutex
	sent := map[string][]string{} // eventID -> bizStep of each successful capture
	storedSum, conflicts := 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				id, variant := (c*7+i*13)%ids, c%2
				ev, err := tracker.DecodeEvent(body(id, variant))
				if err != nil {
					t.Error(err)
					return
				}
				job, err := s.Capture(context.Background(), []*tracker.Event{ev})
				switch tracker.ErrorCode(err) {
				case "":
					mu.Lock()
					sent[ev.ID] = append(sent[ev.ID], ev.BizStep)
					storedSum += job.StoredCount
					mu.Unlock()
				case tracker.ECONFLICT:
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					t.Errorf("capture %s: %v", ev.ID, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	var rows int
	if err := s.QueryRowForTest("SELECT count(*) FROM events", &rows); err != nil {
		t.Fatal(err)
	}
	if conflicts == 0 {
		t.Error("no capture met a conflicting one: the race did not happen")
	}
	if rows != len(sent) || storedSum != rows {
		t.Errorf("%d rows, %d eventIDs captured, stored counts add to %d; want all equal", rows, len(sent), storedSum)
	}
	for id, steps := range sent {
		ev, err := s.Event(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := tracker.DecodeEvent(ev.JSON)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range steps {
			if step != stored.BizStep {
				t.Errorf("%s: a capture with bizStep %s succeeded, but %s is stored", id, step, stored.BizStep)
			}
		}
	}
}
