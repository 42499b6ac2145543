package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// captureBodies stores each body as one request.
func captureBodies(t *testing.T, s *sqlite.Store, bodies ...[]byte) {
	t.Helper()
	for _, body := range bodies {
		evs, err := tracker.DecodeDocument(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Capture(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
}

func locationOf(t *testing.T, s *sqlite.Store, epc string) *tracker.Location {
	t.Helper()
	loc, err := s.Location(context.Background(), epc)
	if err != nil {
		t.Fatalf("location of %s: %v", epc, err)
	}
	return loc
}

// history is a valid supply-chain history over a few EPCs, in time order:
// observations saying some fields, packs of items into cases and of cases
// into a pallet (from wherever they were), unpacks of some of a container's children
// (saying every field), and decommissioning. Events are one minute apart.
// With emptying, unpacks may leave fields unsaid and containers are also
// emptied whole.
func history(rng *rand.Rand, n int, emptying bool) (events []string, epcs []string) {
	items := []string{item1, item2, item3, "urn:epc:id:sgtin:4012345.011111.4", "urn:epc:id:sgtin:4012345.011111.5"}
	cases := []string{case1, case2, "urn:epc:id:sscc:4012345.0000000003"}
	const pallet = "urn:epc:id:sscc:4012345.0000000009"
	epcs = append(append(slices.Clone(items), cases...), pallet)
	parent := map[string]string{}
	gone := map[string]bool{}
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	subset := func(from []string) []string {
		var out []string
		for _, e := range from {
			if rng.IntN(2) == 0 {
				out = append(out, e)
			}
		}
		if len(out) == 0 && len(from) > 0 {
			out = append(out, pick(from))
		}
		return out
	}
	loose := func(from []string) []string {
		var out []string
		for _, e := range from {
			if parent[e] == "" && !gone[e] {
				out = append(out, e)
			}
		}
		return out
	}
	childrenOf := func(c string) []string {
		var out []string
		for _, e := range epcs {
			if parent[e] == c {
				out = append(out, e)
			}
		}
		return out
	}
	sites := []string{siteA, siteB, "urn:epc:id:sgln:4012345.00003.0"}
	fields := func(all bool) string {
		f := ""
		if all || rng.IntN(2) == 0 {
			f += fmt.Sprintf(`,"readPoint":{"id":"urn:epc:id:sgln:4012345.00009.%d"}`, rng.IntN(3))
		}
		if all || rng.IntN(2) == 0 {
			f += fmt.Sprintf(`,"disposition":%q`, pick([]string{"active", "in_transit", "in_progress"}))
		}
		if all || rng.IntN(2) == 0 {
			f += fmt.Sprintf(`,"bizStep":%q`, pick([]string{"packing", "shipping", "receiving"}))
		}
		return f
	}
	list := func(epcs []string) string { b, _ := json.Marshal(epcs); return string(b) }
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; len(events) < n; i++ {
		at := base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		id := fmt.Sprintf("urn:uuid:h%d", i)
		site := pick(sites)
		var ev string
		kinds := 5
		if emptying {
			kinds = 6
		}
		switch rng.IntN(kinds) {
		case 0, 1: // observe, saying some fields
			loc := ""
			if rng.IntN(2) == 0 {
				loc = site
			}
			ev = event(id, "ObjectEvent", "OBSERVE", at, loc, `"epcList":`+list(subset(epcs))+fields(false))
		case 2: // pack
			c := pick(append(slices.Clone(cases), pallet))
			from := items
			if c == pallet {
				from = cases
			}
			// Loose or in another container: packing moves it (EPCIS lets
			// an ADD imply the unpack from the container it was in).
			var kids []string
			for _, k := range from {
				if !gone[k] && parent[k] != c {
					kids = append(kids, k)
				}
			}
			if parent[c] != "" || gone[c] || len(kids) == 0 {
				continue
			}
			kids = subset(kids)
			for _, k := range kids {
				parent[k] = c
			}
			ev = event(id, "AggregationEvent", "ADD", at, site, fmt.Sprintf(`"parentID":%q,"childEPCs":%s`, c, list(kids))+fields(true))
		case 3: // unpack some children
			c := pick(append(slices.Clone(cases), pallet))
			kids := childrenOf(c)
			if len(kids) == 0 {
				continue
			}
			kids = subset(kids)
			for _, k := range kids {
				parent[k] = ""
			}
			loc, f := site, fields(true)
			if emptying && rng.IntN(2) == 0 {
				loc, f = "", fields(false)
			}
			ev = event(id, "AggregationEvent", "DELETE", at, loc, fmt.Sprintf(`"parentID":%q,"childEPCs":%s`, c, list(kids))+f)
		case 4: // decommission a loose item
			l := loose(items)
			if len(l) == 0 || rng.IntN(4) > 0 {
				continue
			}
			k := pick(l)
			gone[k] = true
			ev = event(id, "ObjectEvent", "DELETE", at, site, `"epcList":`+list([]string{k})+fields(true))
		case 5: // empty a container
			c := pick(append(slices.Clone(cases), pallet))
			for _, k := range childrenOf(c) {
				parent[k] = ""
			}
			ev = event(id, "AggregationEvent", "DELETE", at, site, fmt.Sprintf(`"parentID":%q`, c)+fields(rng.IntN(2) == 0))
		}
		events = append(events, ev)
	}
	return events, epcs
}

// TestStateIsIndependentOfArrivalOrder: a hub receives each site's events
// in its own order, and edges receive late events, so where an EPC is must
// follow from the events alone. A valid history captured in time order, in
// a shuffled order one event at a time, and in a shuffled order in
// documents of random sizes ends in the same state and the same answers.
// With emptying (unpacks that leave fields unsaid, and containers emptied
// whole) only what contains what is compared: an unpack hands its children
// the fields of the containers as they are on record when it arrives, and
// emptying a container takes out the children on record then (see the
// README, "Late events").
func TestStateIsIndependentOfArrivalOrder(t *testing.T) {
	for _, emptying := range []bool{false, true} {
		for seed := range uint64(25) {
			t.Run(fmt.Sprintf("emptying=%v/seed%d", emptying, seed), func(t *testing.T) { arrivalOrders(t, seed, emptying) })
		}
	}
}

func arrivalOrders(t *testing.T, seed uint64, emptying bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	events, epcs := history(rng, 60, emptying)
	inOrder := openTestStore(t, "in-order.db")
	captureBodies(t, inOrder, document(events...))

	shuffled := slices.Clone(events)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	oneByOne := captureOneByOne(t, shuffled)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	inDocuments := openTestStore(t, "in-documents.db")
	captureInDocuments(t, inDocuments, rng, shuffled, 10)

	want := stateOf(t, inOrder, emptying)
	for name, s := range map[string]*sqlite.Store{"one by one": oneByOne, "in documents": inDocuments} {
		if got := stateOf(t, s, emptying); got != want {
			t.Errorf("shuffled, %s:\n%s\nin time order:\n%s", name, got, want)
		}
		for _, epc := range epcs {
			if emptying {
				break // fields may differ, by design
			}
			a, b := locationOf(t, inOrder, epc), locationOf(t, s, epc)
			if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
				t.Errorf("shuffled, %s: location of %s\n%s\nin time order:\n%s", name, epc, jb, ja)
			}
		}
	}
}

// TestDocumentsStoreAsOneByOne: the writer stores a document's events
// together (segments), and claims the same outcome as storing them one by
// one in the same order. Histories with containers packed and emptied
// whole in one document, in time order and shuffled, captured one event
// at a time, as one document and in documents of random sizes, must end in
// the same state, every field and time included.
func TestDocumentsStoreAsOneByOne(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			events, _ := history(rng, 80, true)
			if seed%2 == 1 {
				rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
			}
			oneByOne := captureOneByOne(t, events)
			whole := openTestStore(t, "whole.db")
			captureBodies(t, whole, document(events...))
			parts := openTestStore(t, "parts.db")
			captureInDocuments(t, parts, rng, events, 20)
			want := stateOf(t, oneByOne, false)
			for name, s := range map[string]*sqlite.Store{"as one document": whole, "in documents": parts} {
				if got := stateOf(t, s, false); got != want {
					t.Errorf("%s:\n%s\none by one:\n%s", name, got, want)
				}
			}
		})
	}
}

