package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the plain "sqlite3" driver, to write an old store by hand

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// writeV1Store creates a store at schema version 1 (outbox rows carrying
// their own payload, one time per EPC's state) holding two events: an
// original and its error declaration, the original's outbox record sent,
// the declaration's not; and one EPC's state.
func writeV1Store(t *testing.T, path string) {
	t.Helper()
	schema, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{string(schema),
		`INSERT INTO events (seq, event_id, is_declaration, type, event_time, record_time, content_hash, capture_id, payload) VALUES
			(5, 'urn:uuid:a', 0, 'ObjectEvent', 1, 1000, 'h1', 'c1', '{"eventID":"urn:uuid:a"}'),
			(7, 'urn:uuid:a', 1, 'ObjectEvent', 1, 2000, 'h2', 'c2', '{"eventID":"urn:uuid:a","errorDeclaration":{}}')`,
		`INSERT INTO outbox (seq, event_seq, event_id, dedupe_key, payload, created_at, sent_at) VALUES
			(1, 5, 'urn:uuid:a', 'urn:uuid:a', '{"eventID":"urn:uuid:a"}', 1000, 1500),
			(2, 7, 'urn:uuid:a', 'urn:uuid:a#errorDeclaration', '{"eventID":"urn:uuid:a","errorDeclaration":{}}', 2000, NULL)`,
		`INSERT INTO epc_state (epc, biz_location, biz_location_time, read_point, disposition, biz_step, event_time, event_id) VALUES
			('urn:epc:id:sgtin:1.2.3', 'urn:epc:id:sgln:1.2.0', 1, 'urn:epc:id:sgln:1.2.9', 'active', NULL, 4, 'urn:uuid:a')`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigrateV1Outbox opens a version-1 store: the outbox keeps its records,
// now read through events, and new records follow the old ones.
func TestMigrateV1Outbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	writeV1Store(t, path)
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := s.PendingOutbox(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := tracker.OutboxRecord{Seq: 7, EventID: "urn:uuid:a", DedupeKey: "urn:uuid:a#errorDeclaration",
		Payload: []byte(`{"eventID":"urn:uuid:a","errorDeclaration":{}}`), CreatedAt: time.Unix(0, 2000).UTC()}
	if len(recs) != 1 || recs[0].Seq != want.Seq || recs[0].EventID != want.EventID || recs[0].DedupeKey != want.DedupeKey ||
		string(recs[0].Payload) != string(want.Payload) || !recs[0].CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("pending after migration = %+v, want [%+v]", recs, want)
	}
	var sent int
	if err := s.QueryRowForTest("SELECT count(*) FROM outbox WHERE seq = 5 AND sent_at = 1500", &sent); err != nil || sent != 1 {
		t.Fatalf("sent record kept = %d (%v), want 1", sent, err)
	}
	// The state's fields take the one time it had, where they are set.
	var times string
	if err := s.QueryRowForTest(`SELECT concat_ws(' ', biz_location_time, read_point_time, disposition_time, ifnull(biz_step_time, 'null'))
		FROM epc_state`, &times); err != nil || times != "1 4 4 null" {
		t.Fatalf("state field times after migration = %q (%v), want \"1 4 4 null\"", times, err)
	}
	captureN(t, s, epcisgen.New(epcisgen.Config{Seed: 1}), 1)
	next, err := s.PendingOutbox(ctx, 7, 10)
	if err != nil || len(next) != 1 || next[0].DedupeKey != next[0].EventID {
		t.Fatalf("record captured after migration = %+v (%v), want one past seq 7", next, err)
	}
}

// TestNoOutbox is the hub's store: it writes no outbox records and drops
// any it had.
func TestNoOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	g := epcisgen.New(epcisgen.Config{Seed: 1})
	edge, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	captureN(t, edge, g, 5)
	if err := edge.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, NoOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	captureN(t, s, g, 5)
	var events, outbox int
	if err := s.QueryRowForTest("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)", &events, &outbox); err != nil {
		t.Fatal(err)
	}
	if events != 10 || outbox != 0 {
		t.Errorf("events %d, outbox %d; want 10 and 0", events, outbox)
	}
	if st, err := s.OutboxStats(ctx); err != nil || st.Depth != 0 {
		t.Errorf("OutboxStats = %+v, %v; want empty", st, err)
	}
}
