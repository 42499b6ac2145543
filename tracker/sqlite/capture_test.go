package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func openTestStore(t *testing.T, name string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), name), UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dumpStore renders what capture maintains (events, their EPC index and
// current state) as text, to compare two stores.
func dumpStore(t *testing.T, s *sqlite.Store) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT group_concat(seq || ' ' || event_id || ' ' || is_declaration || ' ' || superseded, char(10)) FROM (SELECT * FROM events ORDER BY seq)`,
		`SELECT group_concat(epc || ' ' || seq || ' ' || role, char(10)) FROM (SELECT * FROM event_epcs ORDER BY epc, seq, role)`,
		`SELECT group_concat(concat_ws(' ', epc, biz_location, biz_location_time, read_point, read_point_time, disposition,
			disposition_time, biz_step, biz_step_time, event_time, event_id, 'parent', parent, parent_time, 'emptied', emptied_time),
			char(10)) FROM (SELECT * FROM epc_state ORDER BY epc)`,
		`SELECT group_concat(seq, ' ') FROM (SELECT seq FROM outbox ORDER BY seq)`,
	} {
		var s1 sql.NullString
		if err := s.QueryRowForTest(q, &s1); err != nil {
			t.Fatal(err)
		}
		out = append(out, s1.String)
	}
	return strings.Join(out, "\n--\n")
}

func event(id, typ, action, t, loc, extra string) string {
	ev := fmt.Sprintf(`{"type":%q,"eventID":%q,"eventTime":%q,"eventTimeZoneOffset":"+00:00"`, typ, id, t)
	if action != "" {
		ev += fmt.Sprintf(`,"action":%q`, action)
	}
	if loc != "" {
		ev += fmt.Sprintf(`,"bizLocation":{"id":%q}`, loc)
	}
	if extra != "" {
		ev += "," + extra
	}
	return ev + "}"
}

// decode makes a request of the events, as POST /capture would.
func decode(t *testing.T, events ...string) []*tracker.Event {
	t.Helper()
	evs, err := tracker.DecodeDocument(document(events...))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func epcList(epc string) string { return fmt.Sprintf(`"epcList":[%q]`, epc) }

func document(events ...string) []byte {
	return []byte(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"EPCISDocument",` +
		`"schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[` + strings.Join(events, ",") + `]}}`)
}

const (
	item1, item2 = "urn:epc:id:sgtin:4012345.011111.1", "urn:epc:id:sgtin:4012345.011111.2"
	item3        = "urn:epc:id:sgtin:4012345.011111.3"
	case1, case2 = "urn:epc:id:sscc:4012345.0000000001", "urn:epc:id:sscc:4012345.0000000002"
	siteA, siteB = "urn:epc:id:sgln:4012345.00001.0", "urn:epc:id:sgln:4012345.00002.0"
)

// trickyDocument holds the orderings that make a document's events depend
// on each other: one EPC moved twice at the same time, packed and unpacked,
// unpacked wholesale and packed again, decommissioned, and an error
// declaration ahead of the event it corrects.
func trickyDocument() []byte {
	items := fmt.Sprintf(`"epcList":[%q,%q]`, item1, item2)
	children := func(parent string, kids ...string) string {
		return fmt.Sprintf(`"parentID":%q,"childEPCs":["%s"]`, parent, strings.Join(kids, `","`))
	}
	const t0, t1, t2 = "2026-02-01T00:00:00Z", "2026-02-01T01:00:00Z", "2026-02-01T02:00:00Z"
	return document(
		event("urn:uuid:t1", "ObjectEvent", "ADD", t0, siteA, items),
		event("urn:uuid:t2", "ObjectEvent", "OBSERVE", t0, siteB, items), // same time, later in the document: wins
		event("urn:uuid:t3", "AggregationEvent", "ADD", t1, siteB, children(case1, item1, item2)),
		event("urn:uuid:t4", "AggregationEvent", "DELETE", t1, siteB, children(case1, item2)),
		event("urn:uuid:t5", "AggregationEvent", "ADD", t1, siteB, children(case2, item2, item3)),
		event("urn:uuid:t6", "AggregationEvent", "DELETE", t2, siteA, fmt.Sprintf(`"parentID":%q`, case1)),
		event("urn:uuid:t7", "AggregationEvent", "DELETE", t2, siteA, fmt.Sprintf(`"parentID":%q`, case2)),
		event("urn:uuid:t8", "AggregationEvent", "ADD", t2, siteA, children(case1, item1)),
		event("urn:uuid:t9", "ObjectEvent", "DELETE", t2, "", fmt.Sprintf(`"epcList":[%q]`, item2)),
		event("urn:uuid:t10", "ObjectEvent", "OBSERVE", t2, siteB,
			fmt.Sprintf(`"epcList":[%q],"errorDeclaration":{"declarationTime":%q}`, item2, t2)),
		event("urn:uuid:t10", "ObjectEvent", "OBSERVE", t2, siteA, fmt.Sprintf(`"epcList":[%q]`, item2)),
	)
}

