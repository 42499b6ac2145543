package tracker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// roundTripHash is how ContentHash was computed up to v0.8: decode into a
// map (numbers as written), drop eventID and recordTime, encode with sorted
// keys and no HTML escaping. Stored hashes and assigned IDs came from it, so
// the streaming canonicaliser must agree with it byte for byte.
func roundTripHash(raw []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return "", err
	}
	delete(m, "eventID")
	delete(m, "recordTime")
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(m); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

func sameHash(t *testing.T, raw []byte) {
	t.Helper()
	want, err := roundTripHash(raw)
	if err != nil {
		t.Fatalf("oracle rejects %s: %v", raw, err)
	}
	got, err := ContentHash(raw)
	if err != nil {
		t.Fatalf("ContentHash(%s): %v", raw, err)
	}
	if got != want {
		t.Errorf("ContentHash(%s) = %s, the map round trip gives %s", raw, got, want)
	}
}

// Awkward spellings: escapes, non-ASCII, HTML characters, repeated names
// (the last wins), eventID/recordTime nested (kept) and at the top (dropped),
// numbers in every form, empty containers, whitespace everywhere.
var awkwardEvents = []string{
	`{"type":"ObjectEvent"}`,
	` { "b" : 1 , "a" : [ 1 , 2.50 , -3e+07 , 0 ] , "c" : { } , "d" : [ ] } `,
	`{"eventID":"x","recordTime":"y","ext":{"eventID":"kept","recordTime":"kept"}}`,
	`{"a":1,"a":2,"b":{"x":1,"x":{"y":[1]}}}`,
	`{"s":"tab\there \"quoted\" back\\slash \/ slash \u0041 \u00e9 é 中文 \ud83d\ude00"}`,
	`{"html":"<a href=\"x\">&amp;</a>","ctl":"\u0001\u001f\b\f\n\r\t","seps":"\u2028\u2029"}`,
	`{"k\u00e9y":"v","ké":"w","Z":1,"a":2,"":3,"_":4}`,
	`{"n":[true,false,null,1E2,1e-2,-0,123456789012345678901234567890]}`,
	`{"bad utf8":"` + "\xff\xfe" + `","k` + "\xc3" + `":"v"}`,
	"{\n\t\"deep\": [[[{\"z\":1,\"y\":[{\"b\":2,\"a\":1}]}]]]\n}",
}

func TestContentHashMatchesMapRoundTrip(t *testing.T) {
	for _, raw := range awkwardEvents {
		sameHash(t, []byte(raw))
	}
	g := epcisgen.New(epcisgen.Config{Seed: 7})
	for range 2000 {
		raw, err := json.Marshal(g.Next())
		if err != nil {
			t.Fatal(err)
		}
		sameHash(t, raw)
	}
	var files []string
	_ = filepath.WalkDir(filepath.Join("..", "testdata", "epcis", "gs1"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".jsonld" {
			files = append(files, p)
		}
		return err
	})
	if len(files) < 10 {
		t.Fatal("no GS1 examples under testdata/epcis/gs1")
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			EPCISBody struct {
				EventList []json.RawMessage `json:"eventList"`
			} `json:"epcisBody"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, raw := range doc.EPCISBody.EventList {
			sameHash(t, raw)
		}
	}
}

func TestContentHashRejectsNonObjects(t *testing.T) {
	for _, raw := range []string{``, `[]`, `"x"`, `{"a":`, `{"a":1`, `{"a" 1}`, `{1:2}`} {
		if h, err := ContentHash([]byte(raw)); err == nil {
			t.Errorf("ContentHash(%q) = %s, want an error", raw, h)
		}
	}
}

func FuzzContentHash(f *testing.F) {
	for _, raw := range awkwardEvents {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' {
			return
		}
		sameHash(t, raw)
	})
}
