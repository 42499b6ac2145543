package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
)

// txWriter is one capture transaction on the writer connection.
type txWriter struct {
	s     *Store
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt // the store's statements bound to tx
	now   time.Time            // record time of every event in the transaction
	rt    int64                // now in Unix nanoseconds, as stored
	// Events get their seq from the writer, not from SQLite, so the bulk
	// insert needs no RETURNING and the other tables can name an event
	// before it is written. The writer is the only one inserting events.
	first, next int64
}

func (s *Store) newTxWriter(ctx context.Context, tx *sql.Tx) (*txWriter, error) {
	now := s.opts.Now()
	w := &txWriter{s: s, tx: tx, ctx: ctx, stmts: make(map[string]*sql.Stmt), now: now, rt: now.UnixNano()}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return nil, fmt.Errorf("read last event seq: %w", err)
	}
	w.first, w.next = last+1, last+1
	return w, nil
}

// stmt returns the store's prepared statement for query, bound to the
// transaction. The statements are prepared once at Open: on the single
// writer connection database/sql then reuses them instead of preparing
// again in every transaction.
func (w *txWriter) stmt(query string) *sql.Stmt {
	st, ok := w.stmts[query]
	if !ok {
		st = w.tx.StmtContext(w.ctx, w.s.writeStmts[query])
		w.stmts[query] = st
	}
	return st
}

func (w *txWriter) exec(query string, args ...any) error {
	_, err := w.stmt(query).ExecContext(w.ctx, args...)
	return err
}

func (w *txWriter) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// capture stores one request. It first looks up the request's eventIDs, so
// a conflict is answered before anything is written; the writes themselves
// are then not expected to fail, and any failure is a writeFailure.
func (w *txWriter) capture(events []*tracker.Event) (*tracker.CaptureJob, error) {
	stored, err := w.storedHashes(events)
	if err != nil {
		return nil, writeFailure{fmt.Errorf("look up stored events: %w", err)}
	}
	fresh, err := freshEvents(events, stored)
	if err != nil {
		return nil, err
	}
	job := &tracker.CaptureJob{ID: newCaptureID(), CreatedAt: w.now, FinishedAt: w.now, Success: true,
		Behaviour: "rollback", EventCount: len(events), StoredCount: len(fresh), Errors: []string{}}
	if err := w.store(fresh, declaredIDs(fresh, stored), func(int) string { return job.ID }); err != nil {
		return nil, writeFailure{err}
	}
	if err := w.exec(insertCaptureSQL, job.ID, w.rt, w.rt, job.EventCount, job.StoredCount); err != nil {
		return nil, writeFailure{fmt.Errorf("insert capture job: %w", err)}
	}
	return job, nil
}

// captureAll stores a batch of requests in order as one stream of events:
// one look-up of stored events and one statement per table for the whole
// batch instead of per request, which is what many small concurrent
// captures (single-event POSTs) cost. As in capture, every request is
// checked before anything is written; one whose eventID is stored (or
// stored by an earlier request of the batch) with other content fails
// alone with ECONFLICT. Outcomes are left in the requests; the error is a
// writeFailure, which fails the attempt.
func (w *txWriter) captureAll(reqs []*captureReq) error {
	var all []*tracker.Event
	for _, r := range reqs {
		all = append(all, r.events...)
	}
	stored, err := w.storedHashes(all)
	if err != nil {
		return writeFailure{fmt.Errorf("look up stored events: %w", err)}
	}
	var fresh []*tracker.Event
	var owner []*tracker.CaptureJob // of each fresh event
	var jobs []*tracker.CaptureJob
	for _, r := range reqs {
		f, err := freshEvents(r.events, stored)
		if err != nil {
			r.job, r.err = nil, err
			continue
		}
		job := &tracker.CaptureJob{ID: newCaptureID(), CreatedAt: w.now, FinishedAt: w.now, Success: true,
			Behaviour: "rollback", EventCount: len(r.events), StoredCount: len(f), Errors: []string{}}
		r.job, r.err = job, nil
		jobs = append(jobs, job)
		for _, ev := range f {
			stored[keyOf(ev)] = ev.ContentHash // later requests see it as stored
			fresh = append(fresh, ev)
			owner = append(owner, job)
		}
	}
	// stored now holds the batch's fresh events too, declarations included.
	if err := w.store(fresh, declaredIDs(nil, stored), func(i int) string { return owner[i].ID }); err != nil {
		return writeFailure{err}
	}
	for _, job := range jobs {
		if err := w.exec(insertCaptureSQL, job.ID, w.rt, w.rt, job.EventCount, job.StoredCount); err != nil {
			return writeFailure{fmt.Errorf("insert capture job: %w", err)}
		}
	}
	return nil
}

