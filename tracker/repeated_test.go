package tracker

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestRepeatedMemberNamesKeepTheLast: a name repeated within an object (GS1's
// AssociationEvent-h example repeats eventID) is read as its last value, and
// the stored payload holds only that one, so no reader can take another.
func TestRepeatedMemberNamesKeepTheLast(t *testing.T) {
	const once = `{"type":"ObjectEvent","eventID":"urn:uuid:2","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00",` +
		`"action":"OBSERVE","epcList":["urn:epc:id:sgtin:1.1.2"],"readPoint":{"id":"urn:epc:id:sgln:1.1.2"},"ext:x":[{"a":2,"b":1.50}]}`
	twice := strings.NewReplacer(`"eventID":`, `"eventID":"urn:uuid:1","eventID":`,
		`"epcList":`, `"epcList":["urn:epc:id:sgtin:1.1.1"],"epcList":`,
		`"readPoint":{`, `"readPoint":{"id":"urn:epc:id:sgln:1.1.1",`,
		`{"a":2`, `{"a":1,"a":2`).Replace(once)
	if _, repeated, err := contentHash([]byte(twice)); err != nil || repeated == "" {
		t.Fatalf("contentHash(%s) found no repeated name (err %v)", twice, err)
	}
	if _, repeated, _ := contentHash([]byte(twice[:strings.Index(twice, `"epcList"`)] + `"ext:x":[{"a":1,"a":2}]}`)); repeated != "/eventID" {
		t.Errorf("first repeated name at %q, want /eventID", repeated)
	}
	if _, repeated, _ := contentHash([]byte(`{"x":[0,{"a/b":{"c~":1,"c~":2}}]}`)); repeated != "/x/1/a~1b/c~0" {
		t.Errorf("repeated name at %q, want /x/1/a~1b/c~0", repeated)
	}
	want, err := DecodeEvent([]byte(once))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent([]byte(twice))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "urn:uuid:2" || !slices.Equal(got.EPCs, want.EPCs) || got.ReadPoint != want.ReadPoint || got.ContentHash != want.ContentHash {
		t.Errorf("decoded %s / %v / %s / %s, want %s / %v / %s / %s",
			got.ID, got.EPCs, got.ReadPoint, got.ContentHash, want.ID, want.EPCs, want.ReadPoint, want.ContentHash)
	}
	for _, earlier := range []string{"urn:uuid:1", "sgtin:1.1.1", "sgln:1.1.1", `"a":1`} {
		if bytes.Contains(got.Raw, []byte(earlier)) {
			t.Errorf("stored payload keeps the earlier value %s: %s", earlier, got.Raw)
		}
	}
	if !bytes.Contains(got.Raw, []byte(`"b":1.50`)) {
		t.Errorf("stored payload lost the number's spelling: %s", got.Raw)
	}
}
