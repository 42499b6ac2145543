// Package epcisgen generates realistic EPCIS 2.0 supply-chain flows for tests,
// benchmarks and load: items are commissioned at a plant, packed into cases,
// cases into pallets, shipped to another site, received, unpacked and sold.
// Some pallets stop part-way (in transit, or received but still packed), so
// tracking lookups meet every containment depth.
//
// Output is deterministic for a given Config.Seed.
package epcisgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config shapes the generated flows. Zero fields take the defaults noted.
type Config struct {
	Seed           uint64
	Sites          int           // default 8
	CasesPerPallet int           // default 4
	ItemsPerCase   int           // default 12
	Start          time.Time     // default 2026-01-01T00:00:00Z
	Step           time.Duration // time between a flow's events; default 1 min
	// NoEventIDs leaves eventID out so the server assigns it (content hash).
	NoEventIDs bool
	// KeepEPCs records every item, case and pallet EPC (see EPCs).
	KeepEPCs bool
	// FirstFlow numbers pallets, cases and items (and dates the flows) as if
	// FirstFlow flows had come before. EPCs depend on it (and the pallet
	// shape), not on Seed: a generator whose FirstFlow lies past another's
	// last flow makes new items rather than moving the other's. EventIDs
	// depend on Seed only, so give such a generator a seed of its own.
	FirstFlow int
}

// Event is a generated EPCIS event in its JSON form.
type Event struct {
	Type                string    `json:"type"`
	EventID             string    `json:"eventID,omitempty"`
	EventTime           string    `json:"eventTime"`
	EventTimeZoneOffset string    `json:"eventTimeZoneOffset"`
	Action              string    `json:"action,omitempty"`
	ParentID            string    `json:"parentID,omitempty"`
	EPCList             []string  `json:"epcList,omitempty"`
	ChildEPCs           []string  `json:"childEPCs,omitempty"`
	BizStep             string    `json:"bizStep,omitempty"`
	Disposition         string    `json:"disposition,omitempty"`
	ReadPoint           *Location `json:"readPoint,omitempty"`
	BizLocation         *Location `json:"bizLocation,omitempty"`
}

// Location is a readPoint or bizLocation.
type Location struct {
	ID string `json:"id"`
}

// Generator produces events. It is not safe for concurrent use.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	pallet  int
	serial  int
	eventN  int
	pending []Event
	epcs    []string
	// flowEPCs is where the EPCs of the flow in pending start in epcs.
	flowEPCs int
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	if cfg.Sites < 2 {
		cfg.Sites = 8
	}
	if cfg.CasesPerPallet <= 0 {
		cfg.CasesPerPallet = 4
	}
	if cfg.ItemsPerCase <= 0 {
		cfg.ItemsPerCase = 12
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Step <= 0 {
		cfg.Step = time.Minute
	}
	return &Generator{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		pallet: cfg.FirstFlow,
		serial: cfg.FirstFlow * cfg.CasesPerPallet * cfg.ItemsPerCase,
	}
}

// Next returns the next event.
func (g *Generator) Next() Event {
	for len(g.pending) == 0 {
		g.pending = g.flow()
	}
	ev := g.pending[0]
	g.pending = g.pending[1:]
	return ev
}

