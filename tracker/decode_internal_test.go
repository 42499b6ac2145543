package tracker

import (
	"strings"
	"testing"
)

// TestMutesEndWithTheirEvent: the members one event had of the wrong type
// are muted for that event only. Kept for the whole document, every later
// problem would scan every earlier event's mutes, and rejecting a document
// of many mistyped events would take time quadratic in their number.
func TestMutesEndWithTheirEvent(t *testing.T) {
	var p problems
	for i := range 3 {
		decodeEvent([]byte(`{"type":1,"Action":2}`), "/epcisBody/eventList/"+string(rune('0'+i)), &p)
		if len(p.muted) != 0 {
			t.Fatalf("after event %d, %d mutes remain: %v", i, len(p.muted), p.muted)
		}
	}
	var pointers []string
	for _, f := range p.list {
		pointers = append(pointers, f.Pointer)
	}
	got := strings.Join(pointers, " ")
	// "Action" taken out for its type stands for "action" (encoding/json
	// ignores case), so "action" is not also reported missing.
	if strings.Contains(got, "/action") || !strings.Contains(got, "/2/Action") || !strings.Contains(got, "/2/type") {
		t.Errorf("problems at %s; want each event's /Action and /type, and no /action", got)
	}
}
