package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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
	if err := checkBatch(events); err != nil {
		return nil, err
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

// checkBatch rejects a request that repeats an eventID with other content;
// an exact repeat is kept and deduplicated when stored.
func checkBatch(events []*tracker.Event) error {
	if len(events) == 0 {
		return tracker.Errorf(tracker.EINVALID, "no events to capture")
	}
	seen := make(map[string]*tracker.Event, len(events))
	for _, ev := range events {
		k := ev.DedupeKey()
		if prev, ok := seen[k]; ok && prev.ContentHash != ev.ContentHash {
			return &tracker.Error{Code: tracker.ECONFLICT, Message: "eventID repeated with different content",
				Fields: []tracker.FieldError{{Pointer: ev.Pointer + "/eventID", Value: ev.ID,
					Detail: "already used by " + ptrOrRoot(prev.Pointer) + " in this request with different content"}}}
		}
		seen[k] = ev
	}
	return nil
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
	}
}

// commit applies a batch in one transaction, each request under a savepoint.
func (s *Store) commit(batch []*captureReq) {
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
	finish := func(err error) {
		for _, r := range live {
			if r.err == nil && err != nil {
				r.err, r.job = err, nil
			}
			close(r.done)
		}
	}
	ctx := context.Background() // a request's cancellation must not abort its neighbours
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("begin capture: %w", err))
		return
	}
	defer tx.Rollback()
	w := &txWriter{tx: tx, ctx: ctx, outbox: !s.opts.NoOutbox}
	now := s.opts.Now()
	committed := 0
	for _, r := range live {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT capture"); err != nil {
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		job, err := w.capture(r.events, now)
		if err != nil {
			if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO capture"); rbErr != nil {
				finish(fmt.Errorf("rollback to savepoint: %w (after %v)", rbErr, err))
				return
			}
			r.err = err
		} else {
			r.job = job
			committed++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE capture"); err != nil {
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	w.close()
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("commit capture: %w", err))
		return
	}
	if committed > 0 && s.opts.OnCommit != nil {
		s.opts.OnCommit()
	}
	finish(nil)
}

// txWriter holds the statements of one capture transaction. Statements are
// prepared on the single writer connection once (database/sql keeps them per
// connection) and bound to the transaction here.
type txWriter struct {
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt
	// outbox is false in a store that is not a sync source (NoOutbox).
	outbox bool
}

func (w *txWriter) exec(query string, args ...any) (sql.Result, error) {
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt)
	}
	st, ok := w.stmts[query]
	if !ok {
		var err error
		st, err = w.tx.PrepareContext(w.ctx, query)
		if err != nil {
			return nil, err
		}
		w.stmts[query] = st
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *txWriter) queryRow(query string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(w.ctx, query, args...)
}

func (w *txWriter) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