// Events returns the next n events.
func (g *Generator) Events(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Document returns an EPCISDocument holding the next n events.
func (g *Generator) Document(n int) []byte {
	return Document(g.Events(n))
}

// EPCs returns the EPCs of every flow whose events Next has all returned
// (only with Config.KeepEPCs): those of a flow cut short may not be in any
// event yet (a pallet is named only after its cases are packed).
func (g *Generator) EPCs() []string {
	if len(g.pending) > 0 {
		return g.epcs[:g.flowEPCs]
	}
	return g.epcs
}

// Document wraps events in an EPCISDocument.
func Document(events []Event) []byte {
	doc := map[string]any{
		"@context":      []string{"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"},
		"type":          "EPCISDocument",
		"schemaVersion": "2.0",
		"creationDate":  "2026-01-01T00:00:00Z",
		"epcisBody":     map[string]any{"eventList": events},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // only plain strings and slices: cannot fail
	}
	return b
}

func site(i int) string    { return fmt.Sprintf("urn:epc:id:sgln:4012345.%05d.0", i) }
func dock(i, d int) string { return fmt.Sprintf("urn:epc:id:sgln:4012345.%05d.%d", i, d) }

// flow generates one pallet's journey. Pallets start Step/4 apart so flows
// overlap in time the way several production lines do.
func (g *Generator) flow() []Event {
	g.pallet++
	p := g.pallet
	t := g.cfg.Start.Add(time.Duration(p) * g.cfg.Step / 4)
	from := g.rng.IntN(g.cfg.Sites)
	to := (from + 1 + g.rng.IntN(g.cfg.Sites-1)) % g.cfg.Sites
	// Where the flow stops: 20 % in transit, 15 % received but packed,
	// 15 % unpacked but unsold, the rest sold.
	stage := g.rng.IntN(100)

	var out []Event
	emit := func(ev Event) {
		t = t.Add(g.cfg.Step)
		ev.EventTime = t.Format(time.RFC3339)
		ev.EventTimeZoneOffset = "+00:00"
		g.eventN++
		if !g.cfg.NoEventIDs {
			ev.EventID = fmt.Sprintf("urn:uuid:%08x-0000-4000-8000-%012x", g.cfg.Seed&0xffffffff, g.eventN)
		}
		out = append(out, ev)
	}
	palletID := fmt.Sprintf("urn:epc:id:sscc:4012345.1%09d", p)
	cases := make([]string, g.cfg.CasesPerPallet)
	var items []string
	for c := range cases {
		cases[c] = fmt.Sprintf("urn:epc:id:sscc:4012345.2%09d", p*g.cfg.CasesPerPallet+c)
		caseItems := make([]string, g.cfg.ItemsPerCase)
		for i := range caseItems {
			g.serial++
			caseItems[i] = fmt.Sprintf("urn:epc:id:sgtin:4012345.%06d.%d", 100000+g.serial%50, g.serial)
		}
		items = append(items, caseItems...)
		emit(Event{Type: "ObjectEvent", Action: "ADD", EPCList: caseItems, BizStep: "commissioning",
			Disposition: "active", ReadPoint: &Location{dock(from, 1)}, BizLocation: &Location{site(from)}})
		emit(Event{Type: "AggregationEvent", Action: "ADD", ParentID: cases[c], ChildEPCs: caseItems,
			BizStep: "packing", Disposition: "in_progress", ReadPoint: &Location{dock(from, 2)}, BizLocation: &Location{site(from)}})
	}
	if g.cfg.KeepEPCs {
		g.flowEPCs = len(g.epcs)
		g.epcs = append(g.epcs, items...)
		g.epcs = append(g.epcs, cases...)
		g.epcs = append(g.epcs, palletID)
	}
	emit(Event{Type: "AggregationEvent", Action: "ADD", ParentID: palletID, ChildEPCs: cases,
		BizStep: "packing", Disposition: "in_progress", ReadPoint: &Location{dock(from, 3)}, BizLocation: &Location{site(from)}})
	// Shipping names only the pallet: where its contents are follows from
	// containment, which is what the tracker must resolve.
	emit(Event{Type: "ObjectEvent", Action: "OBSERVE", EPCList: []string{palletID}, BizStep: "shipping",
		Disposition: "in_transit", ReadPoint: &Location{dock(from, 9)}})
	if stage < 20 {
		return out
	}
	emit(Event{Type: "ObjectEvent", Action: "OBSERVE", EPCList: []string{palletID}, BizStep: "receiving",
		Disposition: "in_progress", ReadPoint: &Location{dock(to, 9)}, BizLocation: &Location{site(to)}})
	if stage < 35 {
		return out
	}
	emit(Event{Type: "AggregationEvent", Action: "DELETE", ParentID: palletID, ChildEPCs: cases,
		BizStep: "unpacking", Disposition: "in_progress", ReadPoint: &Location{dock(to, 3)}, BizLocation: &Location{site(to)}})
	for _, c := range cases {
		// No childEPCs: DELETE disaggregates everything in the case.
		emit(Event{Type: "AggregationEvent", Action: "DELETE", ParentID: c,
			BizStep: "unpacking", Disposition: "sellable_accessible", ReadPoint: &Location{dock(to, 4)}, BizLocation: &Location{site(to)}})
	}
	if stage < 50 {
		return out
	}
	// Sell about half the items, a few per point-of-sale event.
	sold := items[:len(items)/2]
	for len(sold) > 0 {
		n := min(len(sold), 1+g.rng.IntN(4))
		emit(Event{Type: "ObjectEvent", Action: "OBSERVE", EPCList: sold[:n], BizStep: "retail_selling",
			Disposition: "retail_sold", ReadPoint: &Location{dock(to, 7)}, BizLocation: &Location{site(to)}})
		sold = sold[n:]
	}
	return out
}
