// Package sqlite implements the tracker services over SQLite
// (github.com/mattn/go-sqlite3).
//
// Layout on disk: one database file in WAL mode. Writes go through a single
// writer connection (BEGIN IMMEDIATE, busy timeout) owned by one goroutine
// that group-commits concurrent captures: it takes every capture waiting at
// the moment and commits them with one fsync. Each request first looks up
// its eventIDs, so a conflicting request is refused before it writes and
// fails alone; its events are then written a few statements per request
// (one per table over a JSON array of rows), not several per event. Should
// a write fail anyway, the batch is redone with a SAVEPOINT per request.
// Reads use a separate read-only pool, which WAL lets run concurrently with
// the writer.
//
// Durability: synchronous=FULL. In WAL mode NORMAL survives a process crash
// but may lose the last transactions on power loss or a kernel panic; edge
// nodes lose power, and a capture is acknowledged (202/201) as durable, so
// every commit syncs the WAL. Group commit is what keeps that affordable.
//
// Current location and containment (epc_state) and the sync outbox are
// written in the same transaction as the events, so tracking is a point
// lookup and the outbox never misses or invents an event. An outbox record
// is only the event's seq; the payload is stored once, in events. A store
// that is not a sync source (the hub) keeps no outbox (Options.NoOutbox).
package sqlite
