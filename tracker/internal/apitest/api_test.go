package apitest

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

func doc(events ...string) []byte {
	return []byte(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[` +
		strings.Join(events, ",") + `]}}`)
}

func objectEvent(id, epc, bizStep, loc, at string) string {
	idPart := ""
	if id != "" {
		idPart = fmt.Sprintf(`"eventID":%q,`, id)
	}
	locPart := ""
	if loc != "" {
		locPart = fmt.Sprintf(`,"bizLocation":{"id":%q}`, loc)
	}
	return fmt.Sprintf(`{%s"type":"ObjectEvent","eventTime":%q,"eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":[%q],"bizStep":%q%s}`,
		idPart, at, epc, bizStep, locPart)
}

func aggregation(id, action, parent string, children []string, loc, at string) string {
	kids := ""
	if children != nil {
		q := make([]string, len(children))
		for i, c := range children {
			q[i] = fmt.Sprintf("%q", c)
		}
		kids = `,"childEPCs":[` + strings.Join(q, ",") + `]`
	}
	return fmt.Sprintf(`{"eventID":%q,"type":"AggregationEvent","eventTime":%q,"eventTimeZoneOffset":"+00:00","action":%q,"parentID":%q%s,"bizStep":"packing","bizLocation":{"id":%q}}`,
		id, at, action, parent, kids, loc)
}

func TestCaptureRejectsBadInputWithProblems(t *testing.T) {
	e := newEnv(t, envOpts{maxBody: 4096})
	big := doc(strings.Repeat(objectEvent("", "urn:epc:id:sgtin:1.2.3", "shipping", "", "2026-01-01T00:00:00Z")+",", 100) +
		objectEvent("", "urn:epc:id:sgtin:1.2.3", "shipping", "", "2026-01-01T00:00:00Z"))
	tests := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		pointer     string
		value       string
	}{
		{"wrong content type", "text/plain", doc(), 415, "Content-Type", "text/plain"},
		{"no content type", "", doc(), 415, "Content-Type", ""},
		{"over the body limit", "application/json", big, 413, "/", fmt.Sprintf("%d bytes", len(big))},
		{"not JSON", "application/json", []byte(`{"type":`), 400, "/", ""},
		{"wrong document type", "application/json", []byte(`{"type":"EPCISQueryDocument","schemaVersion":"2.0","epcisBody":{"eventList":[]}}`), 400, "/type", "EPCISQueryDocument"},
		{"schema 1.2", "application/json", bytes.Replace(doc(objectEvent("", "urn:epc:id:sgtin:1.2.3", "x", "", "2026-01-01T00:00:00Z")), []byte(`"2.0"`), []byte(`"1.2"`), 1), 400, "/schemaVersion", "1.2"},
		{"no event list", "application/json", []byte(`{"type":"EPCISDocument","schemaVersion":"2.0","epcisBody":{}}`), 400, "/epcisBody/eventList", ""},
		{"bad event time", "application/json", doc(objectEvent("", "urn:epc:id:sgtin:1.2.3", "x", "", "yesterday")), 400, "/epcisBody/eventList/0/eventTime", "yesterday"},
		{"bad action", "application/json", doc(strings.Replace(objectEvent("", "urn:epc:id:sgtin:1.2.3", "x", "", "2026-01-01T00:00:00Z"), "OBSERVE", "MOVE", 1)), 400, "/epcisBody/eventList/0/action", "MOVE"},
		{"EPC not a URI", "application/json", doc(objectEvent("", "pallet-7", "x", "", "2026-01-01T00:00:00Z")), 400, "/epcisBody/eventList/0/epcList/0", "pallet-7"},
		{"epcList of numbers", "application/json", doc(`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","epcList":[7]}`), 400, "/epcisBody/eventList/0/epcList/0", "7"},
		{"bad offset", "application/json", doc(strings.Replace(objectEvent("", "urn:epc:id:sgtin:1.2.3", "x", "", "2026-01-01T00:00:00Z"), "+00:00", "+15:00", 1)), 400, "/epcisBody/eventList/0/eventTimeZoneOffset", "+15:00"},
		{"aggregation ADD without parent", "application/json", doc(`{"type":"AggregationEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","childEPCs":["urn:epc:id:sgtin:1.2.3"]}`), 400, "/epcisBody/eventList/0/parentID", ""},
		{"transformation with action", "application/json", doc(`{"type":"TransformationEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD"}`), 400, "/epcisBody/eventList/0/action", "ADD"},
		{"second event bad", "application/json", doc(objectEvent("", "urn:epc:id:sgtin:1.2.3", "x", "", "2026-01-01T00:00:00Z"), `{"type":"Event"}`), 400, "/epcisBody/eventList/1/type", "Event"},
		{"unsupported error behaviour", "application/json", doc(), 400, "GS1-Capture-Error-Behaviour", "proceed"},
		{"charset other than UTF-8", "application/json; charset=iso-8859-1", doc(), 415, "Content-Type", "application/json; charset=iso-8859-1"},
		{"not UTF-8", "application/json; charset=utf-8", bytes.Replace(doc(objectEvent("", "urn:epc:id:sgtin:1.2.FF", "x", "", "2026-01-01T00:00:00Z")), []byte("FF"), []byte{0xff}, 1), 400, "/", "rn:epc:id:sgtin:1.2."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/capture", tt.contentType, tt.body)
			if tt.name == "unsupported error behaviour" {
				r = e.doHeader("POST", "/capture", "application/json", tt.body, "GS1-Capture-Error-Behaviour", "proceed")
			}
			if r.code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.code, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			var p problem
			r.json(t, &p)
			if p.Status != tt.status || !strings.HasPrefix(p.Type, "https://") || p.Detail == "" {
				t.Errorf("problem = %+v, want status %d with type and detail", p, tt.status)
			}
			if tt.pointer == "" {
				return
			}
			found := false
			for _, f := range p.Errors {
				if f.Pointer == tt.pointer && f.Value == tt.value {
					found = true
				}
			}
			if !found {
				t.Errorf("errors = %+v, want one at %s with value %q", p.Errors, tt.pointer, tt.value)
			}
		})
	}
	// POST /events reads its body the same way.
	for _, tt := range tests[:3] {
		r := e.do("POST", "/events", tt.contentType, tt.body)
		var p problem
		r.json(t, &p)
		if r.code != tt.status || len(p.Errors) != 1 || p.Errors[0].Pointer != tt.pointer || p.Errors[0].Value != tt.value {
			t.Errorf("POST /events, %s = %d %s; want %d naming %s, %q", tt.name, r.code, r.body, tt.status, tt.pointer, tt.value)
		}
	}
	// Nothing of any rejected request was stored.
	if r := e.get("/events"); !bytes.Contains(r.body, []byte(`"eventList":[]`)) {
		t.Errorf("store not empty after rejected captures: %s", r.body)
	}
}