// straddlingDocuments move an EPC whose stored state lies between the
// times of a later document's events, so that only some of their fields
// apply: older ones (which would move it back), one older than an event
// before it in the document that still says what that event did not, a
// tie, and fields given only by events too old to apply.
func straddlingDocuments() [][]byte {
	items := fmt.Sprintf(`"epcList":[%q,%q]`, item3, item1)
	at := func(h int) string { return fmt.Sprintf("2026-03-01T%02d:00:00Z", h) }
	disp := func(d string) string { return fmt.Sprintf(`%s,"disposition":%q`, items, d) }
	return [][]byte{
		document(event("urn:uuid:s1", "ObjectEvent", "OBSERVE", at(5), siteA, disp("in_progress"))),
		document(
			event("urn:uuid:s2", "ObjectEvent", "OBSERVE", at(3), siteB, disp("damaged")), // older than stored
			event("urn:uuid:s3", "ObjectEvent", "OBSERVE", at(7), "", items),              // applies, no location
			event("urn:uuid:s4", "ObjectEvent", "OBSERVE", at(6), siteB, items),           // older than s3, newest location
			event("urn:uuid:s5", "ObjectEvent", "OBSERVE", at(7), "", disp("in_transit")), // tie with s3: applies
			event("urn:uuid:s6", "ObjectEvent", "OBSERVE", at(4), siteB, items),           // older than all
		),
	}
}

// unpackingDocuments pack items into a case and into a case in a pallet;
// then receive the containers elsewhere and, in the same document (so
// that the unpacks must see the receipt before them), unpack the items by
// events that do not say where, and move the case on.
func unpackingDocuments() [][]byte {
	const item4, item5, case3, case4, pallet1 = "urn:epc:id:sgtin:4012345.011111.4", "urn:epc:id:sgtin:4012345.011111.5",
		"urn:epc:id:sscc:4012345.0000000003", "urn:epc:id:sscc:4012345.0000000004", "urn:epc:id:sscc:4012345.0000000005"
	at := func(h int) string { return fmt.Sprintf("2026-04-01T%02d:00:00Z", h) }
	commission := fmt.Sprintf(`"epcList":[%q,%q],"disposition":"active","bizStep":"commissioning"`, item4, item5)
	received := `"disposition":"in_progress","bizStep":"receiving"`
	return [][]byte{
		document(
			event("urn:uuid:u1", "ObjectEvent", "ADD", at(1), siteA, commission),
			event("urn:uuid:u2", "AggregationEvent", "ADD", at(2), siteA, fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, case3, item4)),
			event("urn:uuid:u3", "AggregationEvent", "ADD", at(2), siteA, fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, case4, item5)),
			event("urn:uuid:u4", "AggregationEvent", "ADD", at(3), siteA, fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, pallet1, case4)),
		),
		document(
			event("urn:uuid:u5", "ObjectEvent", "OBSERVE", at(4), siteB, fmt.Sprintf(`"epcList":[%q,%q],%s`, case3, pallet1, received)),
			// item4 leaves case3 (at siteB); item5 leaves case4, still in pallet1 (at siteB).
			event("urn:uuid:u6", "AggregationEvent", "DELETE", at(5), "", fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, case3, item4)),
			event("urn:uuid:u7", "AggregationEvent", "DELETE", at(5), "", fmt.Sprintf(`"parentID":%q`, case4)),
			// case3 moves on without item4.
			event("urn:uuid:u8", "ObjectEvent", "OBSERVE", at(6), siteA, fmt.Sprintf(`"epcList":[%q],"disposition":"in_transit"`, case3)),
		),
	}
}

