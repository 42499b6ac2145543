package apitest

import (
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// TestGeneratedFlowsAreTrackable captures generated flows and looks up every
// EPC they name: each must be found with a location, and where the answer
// says "in transit" an item must still be packed in a case in a pallet (only
// the pallet was seen shipping), while a sold item must be in nothing.
func TestGeneratedFlowsAreTrackable(t *testing.T) {
	e := newEnv(t, envOpts{cache: true})
	g := epcisgen.New(epcisgen.Config{Seed: 3, KeepEPCs: true})
	// 3,000 events end mid-flow; EPCs leaves that flow out, so every EPC
	// it returns has been captured.
	for range 30 {
		if r := e.capture(g.Document(100)); r.code != 202 {
			t.Fatalf("capture = %d %s", r.code, r.body)
		}
	}
	epcs := g.EPCs()
	seen := map[string]int{}
	for _, epc := range epcs {
		r := e.get("/epcs/" + esc(epc) + "/location")
		if r.code != 200 {
			t.Fatalf("%s: %d %s", epc, r.code, r.body)
		}
		var loc struct {
			BizLocation, Disposition, EventID string
			Parents                           []struct{ EPC string }
		}
		r.json(t, &loc)
		if loc.BizLocation == "" || loc.EventID == "" {
			t.Errorf("%s: no location in %s", epc, r.body)
		}
		item := strings.Contains(epc, ":sgtin:")
		switch {
		case item && loc.Disposition == "in_transit" && len(loc.Parents) != 2:
			t.Errorf("%s in transit with %d parents, want case and pallet: %s", epc, len(loc.Parents), r.body)
		case loc.Disposition == "retail_sold" && len(loc.Parents) != 0:
			t.Errorf("%s sold but still packed: %s", epc, r.body)
		}
		seen[loc.Disposition]++
	}
	for _, d := range []string{"in_transit", "in_progress", "sellable_accessible", "retail_sold"} {
		if seen[d] == 0 {
			t.Errorf("no EPC ended %s; dispositions seen %v", d, seen)
		}
	}
}