func TestCaptureIsAllOrNothing(t *testing.T) {
	e := newEnv(t, envOpts{})
	first := objectEvent("urn:uuid:1", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z")
	if r := e.capture(doc(first)); r.code != 202 {
		t.Fatalf("capture = %d %s", r.code, r.body)
	}
	// A document whose second event conflicts with a stored one stores nothing.
	fresh := objectEvent("urn:uuid:2", "urn:epc:id:sgtin:1.1.2", "shipping", "", "2026-01-01T00:00:00Z")
	clash := objectEvent("urn:uuid:1", "urn:epc:id:sgtin:1.1.1", "receiving", "", "2026-01-01T00:00:00Z")
	r := e.capture(doc(fresh, clash))
	if r.code != 409 {
		t.Fatalf("conflicting capture = %d %s, want 409", r.code, r.body)
	}
	var p problem
	r.json(t, &p)
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/epcisBody/eventList/1/eventID" || p.Errors[0].Value != "urn:uuid:1" {
		t.Errorf("problem errors = %+v, want /epcisBody/eventList/1/eventID urn:uuid:1", p.Errors)
	}
	if r := e.get("/events/urn:uuid:2"); r.code != 404 {
		t.Errorf("event of the rejected document is stored: GET = %d", r.code)
	}
	// The same eventID twice in one document with different content.
	r = e.capture(doc(fresh, strings.Replace(fresh, "1.1.2", "1.1.3", 1)))
	if r.code != 409 {
		t.Errorf("eventID repeated within a document = %d %s, want 409", r.code, r.body)
	}
}

