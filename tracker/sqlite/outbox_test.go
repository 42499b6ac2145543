package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func openOutboxStore(t *testing.T, now func() time.Time) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "t.db"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func captureN(t *testing.T, s *sqlite.Store, g *epcisgen.Generator, n int) {
	t.Helper()
	evs, err := tracker.DecodeDocument(g.Document(n))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxPendingMarkStatsPrune(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s := openOutboxStore(t, func() time.Time { return clock })
	g := epcisgen.New(epcisgen.Config{Seed: 1})
	captureN(t, s, g, 10)

	recs, err := s.PendingOutbox(ctx, 0, 100)
	if err != nil || len(recs) != 10 {
		t.Fatalf("PendingOutbox = %d records, %v; want 10", len(recs), err)
	}
	for i, r := range recs {
		if i > 0 && r.Seq <= recs[i-1].Seq {
			t.Fatalf("records out of order: seq %d after %d", r.Seq, recs[i-1].Seq)
		}
		if r.EventID == "" || r.DedupeKey != r.EventID || len(r.Payload) == 0 || !r.CreatedAt.Equal(clock) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
	if page, _ := s.PendingOutbox(ctx, recs[3].Seq, 2); len(page) != 2 || page[0].Seq != recs[4].Seq {
		t.Fatalf("PendingOutbox after seq %d = %v, want records 4 and 5", recs[3].Seq, page)
	}
	st, err := s.OutboxStats(ctx)
	if err != nil || st.Depth != 10 || !st.OldestUnsent.Equal(clock) {
		t.Fatalf("OutboxStats = %+v, %v", st, err)
	}

	// Marking twice (a confirm seen again after a reconnect) is harmless.
	var seqs []int64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	for range 2 {
		if err := s.MarkOutboxSent(ctx, seqs[:7]); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := s.PendingOutbox(ctx, 0, 100); len(left) != 3 || left[0].Seq != seqs[7] {
		t.Fatalf("after marking 7: %d pending, want the last 3", len(left))
	}
	if st, _ := s.OutboxStats(ctx); st.Depth != 3 {
		t.Fatalf("depth = %d, want 3", st.Depth)
	}

	// Prune everything sent; a new record still gets a seq above every
	// pruned one, so a worker's cursor never skips it.
	if err := s.MarkOutboxSent(ctx, seqs); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneOutbox(ctx, clock.Add(time.Second))
	if err != nil || n != 10 {
		t.Fatalf("PruneOutbox = %d, %v; want 10", n, err)
	}
	captureN(t, s, g, 1)
	next, _ := s.PendingOutbox(ctx, seqs[9], 10)
	if len(next) != 1 || next[0].Seq <= seqs[9] {
		t.Fatalf("record after prune = %+v; want one with seq > %d", next, seqs[9])
	}
	if st, _ := s.OutboxStats(ctx); st.Depth != 1 {
		t.Fatalf("depth = %d, want 1", st.Depth)
	}
}

func TestOutboxClosedStore(t *testing.T) {
	s := openOutboxStore(t, nil)
	s.Close()
	if _, err := s.PendingOutbox(context.Background(), 0, 1); tracker.ErrorCode(err) != tracker.EUNAVAILABLE {
		t.Errorf("PendingOutbox on a closed store: %v, want EUNAVAILABLE", err)
	}
	if err := s.MarkOutboxSent(context.Background(), []int64{1}); tracker.ErrorCode(err) != tracker.EUNAVAILABLE {
		t.Errorf("MarkOutboxSent on a closed store: %v, want EUNAVAILABLE", err)
	}
}