// captureIsolated runs capture under a savepoint, so that a failed write
// undoes this request only. fatal reports a savepoint that could not be
// managed, which fails the whole batch.
func (w *txWriter) captureIsolated(events []*tracker.Event) (job *tracker.CaptureJob, err, fatal error) {
	if _, err := w.tx.ExecContext(w.ctx, "SAVEPOINT capture"); err != nil {
		return nil, nil, fmt.Errorf("savepoint: %w", err)
	}
	next := w.next
	job, err = w.capture(events)
	if err != nil {
		w.next = next
		if _, rbErr := w.tx.ExecContext(w.ctx, "ROLLBACK TO capture"); rbErr != nil {
			return nil, nil, fmt.Errorf("rollback to savepoint: %w (after %v)", rbErr, err)
		}
		job = nil
	}
	if _, err := w.tx.ExecContext(w.ctx, "RELEASE capture"); err != nil {
		return nil, nil, fmt.Errorf("release savepoint: %w", err)
	}
	return job, err, nil
}

// fillOutbox writes an outbox record for every event the transaction
// stored: they are exactly the seqs it handed out (a request rolled back to
// its savepoint took its events with it).
func (w *txWriter) fillOutbox() error {
	if w.s.opts.NoOutbox || w.next == w.first {
		return nil
	}
	if err := w.exec(fillOutboxSQL, w.first); err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	return nil
}

// storedKey is what an event is unique on: (event_id, is_declaration).
type storedKey struct {
	id   string
	decl bool
}

func keyOf(ev *tracker.Event) storedKey { return storedKey{ev.ID, ev.ErrorDeclaration != nil} }