// TestCaptureDocumentsAsSingleEvents checks the bulk write against storing
// each event alone: a one-event request is trivially in order, so both
// stores must end identical.
func TestCaptureDocumentsAsSingleEvents(t *testing.T) {
	ctx := context.Background()
	docs, single := openTestStore(t, "docs.db"), openTestStore(t, "single.db")
	g := epcisgen.New(epcisgen.Config{Seed: 3})
	bodies := append(append([][]byte{trickyDocument()}, unpackingDocuments()...), straddlingDocuments()...)
	for range 15 {
		bodies = append(bodies, g.Document(100))
	}
	for _, body := range bodies {
		evs, err := tracker.DecodeDocument(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := docs.Capture(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if _, err := single.Capture(ctx, []*tracker.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if a, b := dumpStore(t, docs), dumpStore(t, single); a != b {
		t.Fatalf("stored by document:\n%s\n\nstored one by one:\n%s", a, b)
	}
	// item1's own location (s4) is newer than its case's (t8).
	for epc, want := range map[string]string{item1: case1 + " " + siteB, item2: " " + siteA, item3: " " + siteB} {
		loc, err := docs.Location(ctx, epc)
		if err != nil {
			t.Fatal(err)
		}
		parent := ""
		if len(loc.Parents) > 0 {
			parent = loc.Parents[0].EPC
		}
		if got := parent + " " + loc.BizLocation; got != want {
			t.Errorf("%s: parent and location %q, want %q", epc, got, want)
		}
	}
	// Unpacked where their containers were, and not moved on with them.
	for _, epc := range []string{"urn:epc:id:sgtin:4012345.011111.4", "urn:epc:id:sgtin:4012345.011111.5"} {
		loc, err := docs.Location(ctx, epc)
		if err != nil {
			t.Fatal(err)
		}
		if loc.BizLocation != siteB || loc.Disposition != "in_progress" || loc.BizStep != "receiving" || len(loc.Parents) != 0 {
			t.Errorf("%s after unpacking: at %s, %s, %s in %v; want %s, in_progress, receiving, in nothing",
				epc, loc.BizLocation, loc.Disposition, loc.BizStep, loc.Parents, siteB)
		}
	}
	// The straddling documents: the tie (s5) is the last event applied and
	// the only one to set the disposition; s4, though older than s3, is the
	// newest to say where, and nothing older moved the item.
	loc, err := docs.Location(ctx, item3)
	if err != nil {
		t.Fatal(err)
	}
	if loc.EventID != "urn:uuid:s5" || loc.Disposition != "in_transit" || loc.BizLocation != siteB {
		t.Errorf("%s after the straddling documents: event %s, disposition %s, location %s; want urn:uuid:s5, in_transit, %s",
			item3, loc.EventID, loc.Disposition, loc.BizLocation, siteB)
	}
}

// TestCaptureConflictRollsBackRequest: a conflict anywhere in a document
// stores nothing of it and names every event that conflicts.
func TestCaptureConflictRollsBackRequest(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, "t.db")
	const t0 = "2026-02-01T00:00:00Z"
	if _, err := s.Capture(ctx, decode(t,
		event("urn:uuid:c1", "ObjectEvent", "ADD", t0, siteA, epcList(item1)),
		event("urn:uuid:c4", "ObjectEvent", "OBSERVE", t0, siteA, epcList(item2)))); err != nil {
		t.Fatal(err)
	}
	before := dumpStore(t, s)
	evs := decode(t,
		event("urn:uuid:c2", "ObjectEvent", "ADD", t0, siteB, epcList(item2)),
		event("urn:uuid:c3", "AggregationEvent", "ADD", t0, siteB, fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, case1, item1)),
		event("urn:uuid:c1", "ObjectEvent", "ADD", t0, siteB, epcList(item1)),     // stored with siteA
		event("urn:uuid:c4", "ObjectEvent", "OBSERVE", t0, siteB, epcList(item2)), // likewise
	)
	_, err := s.Capture(ctx, evs)
	wantConflicts(t, err, "/epcisBody/eventList/2/eventID", "/epcisBody/eventList/3/eventID")
	if after := dumpStore(t, s); after != before {
		t.Fatalf("a refused request changed the store:\n%s\n\nwas:\n%s", after, before)
	}
	// The same events without the conflicting one are all new.
	job, err := s.Capture(ctx, evs[:2])
	if err != nil || job.StoredCount != 2 {
		t.Fatalf("capture = %+v, %v; want 2 stored", job, err)
	}
}

// TestCaptureConflictWithinRequest: an eventID repeated with other content
// in one request is refused, each repeat named against the first, in the
// same answer as the request's conflicts with stored events.
func TestCaptureConflictWithinRequest(t *testing.T) {
	s := openTestStore(t, "t.db")
	ctx := context.Background()
	const t0 = "2026-02-01T00:00:00Z"
	if _, err := s.Capture(ctx, decode(t, event("urn:uuid:r0", "ObjectEvent", "ADD", t0, siteA, epcList(item1)))); err != nil {
		t.Fatal(err)
	}
	before := dumpStore(t, s)
	_, err := s.Capture(ctx, decode(t,
		event("urn:uuid:r1", "ObjectEvent", "ADD", t0, siteA, epcList(item1)),
		event("urn:uuid:r1", "ObjectEvent", "ADD", t0, siteA, epcList(item1)), // the same: fine
		event("urn:uuid:r1", "ObjectEvent", "ADD", t0, siteB, epcList(item1)),
		event("urn:uuid:r0", "ObjectEvent", "ADD", t0, siteB, epcList(item1)), // stored with siteA
		event("urn:uuid:r1", "ObjectEvent", "ADD", t0, siteA, epcList(item2)),
	))
	wantConflicts(t, err, "/epcisBody/eventList/2/eventID", "/epcisBody/eventList/3/eventID", "/epcisBody/eventList/4/eventID")
	if after := dumpStore(t, s); after != before {
		t.Errorf("a refused request changed the store:\n%s\n\nwas:\n%s", after, before)
	}
}

// TestCaptureConflictsAreBounded: a request of many conflicting events
// lists the first 50 and says how many more there are.
func TestCaptureConflictsAreBounded(t *testing.T) {
	s := openTestStore(t, "t.db")
	const t0 = "2026-02-01T00:00:00Z"
	var list []string
	for i := range 61 {
		site := siteA
		if i > 0 {
			site = siteB
		}
		list = append(list, event("urn:uuid:many", "ObjectEvent", "ADD", t0, site, epcList(item1)))
	}
	_, err := s.Capture(context.Background(), decode(t, list...))
	var terr *tracker.Error
	if !errors.As(err, &terr) || len(terr.Fields) != 50 || !strings.Contains(terr.Message, "10 more not listed") {
		t.Errorf("capture = %v; want 50 conflicts listed and 10 more counted", err)
	}
}

func wantConflicts(t *testing.T, err error, pointers ...string) {
	t.Helper()
	var terr *tracker.Error
	if tracker.ErrorCode(err) != tracker.ECONFLICT || !errors.As(err, &terr) {
		t.Fatalf("capture = %v, want ECONFLICT", err)
	}
	var got []string
	for _, f := range terr.Fields {
		got = append(got, f.Pointer)
	}
	if !slices.Equal(got, pointers) {
		t.Errorf("conflicts named at %q, want %q", got, pointers)
	}
}

// TestCaptureWriteFailureFailsOnlyItsRequest makes one event's insert fail
// (a trigger stands for a failing write) while other captures share the
// group commit: the failing request is refused whole, the others commit.
func TestCaptureWriteFailureFailsOnlyItsRequest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_id = 'urn:uuid:poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	g := epcisgen.New(epcisgen.Config{Seed: 4})
	const t0 = "2026-02-01T00:00:00Z"
	var reqs [][]*tracker.Event
	for i := range 20 {
		evs, err := tracker.DecodeDocument(g.Document(10))
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			poison, err := tracker.DecodeDocument(document(event("urn:uuid:poison", "ObjectEvent", "ADD", t0, siteA,
				fmt.Sprintf(`"epcList":[%q]`, item1))))
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, poison...)
		}
		reqs = append(reqs, evs)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(reqs))
	for i, evs := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Capture(ctx, evs)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if poisoned := i%5 == 0; poisoned != (err != nil) || poisoned && !strings.Contains(err.Error(), "poisoned") {
			t.Errorf("request %d (poisoned: %v): %v", i, poisoned, err)
		}
	}
	var events, outbox, item int
	if err := s.QueryRowForTest(`SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox),
		(SELECT count(*) FROM epc_state WHERE epc = '`+item1+`')`, &events, &outbox, &item); err != nil {
		t.Fatal(err)
	}
	if want := 16 * 10; events != want || outbox != want || item != 0 {
		t.Errorf("events %d, outbox %d, poisoned EPC tracked %d; want %d, %d, 0", events, outbox, item, want, want)
	}
}
