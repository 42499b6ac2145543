package tracker

import (
	"context"
	"time"
)

// OutboxRecord is one captured event waiting to be synced to the hub. The
// capture transaction writes it together with the event, so an event is in
// the outbox if and only if it is stored.
type OutboxRecord struct {
	// Seq orders the outbox: records are published in Seq order, and a newer
	// record always has a larger Seq than every record before it.
	Seq int64
	// EventID becomes the message ID.
	EventID string
	// DedupeKey is what the hub is idempotent on: the eventID, suffixed for
	// an error declaration (which reuses the ID of the event it corrects).
	DedupeKey string
	// Payload is the event's JSON exactly as stored, eventID included.
	Payload []byte
	// CreatedAt is when the event was captured (its recordTime).
	CreatedAt time.Time
}

// OutboxStats describes the unsent part of the outbox, for metrics and the
// health detail.
type OutboxStats struct {
	Depth int64 // records not yet confirmed by the broker
	// OldestUnsent is the capture time of the oldest unsent record; zero
	// when Depth is 0.
	OldestUnsent time.Time
}

// Outbox is the edge's queue of captured events that the broker has not yet
// confirmed. The sync worker is its only consumer; capture is its only
// producer. Records are never lost by the outbox itself: a record leaves the
// unsent set only through MarkOutboxSent.
type Outbox interface {
	// PendingOutbox returns up to limit unsent records with Seq > after, in
	// Seq order (after = 0 starts from the oldest). An empty slice means
	// nothing is pending past after. Returns EUNAVAILABLE if the store is
	// closed.
	PendingOutbox(ctx context.Context, after int64, limit int) ([]OutboxRecord, error)

	// MarkOutboxSent records that the broker positively confirmed the
	// records with the given seqs; they are not returned by PendingOutbox
	// again. Call it only after a positive publisher confirm. Seqs that are
	// unknown or already sent are ignored: after a reconnect the same record
	// may be confirmed twice. Returns EUNAVAILABLE if the store is closed.
	MarkOutboxSent(ctx context.Context, seqs []int64) error

	// OutboxStats counts the unsent records. It reads an index, not the
	// payloads, but is O(depth): callers should rate-limit it.
	OutboxStats(ctx context.Context) (OutboxStats, error)

	// PruneOutbox deletes records that were sent before the given time and
	// reports how many went. Unsent records are never pruned.
	PruneOutbox(ctx context.Context, sentBefore time.Time) (int64, error)
}
