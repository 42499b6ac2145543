package tracker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
)

const ev = `{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","epcList":["urn:epc:id:sgtin:1.1.1"],"bizStep":"urn:epcglobal:cbv:bizstep:commissioning","ext:x":{"b":1,"a":[1.50,"x"]}}`

func TestAssignedIDIsDeterministic(t *testing.T) {
	a, err := tracker.DecodeEvent([]byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	// Same content, different member order and whitespace.
	reordered := `{ "ext:x": {"a":[1.50, "x"], "b":1}, "bizStep":"urn:epcglobal:cbv:bizstep:commissioning", "epcList":["urn:epc:id:sgtin:1.1.1"],
		"action":"ADD", "eventTimeZoneOffset":"+00:00", "eventTime":"2026-01-01T00:00:00Z", "type":"ObjectEvent", "recordTime":"2030-01-01T00:00:00Z" }`
	b, err := tracker.DecodeEvent([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.ContentHash != b.ContentHash {
		t.Errorf("IDs differ for the same content: %s vs %s", a.ID, b.ID)
	}
	if !strings.HasPrefix(a.ID, "ni:///sha-256;") || !strings.HasSuffix(a.ID, "?ver=CBV2.0") {
		t.Errorf("assigned ID %q is not an ni:///sha-256 URI", a.ID)
	}
	c, _ := tracker.DecodeEvent([]byte(strings.Replace(ev, "1.1.1", "1.1.2", 1)))
	if c.ID == a.ID {
		t.Error("different events got the same ID")
	}
	// The assigned ID is part of the stored JSON; a client recordTime is not.
	var m map[string]any
	if err := json.Unmarshal(b.Raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["eventID"] != b.ID {
		t.Errorf("raw eventID = %v, want %s", m["eventID"], b.ID)
	}
	if _, ok := m["recordTime"]; ok {
		t.Error("client recordTime kept")
	}
	if a.BizStep != "commissioning" {
		t.Errorf("BizStep = %q, want the bare CBV word", a.BizStep)
	}
	// "eventID": null is as if absent: the same ID, and one member only.
	n, err := tracker.DecodeEvent([]byte(strings.Replace(reordered, `"type":"ObjectEvent"`, `"type":"ObjectEvent", "eventID": null`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != a.ID || bytes.Count(n.Raw, []byte(`"eventID"`)) != 1 {
		t.Errorf("with eventID null: ID %s, stored %s; want ID %s stored once", n.ID, n.Raw, a.ID)
	}
}

func TestErrorDeclarationHasItsOwnDedupeKey(t *testing.T) {
	withID := strings.Replace(ev, `{"type"`, `{"eventID":"urn:uuid:1","type"`, 1)
	orig, err := tracker.DecodeEvent([]byte(withID))
	if err != nil {
		t.Fatal(err)
	}
	decl, err := tracker.DecodeEvent([]byte(strings.TrimSuffix(withID, "}") + `,"errorDeclaration":{"declarationTime":"2026-02-01T00:00:00Z","reason":"incorrect_data"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if orig.ID != decl.ID || orig.DedupeKey() == decl.DedupeKey() {
		t.Errorf("ID %s/%s, dedupe keys %s/%s: want same ID, different keys", orig.ID, decl.ID, orig.DedupeKey(), decl.DedupeKey())
	}
}

func TestDecodeEventNamesFieldAndValue(t *testing.T) {
	tests := []struct{ body, pointer, value string }{
		{`[]`, "/", "[]"},
		{`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","readPoint":{"id":7}}`, "/readPoint/id", "7"},
		{`{"type":"ObjectEvent","eventTime":"3000-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD"}`, "/eventTime", "3000-01-01T00:00:00Z"},
		{`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","quantityList":[{"epcClass":"urn:x:1","quantity":-1}]}`, "/quantityList/0/quantity", "-1"},
		{`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","bizLocation":{}}`, "/bizLocation/id", ""},
		{`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","errorDeclaration":{"reason":"x"}}`, "/errorDeclaration/declarationTime", ""},
	}
	for _, tt := range tests {
		_, err := tracker.DecodeEvent([]byte(tt.body))
		if tracker.ErrorCode(err) != tracker.EINVALID {
			t.Errorf("%s: error %v, want EINVALID", tt.body, err)
			continue
		}
		found := false
		for _, f := range tracker.ErrorFields(err) {
			if f.Pointer == tt.pointer && f.Value == tt.value {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: fields %+v, want %s = %q", tt.body, tracker.ErrorFields(err), tt.pointer, tt.value)
		}
	}
}

// TestEveryMemberOfTheWrongTypeIsNamed: a member of the wrong type, or an
// element of one, is named with the value sent, every one of them, events'
// included when the document's own members are wrong too.
func TestEveryMemberOfTheWrongTypeIsNamed(t *testing.T) {
	body := `{"type":"EPCISDocument","schemaVersion":2,"epcisBody":{"eventList":[` +
		`{"type":"ObjectEvent","eventTime":5,"eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["urn:a:b",7],` +
		`"readPoint":{"id":9},"quantityList":[{"epcClass":"urn:a:c","quantity":1},{"epcClass":false}]}]}}`
	_, err := tracker.DecodeDocument([]byte(body))
	got := map[string]string{}
	for _, f := range tracker.ErrorFields(err) {
		got[f.Pointer] = f.Value
	}
	const ev = "/epcisBody/eventList/0"
	for ptr, value := range map[string]string{"/schemaVersion": "2", ev + "/eventTime": "5", ev + "/epcList/1": "7",
		ev + "/readPoint/id": "9", ev + "/quantityList/1/epcClass": "false"} {
		if v, ok := got[ptr]; !ok || v != value {
			t.Errorf("%s: reported %q (found %t), want %q; all: %v", ptr, v, ok, value, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d problems, want 5: %v", len(got), got)
	}
}

// TestWrongTypesHideNothingElse: beside members of the wrong type, the
// other invalid values of the same document and event are named too, and
// a member taken out for its type is not also called missing.
func TestWrongTypesHideNothingElse(t *testing.T) {
	body := `{"type":"NotADoc","schemaVersion":2.0,"epcisBody":{"eventList":[` +
		`{"type":"ObjectEvent","eventTime":"nope","eventTimeZoneOffset":"+00:00","action":"ADD","epcList":"x",` +
		`"quantityList":[{"epcClass":"urn:a:c","quantity":"5"}]}]}}`
	_, err := tracker.DecodeDocument([]byte(body))
	got := map[string]string{}
	for _, f := range tracker.ErrorFields(err) {
		got[f.Pointer] = f.Value
	}
	const ev = "/epcisBody/eventList/0"
	want := map[string]string{"/type": "NotADoc", "/schemaVersion": "2.0", ev + "/eventTime": "nope", ev + "/epcList": `"x"`,
		ev + "/quantityList/0/quantity": `"5"`}
	if !maps.Equal(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
}

func TestDecodeSaysWhatItDidNotList(t *testing.T) {
	bad := `{"type":"ObjectEvent","eventTime":"yesterday","eventTimeZoneOffset":"+00:00","action":"ADD"}`
	doc := `{"type":"EPCISDocument","schemaVersion":"2.0","epcisBody":{"eventList":[` + strings.Repeat(bad+",", 59) + bad + `]}}`
	_, err := tracker.DecodeDocument([]byte(doc))
	var e *tracker.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *tracker.Error", err)
	}
	if len(e.Fields) != 50 || !strings.Contains(e.Message, "10 more not listed") {
		t.Errorf("%d fields, message %q: want 50 listed and 10 more counted", len(e.Fields), e.Message)
	}
}

// A byte order mark before the JSON is ignored, as RFC 8259 §8.1 allows:
// the event decodes as it would without one.
func TestByteOrderMarkIgnored(t *testing.T) {
	plain, err := tracker.DecodeEvent([]byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	marked, err := tracker.DecodeEvent([]byte("\uFEFF" + ev))
	if err != nil {
		t.Fatalf("event after a byte order mark: %v", err)
	}
	if marked.ID != plain.ID || !bytes.Equal(marked.Raw, plain.Raw) {
		t.Errorf("after a byte order mark: ID %s, raw %s; want %s, %s", marked.ID, marked.Raw, plain.ID, plain.Raw)
	}
	doc := `{"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[` + ev + `]}}`
	evs, err := tracker.DecodeDocument([]byte("\uFEFF" + doc))
	if err != nil || len(evs) != 1 || evs[0].ID != plain.ID {
		t.Errorf("document after a byte order mark: %v, %d events", err, len(evs))
	}
	// Offsets in problems count the mark, as the client sent it: the bad
	// byte here is the 10th (offset 9).
	_, err = tracker.DecodeEvent([]byte("\uFEFF{\"a\":\"\xff\"}"))
	if err == nil || !strings.Contains(err.Error(), "at byte 9") {
		t.Errorf("bad UTF-8 after a byte order mark: %v, want it placed at byte 9", err)
	}
}