// storedHashes returns the content hash of every stored event that shares
// an eventID with the request, declarations included.
func (w *txWriter) storedHashes(events []*tracker.Event) (map[storedKey]string, error) {
	ids := jsonArgs(nil).begin()
	for _, ev := range events {
		ids = ids.str(ev.ID)
	}
	rows, err := w.stmt(storedHashesSQL).QueryContext(w.ctx, ids.end().String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make(map[storedKey]string)
	for rows.Next() {
		var k storedKey
		var hash string
		if err := rows.Scan(&k.id, &k.decl, &hash); err != nil {
			return nil, err
		}
		stored[k] = hash
	}
	return stored, rows.Err()
}

// freshEvents returns the request's events that are not stored yet, in
// request order and without exact repeats, or ECONFLICT naming every event
// whose key is stored with other content or used earlier in the request
// with other content, so that a client fixes them all in one round.
func freshEvents(events []*tracker.Event, stored map[storedKey]string) ([]*tracker.Event, error) {
	fresh := make([]*tracker.Event, 0, len(events))
	first := make(map[storedKey]*tracker.Event, len(events))
	var conflicts []tracker.FieldError
	conflict := func(ev *tracker.Event, detail string) {
		if len(conflicts) < maxConflicts {
			conflicts = append(conflicts, tracker.FieldError{Pointer: ev.Pointer + "/eventID", Value: ev.ID, Detail: detail})
		}
	}
	n := 0 // conflicts found, listed or not
	for _, ev := range events {
		k := keyOf(ev)
		if hash, ok := stored[k]; ok {
			if hash != ev.ContentHash {
				n++
				conflict(ev, "an event with this eventID and different content is already stored; resend it unchanged or use a new eventID")
			}
			continue
		}
		if prev, ok := first[k]; ok {
			if prev.ContentHash != ev.ContentHash {
				n++
				conflict(ev, "already used by "+ptrOrRoot(prev.Pointer)+" in this request with different content")
			}
			continue
		}
		first[k] = ev
		fresh = append(fresh, ev)
	}
	if n == 0 {
		return fresh, nil
	}
	msg := "eventID already stored, or repeated in the request, with different content"
	if n > len(conflicts) {
		// Say so, or a client fixing what is listed would expect success.
		msg += fmt.Sprintf(" (the first %d are listed; %d more not listed)", len(conflicts), n-len(conflicts))
	}
	return nil, &tracker.Error{Code: tracker.ECONFLICT, Message: msg, Fields: conflicts}
}

// maxConflicts bounds the conflicts one answer lists, as decoding bounds
// the invalid fields it lists.
const maxConflicts = 50

// declaredIDs is the set of eventIDs with an error declaration, stored or
// in fresh: an original stored with one is superseded from the start.
func declaredIDs(fresh []*tracker.Event, stored map[storedKey]string) map[string]bool {
	declared := make(map[string]bool)
	for k := range stored {
		if k.decl {
			declared[k.id] = true
		}
	}
	for _, ev := range fresh {
		if ev.ErrorDeclaration != nil {
			declared[ev.ID] = true
		}
	}
	return declared
}

// store writes fresh events in order, as segments (see segment); the i-th
// belongs to the capture captureID(i).
func (w *txWriter) store(fresh []*tracker.Event, declared map[string]bool, captureID func(i int) string) error {
	seg := newSegment()
	for i, ev := range fresh {
		// What an unpack reads from the store is read again after a flush,
		// which changes it; every event fits an empty segment.
		var kids, packed []string
		var ab *absorption
		for {
			var err error
			if unpacksAll(ev) {
				if kids, packed, err = w.children(seg, ev.ParentID); err != nil {
					return err
				}
			}
			if ab, err = w.absorption(ev); err != nil {
				return err
			}
			if seg.n == 0 || seg.fits(ev, kids, ab) {
				break
			}
			if err := w.flush(seg); err != nil {
				return err
			}
			seg = newSegment()
		}
		seg.add(ev, w.next, declared[ev.ID] && ev.ErrorDeclaration == nil, append(kids, packed...), ab, captureID(i))
		w.next++
	}
	return w.flush(seg)
}

// children returns what an unpack-all of parent joining g finds in it:
// kids, its children in the store, and packed, the EPCs that g's pending
// packs put in it. A pending pack applies, as listedSQL will apply it,
// unless the EPC's stored change is newer, and puts the EPC in parent
// unless parent was emptied after it. EPCs in both lists are left out of
// packed. One query answers both in one row.
func (w *txWriter) children(g *segment, parent string) (kids, packed []string, err error) {
	epcs, times := g.packedInto(parent)
	var stored, states sql.NullString
	if err := w.stmt(childrenSQL).QueryRowContext(w.ctx, parent, jsonArgs(nil).strs(append(epcs, parent)).String()).
		Scan(&stored, &states); err != nil {
		return nil, nil, fmt.Errorf("read children of %s: %w", parent, err)
	}
	kids = words(stored.String)
	if len(epcs) == 0 {
		return kids, nil, nil
	}
	// states: epc, parent, parent_time, emptied_time per EPC, "-" for NULL.
	type state struct {
		parent     string
		parentTime int64
		hasTime    bool
	}
	known := make(map[string]state)
	emptied, hasEmptied := int64(0), false
	f := words(states.String)
	for i := 0; i+4 <= len(f); i += 4 {
		st := state{parent: f[i+1]}
		st.parentTime, st.hasTime = nullableInt(f[i+2])
		known[f[i]] = st
		if f[i] == parent {
			emptied, hasEmptied = nullableInt(f[i+3])
		}
	}
	for i, epc := range epcs {
		st := known[epc]
		switch {
		case st.parent == parent: // a child in the store: in kids
		case st.hasTime && st.parentTime > times[i]:
		case hasEmptied && emptied > times[i]:
		default:
			packed = append(packed, epc)
		}
	}
	return kids, packed, nil
}

// words splits what childrenSQL renders. Only on ASCII spaces:
// strings.Fields would also split EPCs at Unicode spaces, which URIs may hold.
func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// nullableInt parses what childrenSQL renders of an integer column.
func nullableInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
