-- Events as captured. seq is the record order (recordTime is monotonic with
-- it). An error declaration reuses the eventID of the event it corrects, so
-- uniqueness is on (event_id, is_declaration); superseded marks an original
-- that a declaration replaced in query results.
CREATE TABLE events (
	seq            INTEGER PRIMARY KEY,
	event_id       TEXT    NOT NULL,
	is_declaration INTEGER NOT NULL,
	superseded     INTEGER NOT NULL DEFAULT 0,
	type           TEXT    NOT NULL,
	event_time     INTEGER NOT NULL, -- Unix nanoseconds, UTC
	record_time    INTEGER NOT NULL,
	action         TEXT,
	biz_step       TEXT,
	disposition    TEXT,
	read_point     TEXT,
	biz_location   TEXT,
	content_hash   TEXT    NOT NULL,
	capture_id     TEXT    NOT NULL,
	payload        BLOB    NOT NULL,
	UNIQUE (event_id, is_declaration)
);
CREATE INDEX events_by_time ON events (event_time, seq);

-- Which EPCs (and EPC classes) an event names, and in which role; MATCH_*
-- queries and EPC histories are index range scans here.
CREATE TABLE event_epcs (
	epc  TEXT    NOT NULL,
	seq  INTEGER NOT NULL,
	role INTEGER NOT NULL,
	PRIMARY KEY (epc, seq, role)
) WITHOUT ROWID;

-- Current state per EPC, maintained in the capture transaction so tracking
-- is a point lookup. Each field holds until a newer event carries it.
-- A rowid table, not WITHOUT ROWID: rows are wide (~200 bytes) and upserts
-- measured twice as fast this way.
CREATE TABLE epc_state (
	epc               TEXT PRIMARY KEY,
	biz_location      TEXT,
	biz_location_time INTEGER,
	read_point        TEXT,
	disposition       TEXT,
	biz_step          TEXT,
	event_time        INTEGER NOT NULL,
	event_id          TEXT    NOT NULL,
	parent            TEXT,
	parent_time       INTEGER
);
CREATE INDEX epc_state_by_parent ON epc_state (parent) WHERE parent IS NOT NULL;

CREATE TABLE captures (
	id           TEXT PRIMARY KEY,
	created_at   INTEGER NOT NULL,
	finished_at  INTEGER NOT NULL,
	event_count  INTEGER NOT NULL,
	stored_count INTEGER NOT NULL
) WITHOUT ROWID;

-- Transactional outbox for the sync worker: one row per newly stored event,
-- written in the same transaction. dedupe_key (eventID, suffixed for error
-- declarations) is what the hub must be idempotent on.
CREATE TABLE outbox (
	seq        INTEGER PRIMARY KEY,
	event_seq  INTEGER NOT NULL,
	event_id   TEXT    NOT NULL,
	dedupe_key TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	sent_at    INTEGER
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