func TestPostEventIdempotentAndConflict(t *testing.T) {
	e := newEnv(t, envOpts{})
	ev := objectEvent("", "urn:epc:id:sgtin:1.1.1", "shipping", "urn:epc:id:sgln:1.1.0", "2026-01-01T00:00:00Z")
	r1 := e.do("POST", "/events", "application/json", []byte(ev))
	if r1.code != 201 {
		t.Fatalf("POST /events = %d %s", r1.code, r1.body)
	}
	loc := r1.header.Get("Location")
	// Same content, other formatting: same assigned ID, nothing new stored.
	r2 := e.do("POST", "/events", "application/json", []byte(strings.ReplaceAll(ev, ",", " , ")))
	if r2.code != 201 || r2.header.Get("Location") != loc {
		t.Fatalf("resend = %d Location %q, want 201 %q", r2.code, r2.header.Get("Location"), loc)
	}
	if !strings.HasPrefix(loc, "/events/ni:") {
		t.Errorf("assigned ID location %q, want /events/ni:///sha-256;…", loc)
	}
	q := e.get("/events?MATCH_epc=urn:epc:id:sgtin:1.1.1")
	var res queryDoc
	q.json(t, &res)
	if n := len(res.ids()); n != 1 {
		t.Errorf("events after identical resend = %d, want 1", n)
	}
	got := e.get(loc)
	if got.code != 200 {
		t.Fatalf("GET %s = %d", loc, got.code)
	}
	// Same explicit ID, different content: 409.
	with := objectEvent("urn:uuid:x", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z")
	if r := e.do("POST", "/events", "application/json", []byte(with)); r.code != 201 {
		t.Fatalf("POST = %d %s", r.code, r.body)
	}
	other := objectEvent("urn:uuid:x", "urn:epc:id:sgtin:1.1.1", "receiving", "", "2026-01-01T00:00:00Z")
	if r := e.do("POST", "/events", "application/json", []byte(other)); r.code != 409 {
		t.Fatalf("conflicting POST = %d %s, want 409", r.code, r.body)
	}
}

func TestErrorDeclarationKeptBesideOriginal(t *testing.T) {
	e := newEnv(t, envOpts{})
	orig := objectEvent("urn:uuid:e1", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z")
	decl := strings.TrimSuffix(orig, "}") + `,"errorDeclaration":{"declarationTime":"2026-01-02T00:00:00Z","reason":"incorrect_data"}}`
	for _, ev := range []string{orig, decl} {
		if r := e.do("POST", "/events", "application/json", []byte(ev)); r.code != 201 {
			t.Fatalf("POST = %d %s", r.code, r.body)
		}
	}
	// Both rows exist (two outbox entries, distinct dedupe keys); queries
	// return the declaration in place of the original.
	var n int
	if err := e.store.QueryRowForTest("SELECT count(*) FROM events WHERE event_id = 'urn:uuid:e1'", &n); err != nil || n != 2 {
		t.Fatalf("stored rows for urn:uuid:e1 = %d (%v), want 2", n, err)
	}
	recs, err := e.store.PendingOutbox(context.Background(), 0, 10)
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.DedupeKey)
	}
	if err != nil || strings.Join(keys, " ") != "urn:uuid:e1 urn:uuid:e1#errorDeclaration" {
		t.Fatalf("outbox dedupe keys = %q (%v)", keys, err)
	}
	r := e.get("/events/urn:uuid:e1")
	if !bytes.Contains(r.body, []byte("errorDeclaration")) {
		t.Errorf("GET /events/urn:uuid:e1 = %s, want the error declaration", r.body)
	}
	var res queryDoc
	e.get("/events?MATCH_epc=urn:epc:id:sgtin:1.1.1").json(t, &res)
	if ids := res.ids(); len(ids) != 1 {
		t.Errorf("query returned %v, want the declaration only", ids)
	}
}

