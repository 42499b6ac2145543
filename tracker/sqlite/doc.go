// Package sqlite implements the tracker services over SQLite
// (github.com/mattn/go-sqlite3).
//
// Layout on disk: one database file in WAL mode. Writes go through a single
// writer connection (BEGIN IMMEDIATE, busy timeout) owned by one goroutine
// that group-commits concurrent captures: it takes every capture waiting at
// the moment, applies each under its own SAVEPOINT (so one conflicting
// request fails alone) and commits them with one fsync. Reads use a separate
// read-only pool, which WAL lets run concurrently with the writer.
//
// Durability: synchronous=FULL. In WAL mode NORMAL survives a process crash
// but may lose the last transactions on power loss or a kernel panic; edge
// nodes lose power, and a capture is acknowledged (202/201) as durable, so
// every commit syncs the WAL. Group commit is what keeps that affordable.
//
// Current location and containment (epc_state) and the sync outbox are
// written in the same transaction as the events, so tracking is a point
// lookup and the outbox never misses or invents an event.
package sqlite
