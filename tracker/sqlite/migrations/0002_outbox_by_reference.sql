-- The outbox held a copy of every event's payload, so each event was stored
-- twice. A record is now only the seq of the stored event it stands for; the
-- sync reader joins events for the ID, dedupe key, payload and capture time.
-- events.seq is never reused (events are never deleted), so a record's seq
-- orders the outbox exactly as the old outbox seq did.
CREATE TABLE outbox_v2 (
	seq     INTEGER PRIMARY KEY, -- events.seq
	sent_at INTEGER
);
INSERT INTO outbox_v2 (seq, sent_at) SELECT event_seq, sent_at FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
