package epcisgen_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
// continues its numbering exactly (next pallet, next serial, next start
// time) and names none of its EPCs.
func TestFirstFlowMakesNewItems(t *testing.T) {
	earlier := epcisgen.New(epcisgen.Config{Seed: 1, KeepEPCs: true})
	for range 2000 {
		earlier.Next()
	}
	seen := map[string]bool{}
	flows := 0
	for _, epc := range earlier.EPCs() {
		seen[epc] = true
		if strings.HasPrefix(epc, "urn:epc:id:sscc:4012345.1") {
			flows++ // one pallet a flow
		}
	}
	if flows == 0 {
		t.Fatal("earlier run completed no flow")
	}
	later := epcisgen.New(epcisgen.Config{Seed: 2, KeepEPCs: true, FirstFlow: flows})
	first := later.Next()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	wantTime := start.Add(time.Duration(flows+1)*time.Minute/4 + time.Minute).Format(time.RFC3339)
	wantItem := fmt.Sprintf("urn:epc:id:sgtin:4012345.%06d.%d", 100000+(flows*48+1)%50, flows*48+1)
	if first.EventTime != wantTime || len(first.EPCList) == 0 || first.EPCList[0] != wantItem {
		t.Errorf("later run starts with %s %v, want %s [%s ...]", first.EventTime, first.EPCList, wantTime, wantItem)
	}
	for range 2000 {
		later.Next()
	}
	epcs := later.EPCs()
	if want := fmt.Sprintf("urn:epc:id:sscc:4012345.1%09d", flows+1); !slices.Contains(epcs, want) {
		t.Errorf("later run's pallets do not continue at %s", want)
	}
	for _, epc := range epcs {
		if seen[epc] {
			t.Fatalf("later run reuses %s", epc)
		}
	}
}