const (
	insertEventSQL = `INSERT INTO events (event_id, is_declaration, superseded, type, event_time, record_time,
		action, biz_step, disposition, read_point, biz_location, content_hash, capture_id, payload)
	VALUES (?1, ?2, CASE WHEN ?2 = 0 THEN EXISTS (SELECT 1 FROM events WHERE event_id = ?1 AND is_declaration = 1) ELSE 0 END,
		?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
	ON CONFLICT (event_id, is_declaration) DO NOTHING`
	// Statements over many EPCs take them as one JSON array (json_each), so
	// an event costs a handful of cgo calls instead of a few per EPC; the
	// statement count, not SQLite's work, dominated capture cost.
	insertEPCsSQL   = `INSERT OR IGNORE INTO event_epcs (epc, seq, role) SELECT value, ?2, ?3 FROM json_each(?1)`
	insertOutboxSQL = `INSERT INTO outbox (seq) VALUES (?)`
	supersedeSQL    = `UPDATE events SET superseded = 1 WHERE event_id = ? AND is_declaration = 0`
	// upsertStateSQL moves an EPC only if the event is not older than what is
	// known: events arrive out of order across sites. NULL means "the event
	// does not say", so the previous value holds (bizLocation holds until
	// contradicted).
	// ("WHERE true" is SQLite's required disambiguation for an upsert
	// whose rows come from a SELECT.)
	upsertStateSQL = `INSERT INTO epc_state (epc, biz_location, biz_location_time, read_point, disposition, biz_step, event_time, event_id)
	SELECT value, ?2, CASE WHEN ?2 IS NULL THEN NULL ELSE ?6 END, ?3, ?4, ?5, ?6, ?7 FROM json_each(?1) WHERE true
	ON CONFLICT (epc) DO UPDATE SET
		biz_location      = coalesce(excluded.biz_location, biz_location),
		biz_location_time = coalesce(excluded.biz_location_time, biz_location_time),
		read_point        = coalesce(excluded.read_point, read_point),
		disposition       = coalesce(excluded.disposition, disposition),
		biz_step          = coalesce(excluded.biz_step, biz_step),
		event_time        = excluded.event_time,
		event_id          = excluded.event_id
	WHERE excluded.event_time >= epc_state.event_time`
	setParentSQL = `UPDATE epc_state SET parent = ?1, parent_time = ?2
	WHERE epc IN (SELECT value FROM json_each(?3)) AND (parent_time IS NULL OR parent_time <= ?2)`
	clearParentSQL = `UPDATE epc_state SET parent = NULL, parent_time = ?2
	WHERE epc IN (SELECT value FROM json_each(?3)) AND (?1 = '' OR parent = ?1) AND (parent_time IS NULL OR parent_time <= ?2)`
	clearChildrenSQL = `UPDATE epc_state SET parent = NULL, parent_time = ?2
	WHERE parent = ?1 AND (parent_time IS NULL OR parent_time <= ?2)`
)

// capture stores one request's events. It runs inside the request's
// savepoint; any error rolls the whole request back.
func (w *txWriter) capture(events []*tracker.Event, now time.Time) (*tracker.CaptureJob, error) {
	job := &tracker.CaptureJob{ID: newCaptureID(), CreatedAt: now, FinishedAt: now, Success: true,
		Behaviour: "rollback", EventCount: len(events), Errors: []string{}}
	rt := now.UnixNano()
	for _, ev := range events {
		stored, err := w.insertEvent(ev, job.ID, rt)
		if err != nil {
			return nil, err
		}
		if stored {
			job.StoredCount++
		}
	}
	if _, err := w.exec(`INSERT INTO captures (id, created_at, finished_at, event_count, stored_count) VALUES (?, ?, ?, ?, ?)`,
		job.ID, rt, rt, job.EventCount, job.StoredCount); err != nil {
		return nil, fmt.Errorf("insert capture job: %w", err)
	}
	return job, nil
}