// captureOneByOne captures events in order into a new store, one a capture.
func captureOneByOne(t *testing.T, events []string) *sqlite.Store {
	t.Helper()
	s := openTestStore(t, "one-by-one.db")
	for _, ev := range events {
		captureBodies(t, s, document(ev))
	}
	return s
}

// captureInDocuments captures events in order, in documents of 1 to most.
func captureInDocuments(t *testing.T, s *sqlite.Store, rng *rand.Rand, events []string, most int) {
	t.Helper()
	for rest := events; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(most))
		captureBodies(t, s, document(rest[:n]...))
		rest = rest[n:]
	}
}

// stateOf renders the current state of every EPC, or only what it is in.
func stateOf(t *testing.T, s *sqlite.Store, containmentOnly bool) string {
	t.Helper()
	cols := `epc, biz_location, biz_location_time, read_point, read_point_time,
		disposition, disposition_time, biz_step, biz_step_time, event_time, event_id, 'parent', parent, parent_time`
	if containmentOnly {
		cols = `epc, 'in', parent`
	}
	var out string
	if err := s.QueryRowForTest(`SELECT group_concat(concat_ws(' ', `+cols+`), char(10))
		FROM (SELECT * FROM epc_state ORDER BY epc)`, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLateEvents pins the cases review found wrong, each an event that
// arrives after a newer one about the same EPCs.
func TestLateEvents(t *testing.T) {
	at := func(h int) string { return fmt.Sprintf("2026-06-01T%02d:00:00Z", h) }
	pack := func(id string, h int, parent string, kids ...string) string {
		return event(id, "AggregationEvent", "ADD", at(h), siteA, fmt.Sprintf(`"parentID":%q,"childEPCs":%s`, parent, mustJSON(t, kids)))
	}
	t.Run("an older location still says where", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s,
			document(event("urn:uuid:a", "ObjectEvent", "OBSERVE", at(2), "", `"epcList":["`+item1+`"]`)),
			document(event("urn:uuid:b", "ObjectEvent", "OBSERVE", at(1), siteB, `"epcList":["`+item1+`"]`)))
		if loc := locationOf(t, s, item1); loc.BizLocation != siteB || loc.EventID != "urn:uuid:a" {
			t.Errorf("location %q from %s, want %q from urn:uuid:a", loc.BizLocation, loc.EventID, siteB)
		}
	})
	t.Run("each field by the time it was said", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(
			event("urn:uuid:1", "ObjectEvent", "ADD", at(1), siteA, `"epcList":["`+item1+`"],"disposition":"active"`),
			pack("urn:uuid:2", 2, case1, item1),
			event("urn:uuid:3", "ObjectEvent", "OBSERVE", at(3), "", `"epcList":["`+case1+`"],"disposition":"in_transit"`),
			event("urn:uuid:4", "ObjectEvent", "OBSERVE", at(4), "", `"epcList":["`+item1+`"],"bizStep":"inspecting"`)))
		// The item's own disposition (01:00) is older than its case's (03:00),
		// though the item's last event (04:00) is newer.
		if loc := locationOf(t, s, item1); loc.Disposition != "in_transit" || loc.BizStep != "inspecting" {
			t.Errorf("disposition %q, bizStep %q; want in_transit, inspecting", loc.Disposition, loc.BizStep)
		}
	})
	t.Run("an unpack before its pack", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s,
			document(event("urn:uuid:u", "AggregationEvent", "DELETE", at(8), siteA, fmt.Sprintf(`"parentID":%q,"childEPCs":[%q]`, case1, item1))),
			document(pack("urn:uuid:p", 3, case1, item1)))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 0 {
			t.Errorf("in %v, want in nothing", loc.Parents)
		}
	})
	t.Run("an unpack of everything before the pack", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s,
			document(event("urn:uuid:u", "AggregationEvent", "DELETE", at(8), siteA, fmt.Sprintf(`"parentID":%q`, case1))),
			document(pack("urn:uuid:p", 3, case1, item1)),
			document(pack("urn:uuid:q", 9, case1, item2)))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 0 {
			t.Errorf("%s in %v, want in nothing", item1, loc.Parents)
		}
		if loc := locationOf(t, s, item2); len(loc.Parents) != 1 || loc.Parents[0].EPC != case1 {
			t.Errorf("%s in %v, want in %s (packed after the unpack)", item2, loc.Parents, case1)
		}
	})
	t.Run("a pack at the time of an unpack of everything, after it", func(t *testing.T) {
		// One document, written together: at equal times the event applied
		// last wins, here the pack.
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(
			pack("urn:uuid:p", 1, case1, item1),
			event("urn:uuid:u", "AggregationEvent", "DELETE", at(5), siteA, fmt.Sprintf(`"parentID":%q`, case1)),
			pack("urn:uuid:q", 5, case1, item2)))
		if loc := locationOf(t, s, item2); len(loc.Parents) != 1 || loc.Parents[0].EPC != case1 {
			t.Errorf("%s in %v, want in %s (packed last)", item2, loc.Parents, case1)
		}
		if loc := locationOf(t, s, item1); len(loc.Parents) != 0 {
			t.Errorf("%s in %v, want in nothing", item1, loc.Parents)
		}
	})
	t.Run("moves at equal times in one document", func(t *testing.T) {
		// The writer keeps one listed change per EPC and segment; on equal
		// times that must be the later one, as one by one.
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(
			pack("urn:uuid:p1", 5, case1, item1),
			pack("urn:uuid:p2", 5, case2, item1),
			pack("urn:uuid:p3", 6, case1, item2),
			pack("urn:uuid:p4", 4, case2, item2)))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 1 || loc.Parents[0].EPC != case2 {
			t.Errorf("%s in %v, want in %s (packed last)", item1, loc.Parents, case2)
		}
		if loc := locationOf(t, s, item2); len(loc.Parents) != 1 || loc.Parents[0].EPC != case1 {
			t.Errorf("%s in %v, want in %s (packed at the later time)", item2, loc.Parents, case1)
		}
	})
	// The writer lets an unpack of everything that says every field join
	// the pending packs into the same container (one that leaves a field
	// unsaid waits for them to be written); these pin what it must then
	// work out itself.
	emptyAll := func(id string, h int) string {
		return event(id, "AggregationEvent", "DELETE", at(h), siteB, fmt.Sprintf(
			`"parentID":%q,"readPoint":{"id":%q},"disposition":"in_progress","bizStep":"unpacking"`, case1, siteB))
	}
	t.Run("a pack and an unpack of everything at one time", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(pack("urn:uuid:p", 5, case1, item1), emptyAll("urn:uuid:u", 5)))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 0 || loc.BizLocation != siteB {
			t.Errorf("%s in %v at %s, want in nothing at %s", item1, loc.Parents, loc.BizLocation, siteB)
		}
	})
	t.Run("a late pack that does not apply is not emptied", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s,
			document(pack("urn:uuid:p9", 9, case2, item1)),
			document(pack("urn:uuid:p3", 3, case1, item1), emptyAll("urn:uuid:u", 4)))
		// item1 was never in case1 (its 09:00 pack is newer), so the
		// unpack-all says nothing about it.
		if loc := locationOf(t, s, item1); len(loc.Parents) != 1 || loc.Parents[0].EPC != case2 || loc.Disposition != "" {
			t.Errorf("%s in %v with disposition %q, want in %s with none", item1, loc.Parents, loc.Disposition, case2)
		}
	})
	t.Run("an unpack of everything that says nothing hands over to a pending pack's EPCs", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(
			event("urn:uuid:o", "ObjectEvent", "OBSERVE", at(1), siteB, `"epcList":["`+case1+`"],"disposition":"in_transit"`),
			pack("urn:uuid:p", 2, case1, item1),
			event("urn:uuid:u", "AggregationEvent", "DELETE", at(3), "", fmt.Sprintf(`"parentID":%q`, case1))))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 0 || loc.Disposition != "in_transit" {
			t.Errorf("%s in %v with disposition %q, want in nothing, in_transit from %s", item1, loc.Parents, loc.Disposition, case1)
		}
	})
	t.Run("an EPC with a Unicode space", func(t *testing.T) {
		// checkURI refuses ASCII whitespace only; the writer's single-row
		// reads split on ASCII spaces alone.
		odd := "urn:epc:id:sgtin:4012345.011111.a\u00a0b"
		s := openTestStore(t, "s.db")
		captureBodies(t, s,
			document(pack("urn:uuid:p9", 9, case2, odd)),
			document(pack("urn:uuid:p1", 1, case1, item1), emptyAll("urn:uuid:u1", 2)),
			document(pack("urn:uuid:p3", 3, case1, odd), emptyAll("urn:uuid:u4", 4)))
		if loc := locationOf(t, s, odd); len(loc.Parents) != 1 || loc.Parents[0].EPC != case2 || loc.Disposition != "" {
			t.Errorf("%q in %v with disposition %q, want in %s with none (its 03:00 pack is older than its 09:00 one)", odd, loc.Parents, loc.Disposition, case2)
		}
		var n int
		if err := s.QueryRowForTest(`SELECT count(*) FROM epc_state WHERE epc NOT LIKE 'urn:%'`, &n); err != nil || n != 0 {
			t.Errorf("%d state rows for EPCs nobody sent (err %v)", n, err)
		}
	})
	t.Run("a stored child with a Unicode space gets the unpack-all's fields", func(t *testing.T) {
		odd := "urn:epc:id:sgtin:4012345.011111.c\u2003d"
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(pack("urn:uuid:p", 1, case1, odd)), document(emptyAll("urn:uuid:u", 2)))
		if loc := locationOf(t, s, odd); len(loc.Parents) != 0 || loc.Disposition != "in_progress" {
			t.Errorf("%q in %v with disposition %q, want in nothing, in_progress", odd, loc.Parents, loc.Disposition)
		}
	})
	t.Run("an unpack of quantities only takes out no EPC", func(t *testing.T) {
		s := openTestStore(t, "s.db")
		captureBodies(t, s, document(
			pack("urn:uuid:p", 1, case1, item1),
			event("urn:uuid:u", "AggregationEvent", "DELETE", at(2), siteA, fmt.Sprintf(
				`"parentID":%q,"childQuantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":5}]`, case1))))
		if loc := locationOf(t, s, item1); len(loc.Parents) != 1 || loc.Parents[0].EPC != case1 {
			t.Errorf("in %v, want in %s", loc.Parents, case1)
		}
	})
}