func TestLocationFollowsContainment(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			e := newEnv(t, envOpts{cache: cached})
			item, box, pallet := "urn:epc:id:sgtin:1.1.1", "urn:epc:id:sscc:1.2", "urn:epc:id:sscc:1.3"
			siteA, siteB := "urn:epc:id:sgln:1.1.0", "urn:epc:id:sgln:2.2.0"
			steps := []struct {
				event   string
				bizLoc  string
				parents int
				source  string
				eventID string
			}{
				{objectEvent("urn:uuid:c", item, "commissioning", siteA, "2026-01-01T01:00:00Z"), siteA, 0, item, "urn:uuid:c"},
				{aggregation("urn:uuid:p1", "ADD", box, []string{item}, siteA, "2026-01-01T02:00:00Z"), siteA, 1, item, "urn:uuid:p1"},
				{aggregation("urn:uuid:p2", "ADD", pallet, []string{box}, siteA, "2026-01-01T03:00:00Z"), siteA, 2, box, "urn:uuid:p2"},
				// Only the pallet is seen at B: the item is at B through containment.
				{objectEvent("urn:uuid:r", pallet, "receiving", siteB, "2026-01-01T05:00:00Z"), siteB, 2, pallet, "urn:uuid:r"},
				// A late-arriving older event must not move the item back.
				{objectEvent("urn:uuid:old", item, "inspecting", siteA, "2026-01-01T00:30:00Z"), siteB, 2, pallet, "urn:uuid:r"},
				// Unpacking without naming children still moves them (they were there).
				{aggregation("urn:uuid:u1", "DELETE", pallet, nil, siteB, "2026-01-01T06:00:00Z"), siteB, 1, box, "urn:uuid:u1"},
				{aggregation("urn:uuid:u2", "DELETE", box, []string{item}, siteB, "2026-01-01T07:00:00Z"), siteB, 0, item, "urn:uuid:u2"},
			}
			for i, s := range steps {
				if r := e.capture(doc(s.event)); r.code != 202 {
					t.Fatalf("step %d: capture = %d %s", i, r.code, r.body)
				}
				r := e.get("/epcs/" + esc(item) + "/location")
				if r.code != 200 {
					t.Fatalf("step %d: location = %d %s", i, r.code, r.body)
				}
				var loc struct {
					BizLocation string `json:"bizLocation"`
					Source      string `json:"source"`
					EventID     string `json:"eventID"`
					Parents     []struct {
						EPC string `json:"epc"`
					} `json:"parents"`
				}
				r.json(t, &loc)
				if loc.BizLocation != s.bizLoc || len(loc.Parents) != s.parents || loc.Source != s.source || loc.EventID != s.eventID {
					t.Errorf("step %d: location = %s\nwant bizLocation %s, %d parents, source %s, eventID %s", i, r.body, s.bizLoc, s.parents, s.source, s.eventID)
				}
			}
			if r := e.get("/epcs/" + esc("urn:epc:id:sgtin:9.9.9") + "/location"); r.code != 404 {
				t.Errorf("unknown EPC = %d, want 404", r.code)
			}
		})
	}
}

