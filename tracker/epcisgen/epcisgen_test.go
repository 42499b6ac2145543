package epcisgen_test

import (
	"bytes"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

func TestDocumentsAreValidAndDeterministic(t *testing.T) {
	a := epcisgen.New(epcisgen.Config{Seed: 9}).Document(500)
	b := epcisgen.New(epcisgen.Config{Seed: 9}).Document(500)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different documents")
	}
	evs, err := tracker.DecodeDocument(a)
	if err != nil {
		t.Fatalf("generated document rejected: %v", err)
	}
	types := map[tracker.EventType]int{}
	steps := map[string]int{}
	for _, ev := range evs {
		types[ev.Type]++
		steps[ev.BizStep]++
	}
	for _, s := range []string{"commissioning", "packing", "shipping", "receiving", "unpacking", "retail_selling"} {
		if steps[s] == 0 {
			t.Errorf("no %s event in 500; steps %v", s, steps)
		}
	}
	if types[tracker.ObjectEvent] == 0 || types[tracker.AggregationEvent] == 0 {
		t.Errorf("event types %v", types)
	}
	if c := epcisgen.New(epcisgen.Config{Seed: 10}).Document(500); bytes.Equal(a, c) {
		t.Error("different seeds, same documents")
	}
}

// TestEPCsAreNamedByReturnedEvents cuts the stream at every point of the
// first flows: each EPC listed must be named by an event already returned.
func TestEPCsAreNamedByReturnedEvents(t *testing.T) {
	g := epcisgen.New(epcisgen.Config{Seed: 4, KeepEPCs: true})
	named := map[string]bool{}
	for i := range 100 {
		ev := g.Next()
		for _, l := range [][]string{ev.EPCList, ev.ChildEPCs, {ev.ParentID}} {
			for _, epc := range l {
				named[epc] = true
			}
		}
		epcs := g.EPCs()
		for _, epc := range epcs {
			if !named[epc] {
				t.Fatalf("after %d events: %s listed but in no event yet", i+1, epc)
			}
		}
		if i == 99 && len(epcs) == 0 {
			t.Fatal("no EPCs after 100 events")
		}
	}
}

// TestFirstFlowMakesNewItems: a run numbered past an earlier run's flows
// names none of its EPCs and starts after its last event.
func TestFirstFlowMakesNewItems(t *testing.T) {
	const events = 2000
	earlier := epcisgen.New(epcisgen.Config{Seed: 1, KeepEPCs: true})
	var last string
	for range events {
		last = earlier.Next().EventTime
	}
	seen := map[string]bool{}
	for _, epc := range earlier.EPCs() {
		seen[epc] = true
	}
	// Each flow has at least ten events, so events/10 flows cover the run.
	later := epcisgen.New(epcisgen.Config{Seed: 2, KeepEPCs: true, FirstFlow: events / 10})
	if first := later.Next().EventTime; first <= last {
		t.Errorf("later run starts at %s, not after the earlier run's %s", first, last)
	}
	for range events {
		later.Next()
	}
	if len(later.EPCs()) == 0 {
		t.Fatal("later run listed no EPCs")
	}
	for _, epc := range later.EPCs() {
		if seen[epc] {
			t.Fatalf("later run reuses %s", epc)
		}
	}
}
