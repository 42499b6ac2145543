package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestJSONArgsRoundTrip: what the bulk statements read back with jsonb_each
// must be exactly the strings written, whether copied whole or escaped.
func TestJSONArgsRoundTrip(t *testing.T) {
	want := []string{"urn:epc:id:sgtin:4012345.011111.1", `quote " and backslash \`, "control \x01\n", "", "ünïcode"}
	var got []any
	if err := json.Unmarshal([]byte(jsonArgs(nil).begin().strs(want).int(-7).strOrNull("").end().String()), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %v, want [strings, -7, null]", got)
	}
	var strs []string
	for _, s := range got[0].([]any) {
		strs = append(strs, s.(string))
	}
	if !slices.Equal(strs, want) || got[1] != float64(-7) || got[2] != nil {
		t.Errorf("got %q, %v, %v; want %q, -7, null", strs, got[1], got[2], want)
	}
}