func TestTrackingDisabled(t *testing.T) {
	e := newEnv(t, envOpts{trackingOff: true})
	if r := e.capture(doc(objectEvent("", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z"))); r.code != 202 {
		t.Fatalf("capture with tracking off = %d", r.code)
	}
	if r := e.get("/epcs/urn:epc:id:sgtin:1.1.1/location"); r.code != 503 {
		t.Errorf("location with tracking off = %d, want 503", r.code)
	}
	if r := e.get("/epcs/urn:epc:id:sgtin:1.1.1/events"); r.code != 200 || !bytes.Contains(r.body, []byte("1.1.1")) {
		t.Errorf("history with tracking off = %d %s", r.code, r.body)
	}
}

func TestQueriesAndPaging(t *testing.T) {
	e := newEnv(t, envOpts{})
	g := epcisgen.New(epcisgen.Config{Seed: 1, KeepEPCs: true})
	for range 5 {
		if r := e.capture(g.Document(100)); r.code != 202 {
			t.Fatalf("capture = %d %s", r.code, r.body)
		}
	}
	// Page through every shipping event, newest first, 7 at a time.
	var all []string
	next := "/events?EQ_bizStep=shipping&orderBy=eventTime&orderDirection=DESC&perPage=7"
	for pages := 0; next != ""; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		r := e.get(next)
		if r.code != 200 {
			t.Fatalf("GET %s = %d %s", next, r.code, r.body)
		}
		var res queryDoc
		r.json(t, &res)
		all = append(all, res.ids()...)
		next = ""
		if link := r.header.Get("Link"); link != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	var direct queryDoc
	e.get("/events?EQ_bizStep=urn:epcglobal:cbv:bizstep:shipping&perPage=1000").json(t, &direct)
	if len(all) == 0 || len(all) != len(direct.ids()) {
		t.Fatalf("paged %d shipping events, one page %d", len(all), len(direct.ids()))
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("event %s on two pages", id)
		}
		seen[id] = true
	}
	// eventCountLimit caps the total across pages.
	var limited queryDoc
	r := e.get("/events?eventType=AggregationEvent&orderBy=recordTime&orderDirection=ASC&eventCountLimit=3&perPage=2")
	r.json(t, &limited)
	tok := r.header.Get("GS1-Next-Page-Token")
	if len(limited.ids()) != 2 || tok == "" {
		t.Fatalf("first limited page: %d events, token %q", len(limited.ids()), tok)
	}
	r = e.get("/events?eventType=AggregationEvent&orderBy=recordTime&orderDirection=ASC&eventCountLimit=3&perPage=2&nextPageToken=" +
		url.QueryEscape(tok))
	r.json(t, &limited)
	if len(limited.ids()) != 1 || r.header.Get("GS1-Next-Page-Token") != "" {
		t.Fatalf("second limited page: %d events, token %q; want 1 and none", len(limited.ids()), r.header.Get("GS1-Next-Page-Token"))
	}
	// A token continues only the query it came from (paging may change).
	for _, other := range []string{"eventType=ObjectEvent", "eventType=AggregationEvent&orderBy=eventTime"} {
		if r := e.get("/events?" + other + "&nextPageToken=" + url.QueryEscape(tok)); r.code != 400 || !bytes.Contains(r.body, []byte("?nextPageToken")) {
			t.Errorf("token of another query with %s = %d %s, want 400 naming ?nextPageToken", other, r.code, r.body)
		}
	}
	if r := e.get("/events?eventType=AggregationEvent&orderBy=recordTime&orderDirection=ASC&perPage=5&nextPageToken=" +
		url.QueryEscape(tok)); r.code != 200 {
		t.Errorf("token with another perPage = %d %s, want 200", r.code, r.body)
	}
	// History of an item, and the time window filters.
	item := g.EPCs()[0]
	var hist queryDoc
	e.get("/epcs/"+esc(item)+"/events").json(t, &hist)
	if len(hist.ids()) < 2 {
		t.Errorf("history of %s has %d events, want ≥ 2", item, len(hist.ids()))
	}
	var times []string
	for _, ev := range hist.EPCISBody.QueryResults.ResultsBody.EventList {
		times = append(times, ev["eventTime"].(string))
	}
	if !slices.IsSorted(times) { // generated times are all UTC, so they sort as text
		t.Errorf("history of %s not oldest first: %v", item, times)
	}
	var window queryDoc
	e.get("/events?GE_eventTime=2026-01-01T00:00:00Z&LT_eventTime=2026-01-01T00:03:00Z&perPage=1000").json(t, &window)
	if len(window.ids()) == 0 {
		t.Errorf("time window query found nothing")
	}
	// Bounds beyond the years an event time can have select as the nearest
	// one would, not nothing.
	var everything, wide queryDoc
	e.get("/events?perPage=1000").json(t, &everything)
	e.get("/events?perPage=1000&GE_eventTime=1000-01-01T00:00:00Z&LT_eventTime=9999-12-31T00:00:00Z").json(t, &wide)
	if len(everything.ids()) == 0 || len(wide.ids()) != len(everything.ids()) {
		t.Errorf("a window from year 1000 to 9999 found %d events of %d", len(wide.ids()), len(everything.ids()))
	}
	// The EPC in the path is one EPC, "|" or not.
	if r := e.get("/epcs/" + esc(item+"|"+g.EPCs()[1]) + "/events"); r.code != 200 || !bytes.Contains(r.body, []byte(`"eventList":[]`)) {
		t.Errorf("history of %q = %d %s, want 200 and no events", item+"|…", r.code, r.body)
	}
	for _, bad := range []struct{ q, ptr, says string }{
		{"EQ_bizstep=x", "?EQ_bizstep", ""},
		{"perPage=0", "?perPage", "positive"},
		{"eventCountLimit=99999999999999999999&orderBy=eventTime", "?eventCountLimit", "at most 9223372036854775807"},
		{"perPage=99999999999999999999", "?perPage", fmt.Sprintf("at most %d", tracker.MaxPerPage)},
		{"perPage=-99999999999999999999", "?perPage", "positive"},
		{"eventType=ObjectEvent,AggregationEvent", "?eventType", "separated by |"}, // a comma is part of the value
		{"GE_eventTime=today", "?GE_eventTime", ""},
		{"orderBy=epc", "?orderBy", ""},
		{"nextPageToken=zzz", "?nextPageToken", ""},
		{"eventType=ObjectEvent&eventType=AggregationEvent", "?eventType", ""}, // one would be dropped
		{"EQ_eventID=", "?EQ_eventID", ""},                                     // would not filter
		{"MATCH_epc=|", "?MATCH_epc", ""},
		{"EQ_eventID=" + strings.Repeat("urn:uuid:x|", tracker.MaxListValues+1), "?EQ_eventID", ""},
	} {
		r := e.get("/events?" + bad.q)
		var p problem
		r.json(t, &p)
		if r.code != 400 || len(p.Errors) == 0 || p.Errors[0].Pointer != bad.ptr || !strings.Contains(p.Errors[0].Detail, bad.says) {
			t.Errorf("GET /events?%s = %d %s, want 400 naming %s and saying %q", bad.q, r.code, r.body, bad.ptr, bad.says)
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, envOpts{cache: true})
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := e.get(p); r.code != 200 {
			t.Errorf("GET %s = %d %s", p, r.code, r.body)
		}
	}
	e.capture(doc(objectEvent("", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z")))
	e.get("/epcs/urn:epc:id:sgtin:1.1.1/location") // a miss
	e.get("/epcs/urn:epc:id:sgtin:1.1.1/location") // a hit
	r := e.get("/metrics")
	for _, want := range []string{
		"tracker_cache_hits_total 1",
		"tracker_cache_misses_total 1",
		`tracker_http_request_duration_seconds_bucket{code="202",route="POST /capture"`,
		`tracker_http_request_duration_seconds_bucket{code="200",route="GET /epcs/{epc}/location"`,
		`tracker_captured_events_total{result="stored"} 1`,
		"tracker_store_size_bytes",
		"tracker_store_writer_busy_seconds_total",
		"go_goroutines",
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The writer committed the capture, so it has been busy for a while.
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, "tracker_store_writer_busy_seconds_total "); ok {
			if busy, err := strconv.ParseFloat(v, 64); err != nil || busy <= 0 {
				t.Errorf("tracker_store_writer_busy_seconds_total = %q after a capture, want > 0", v)
			}
		}
	}
	// A capture whose client has gone is unavailable, not an internal error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/capture",
		bytes.NewReader(doc(objectEvent("", "urn:epc:id:sgtin:1.1.2", "shipping", "", "2026-01-01T00:00:00Z"))))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 503 {
		t.Errorf("cancelled capture = %d %s, want 503", w.Code, w.Body)
	}
	if r := e.get("/metrics"); !bytes.Contains(r.body, []byte(`tracker_capture_requests_total{outcome="unavailable"} 1`)) {
		t.Errorf("/metrics does not count the cancelled capture as unavailable")
	}
	if r := e.get("/nowhere"); r.code != 404 || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown route = %d %q", r.code, r.header.Get("Content-Type"))
	}
	// A Digital Link EPC sent unescaped matches no route; the answer says
	// how to send it (with "//", the mux would have redirected instead). A
	// mistyped route under /epcs/ gets no such hint.
	for _, path := range []string{
		"/epcs/https://id.gs1.org/01/70614141123451/21/2017/location",
		"/epcs/https:/id.gs1.org/01/70614141123451/21/2017/location",
	} {
		if r := e.get(path); r.code != 404 || !bytes.Contains(r.body, []byte("percent-escaped")) {
			t.Errorf("GET %s = %d %s, want 404 saying to escape the EPC", path, r.code, r.body)
		}
	}
	if r := e.get("/epcs/urn:epc:id:sgtin:1.1.1/locaton"); r.code != 404 || bytes.Contains(r.body, []byte("percent-escaped")) {
		t.Errorf("mistyped route = %d %s, want 404 without the escaping hint", r.code, r.body)
	}
}

// TestWrongMethodsAndPaths: a route asked with a method it does not take is
// 405 with Allow (OPTIONS lists them), an unknown path 404; both as problems.
func TestWrongMethodsAndPaths(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/events", 405, "GET, HEAD, POST"},
		{"PUT", "/capture", 405, "POST"},
		{"POST", "/epcs/urn:epc:id:sgtin:1.2.3/location", 405, "GET, HEAD"},
		{"OPTIONS", "/events", 204, "GET, HEAD, POST, OPTIONS"},
		{"GET", "/nowhere", 404, ""},
		{"DELETE", "/nowhere", 404, ""},
	} {
		r := e.do(tt.method, tt.path, "", nil)
		if r.code != tt.status || r.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d, Allow %q; want %d, %q", tt.method, tt.path, r.code, r.header.Get("Allow"), tt.status, tt.allow)
		}
		if tt.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s answered %s, want a problem document", tt.method, tt.path, r.header.Get("Content-Type"))
		}
	}
}

