package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
)

// captureReq is one Capture call waiting for the writer.
type captureReq struct {
	ctx    context.Context
	events []*tracker.Event
	job    *tracker.CaptureJob
	err    error
	done   chan struct{}
}

// Capture implements tracker.CaptureService. The call queues the request for
// the writer goroutine and returns once the group commit holding it is
// durable (or failed).
func (s *Store) Capture(ctx context.Context, events []*tracker.Event) (*tracker.CaptureJob, error) {
	if len(events) == 0 {
		return nil, tracker.Errorf(tracker.EINVALID, "no events to capture")
	}
	req := &captureReq{ctx: ctx, events: events, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, tracker.Errorf(tracker.EUNAVAILABLE, "store is closing")
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the request is always answered: the writer drains the queue
	// before it exits. Waiting on ctx here would let a client hang up between
	// commit and acknowledgement, which is harmless (a retry is idempotent)
	// but would make the answer depend on timing; so wait for the outcome.
	<-req.done
	return req.job, req.err
}

func ptrOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// writeLoop owns the writer connection. Each round takes the first waiting
// request plus whatever else is already queued (up to MaxBatchEvents) and
// commits them together: under load many captures share one fsync, with no
// added latency when idle (there is no timer to wait for).
func (s *Store) writeLoop() {
	defer close(s.done)
	for {
		var first *captureReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			// Closed: Capture no longer sends, so drain what was queued.
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*captureReq{r})
				default:
					return
				}
			}
		}
		batch := []*captureReq{first}
		n := len(first.events)
	fill:
		for n < s.opts.MaxBatchEvents {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break fill
			}
		}
		s.commit(batch)
		t0 := time.Now()
		s.rewindWAL()
		s.writerBusy.Add(int64(time.Since(t0)))
	}
}

// commit applies a batch in one transaction and answers every request in
// it. Each request is checked against the store before anything is written
// (see txWriter.captureAll), so normally no request fails half-written and
// the batch needs no savepoints: a savepoint copies every page it touches into
// the sub-journal, which cost more than the writes themselves. If a write
// fails anyway, the transaction is gone; the batch is redone with a
// savepoint per request, so only the failing request fails.
func (s *Store) commit(batch []*captureReq) {
	t0 := time.Now()
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // the client left before anything was written
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := s.commitLive(live, false)
	if errors.As(err, new(writeFailure)) {
		err = s.commitLive(live, true)
	}
	// Counted before any request is answered, so that WriterBusy read
	// after an acknowledged capture includes it.
	s.writerBusy.Add(int64(time.Since(t0)))
	for _, r := range live {
		if err != nil {
			r.err, r.job = err, nil
		}
		close(r.done)
	}
}

// writeFailure is a write that failed inside a request (as opposed to a
// request refused by its pre-check, which wrote nothing).
type writeFailure struct{ err error }

func (e writeFailure) Error() string { return e.err.Error() }
func (e writeFailure) Unwrap() error { return e.err }

// commitLive runs one attempt at committing live. Without isolate, a failed
// write aborts the attempt with a writeFailure; with isolate, each request
// runs under a savepoint and a failed write fails that request alone. It
// returns an error that fails the whole batch; per-request outcomes are left
// in the requests.
func (s *Store) commitLive(live []*captureReq, isolate bool) error {
	ctx := context.Background() // a request's cancellation must not abort its neighbours
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin capture: %w", err)
	}
	defer tx.Rollback()
	w, err := s.newTxWriter(ctx, tx)
	if err != nil {
		return err
	}
	defer w.close()
	if isolate {
		for _, r := range live {
			var err error
			if r.job, r.err, err = w.captureIsolated(r.events); err != nil {
				return err
			}
		}
	} else if err := w.captureAll(live); err != nil {
		return err
	}
	committed := 0
	for _, r := range live {
		if r.err == nil {
			committed++
		}
	}
	if err := w.fillOutbox(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit capture: %w", err)
	}
	if committed > 0 && s.opts.OnCommit != nil {
		s.opts.OnCommit()
	}
	return nil
}

func newCaptureID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// CaptureJob implements tracker.CaptureService.
func (s *Store) CaptureJob(ctx context.Context, id string) (*tracker.CaptureJob, error) {
	var created, finished int64
	job := &tracker.CaptureJob{ID: id, Success: true, Behaviour: "rollback", Errors: []string{}}
	err := s.reader.QueryRowContext(ctx, `SELECT created_at, finished_at, event_count, stored_count FROM captures WHERE id = ?`, id).
		Scan(&created, &finished, &job.EventCount, &job.StoredCount)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tracker.Errorf(tracker.ENOTFOUND, "capture job %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read capture job: %w", err)
	}
	job.CreatedAt, job.FinishedAt = time.Unix(0, created).UTC(), time.Unix(0, finished).UTC()
	return job, nil
}
