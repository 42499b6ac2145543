// Package amqp syncs captured events from edge trackers to the hub through
// RabbitMQ (github.com/rabbitmq/amqp091-go).
//
// Worker runs at the edge: it publishes tracker.Outbox records to a durable
// quorum queue in confirm mode and marks a record sent only after the broker
// confirmed it. Consumer runs at the hub: it stores deliveries through a
// tracker.CaptureService (idempotent on the event's dedupe key) and acks a
// delivery only after the store committed it. Together they give
// at-least-once delivery with idempotent storage, i.e. each event is stored
// at the hub exactly once. One hub consumes a queue at a time: it holds the
// exclusive queue <queue>.active-hub for as long as its connection lives,
// and a second hub stands by until it can take that queue over.
//
// Both sides live in one package because they share the wire format (queue
// arguments, headers, message IDs), which must change in one place. The
// package implements domain interfaces and imports neither tracker/sqlite nor
// tracker/http.
//
// Neither side uses amqp091-go's automatic recovery: its default gives up
// after 5 attempts 5 s apart and nacks pending confirms, while an edge site
// may be offline for days. Each side runs its own session loop instead, with
// capped exponential backoff for as long as it takes, and starts every
// session from the store's state (the outbox, or the broker's unacked
// deliveries), so nothing is carried across a broken connection.
package amqp
