package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
)

var _ tracker.Outbox = (*Store)(nil)

// checkOpen returns EUNAVAILABLE once Close has begun, so the sync worker
// stops cleanly instead of reporting a closed-database error.
func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return tracker.Errorf(tracker.EUNAVAILABLE, "store is closed")
	}
	return nil
}

// PendingOutbox implements tracker.Outbox. It reads from the read-only pool
// through the partial index outbox_unsent, so a large backlog costs one range
// scan per batch and never blocks captures. A record is only the event's seq
// (the payload is stored once, in events), so each one costs a rowid lookup
// in events.
func (s *Store) PendingOutbox(ctx context.Context, after int64, limit int) ([]tracker.OutboxRecord, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT o.seq, e.event_id, e.is_declaration, e.payload, e.record_time
		FROM outbox o JOIN events e ON e.seq = o.seq
		WHERE o.sent_at IS NULL AND o.seq > ? ORDER BY o.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	out := make([]tracker.OutboxRecord, 0, limit)
	for rows.Next() {
		var r tracker.OutboxRecord
		var decl bool
		var created int64
		if err := rows.Scan(&r.Seq, &r.EventID, &decl, &r.Payload, &created); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		r.DedupeKey = tracker.DedupeKey(r.EventID, decl)
		r.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// MarkOutboxSent implements tracker.Outbox. It goes through the single
// writer connection, so it queues behind (and never interleaves with) a
// capture's group commit; one statement marks the whole batch.
func (s *Store) MarkOutboxSent(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	list, _ := json.Marshal(seqs) // []int64 cannot fail
	_, err := s.writer.ExecContext(ctx, `UPDATE outbox SET sent_at = ?1
		WHERE seq IN (SELECT value FROM json_each(?2)) AND sent_at IS NULL`, s.opts.Now().UnixNano(), string(list))
	if err != nil {
		return fmt.Errorf("mark outbox sent: %w", err)
	}
	return nil
}

// OutboxStats implements tracker.Outbox.
func (s *Store) OutboxStats(ctx context.Context) (tracker.OutboxStats, error) {
	var st tracker.OutboxStats
	if err := s.checkOpen(); err != nil {
		return st, err
	}
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&st.Depth); err != nil {
		return st, fmt.Errorf("count outbox: %w", err)
	}
	if st.Depth == 0 {
		return st, nil
	}
	// record_time follows seq (both grow with the commit order), so the
	// first unsent seq is the oldest and the index answers it directly.
	var created int64
	err := s.reader.QueryRowContext(ctx, `SELECT e.record_time FROM outbox o JOIN events e ON e.seq = o.seq
		WHERE o.sent_at IS NULL ORDER BY o.seq LIMIT 1`).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) { // sent between the two reads
		return tracker.OutboxStats{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("read oldest outbox record: %w", err)
	}
	st.OldestUnsent = time.Unix(0, created).UTC()
	return st, nil
}

// PruneOutbox implements tracker.Outbox. Every sent record can go: a
// record's seq is its event's, and events are never deleted, so no later
// record can reuse a pruned seq below a sync worker's cursor.
func (s *Store) PruneOutbox(ctx context.Context, sentBefore time.Time) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	res, err := s.writer.ExecContext(ctx, `DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?`, sentBefore.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