// TestEventsTooLargeToSync: with a limit for synced events (the broker's
// max_message_size), a capture holding a larger event is refused whole,
// naming it, and a single POST too; smaller ones go through.
func TestEventsTooLargeToSync(t *testing.T) {
	e := newEnv(t, envOpts{maxEvent: 2048})
	small := objectEvent("urn:uuid:s1", "urn:epc:id:sgtin:1.2.1", "shipping", "", "2026-01-01T00:00:00Z")
	big := strings.Replace(objectEvent("urn:uuid:b1", "urn:epc:id:sgtin:1.2.2", "shipping", "", "2026-01-01T00:00:00Z"),
		`"bizStep"`, `"ext:note":"`+strings.Repeat("x", 3000)+`","bizStep"`, 1)
	r := e.capture(doc(small, big))
	var p problem
	r.json(t, &p)
	if r.code != 413 || len(p.Errors) != 1 || p.Errors[0].Pointer != "/epcisBody/eventList/1" {
		t.Fatalf("capture with a %d-byte event = %d %s, want 413 naming /epcisBody/eventList/1", len(big), r.code, r.body)
	}
	if r := e.do("POST", "/events", "application/json", []byte(big)); r.code != 413 {
		t.Errorf("POST /events of a %d-byte event = %d %s, want 413", len(big), r.code, r.body)
	}
	if r := e.get("/events/urn:uuid:s1"); r.code != 404 {
		t.Errorf("the small event of the refused document = %d, want 404 (all or nothing)", r.code)
	}
	if r := e.capture(doc(small)); r.code != 202 {
		t.Errorf("capture of a small event = %d %s, want 202", r.code, r.body)
	}
}