// insertEvent stores ev unless its dedupe key is already stored; it reports
// whether the event was new. ECONFLICT when the key exists with other content.
func (w *txWriter) insertEvent(ev *tracker.Event, captureID string, rt int64) (bool, error) {
	decl := 0
	if ev.ErrorDeclaration != nil {
		decl = 1
	}
	res, err := w.exec(insertEventSQL, ev.ID, decl, string(ev.Type), ev.Time.UnixNano(), rt,
		nullable(string(ev.Action)), nullable(ev.BizStep), nullable(ev.Disposition), nullable(ev.ReadPoint),
		nullable(ev.BizLocation), ev.ContentHash, captureID, []byte(ev.Raw))
	if err != nil {
		return false, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var hash string
		if err := w.queryRow(`SELECT content_hash FROM events WHERE event_id = ? AND is_declaration = ?`, ev.ID, decl).Scan(&hash); err != nil {
			return false, fmt.Errorf("read stored event %s: %w", ev.ID, err)
		}
		if hash == ev.ContentHash {
			return false, nil
		}
		return false, &tracker.Error{Code: tracker.ECONFLICT, Message: "eventID already stored with different content",
			Fields: []tracker.FieldError{{Pointer: ev.Pointer + "/eventID", Value: ev.ID,
				Detail: "an event with this eventID and different content is already stored; resend it unchanged or use a new eventID"}}}
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	if ev.ParentID != "" {
		if _, err := w.exec(insertEPCsSQL, jsonList([]string{ev.ParentID}), seq, tracker.RoleParent); err != nil {
			return false, fmt.Errorf("index event %s: %w", ev.ID, err)
		}
	}
	for _, l := range []struct {
		list []string
		role int
	}{{ev.EPCs, tracker.RoleEPC}, {ev.InputEPCs, tracker.RoleInput}, {ev.OutputEPCs, tracker.RoleOutput}, {ev.Classes, tracker.RoleClass}} {
		if len(l.list) == 0 {
			continue
		}
		if _, err := w.exec(insertEPCsSQL, jsonList(l.list), seq, l.role); err != nil {
			return false, fmt.Errorf("index event %s: %w", ev.ID, err)
		}
	}
	if w.outbox {
		if _, err := w.exec(insertOutboxSQL, seq); err != nil {
			return false, fmt.Errorf("outbox event %s: %w", ev.ID, err)
		}
	}
	if decl == 1 {
		// The declaration replaces the original in query results. Current
		// state is not recomputed: see the package README ("what is left").
		if _, err := w.exec(supersedeSQL, ev.ID); err != nil {
			return false, fmt.Errorf("supersede event %s: %w", ev.ID, err)
		}
		return true, nil
	}
	if err := w.applyState(ev); err != nil {
		return false, fmt.Errorf("track event %s: %w", ev.ID, err)
	}
	return true, nil
}

// applyState maintains epc_state: every EPC the event names takes its
// location fields, and aggregation events pack and unpack.
func (w *txWriter) applyState(ev *tracker.Event) error {
	t := ev.Time.UnixNano()
	epcs := ev.AllEPCs()
	if ev.Type == tracker.AggregationEvent && ev.Action == tracker.ActionDelete && ev.ParentID != "" && len(ev.EPCs) == 0 {
		// DELETE without childEPCs disaggregates everything inside the
		// parent; those children were where the event happened, so they take
		// its location like listed children would.
		kids, err := w.children(ev.ParentID)
		if err != nil {
			return err
		}
		epcs = append(epcs, kids...)
	}
	if len(epcs) > 0 {
		if _, err := w.exec(upsertStateSQL, jsonList(epcs), nullable(ev.BizLocation), nullable(ev.ReadPoint),
			nullable(ev.Disposition), nullable(ev.BizStep), t, ev.ID); err != nil {
			return err
		}
	}
	switch {
	case ev.Type == tracker.AggregationEvent && ev.ParentID != "":
		switch ev.Action {
		case tracker.ActionAdd, tracker.ActionObserve:
			if len(ev.EPCs) > 0 {
				_, err := w.exec(setParentSQL, ev.ParentID, t, jsonList(ev.EPCs))
				return err
			}
		case tracker.ActionDelete:
			if len(ev.EPCs) == 0 { // no children listed: disaggregate everything
				_, err := w.exec(clearChildrenSQL, ev.ParentID, t)
				return err
			}
			_, err := w.exec(clearParentSQL, ev.ParentID, t, jsonList(ev.EPCs))
			return err
		}
	case ev.Type == tracker.ObjectEvent && ev.Action == tracker.ActionDelete && len(ev.EPCs) > 0:
		// Decommissioned or destroyed: it is no longer inside anything.
		_, err := w.exec(clearParentSQL, "", t, jsonList(ev.EPCs))
		return err
	}
	return nil
}

// jsonList encodes EPCs for json_each. The strings were validated (no
// control characters) but may hold quotes, so this is real JSON encoding.
func jsonList(list []string) string {
	b, _ := json.Marshal(list) // []string cannot fail
	return string(b)
}

func (w *txWriter) children(parent string) ([]string, error) {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT epc FROM epc_state WHERE parent = ?`, parent)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
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
