package apitest

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// gs1Dir holds GS1's published EPCIS 2.0 examples (see its README).
const gs1Dir = "../../../testdata/epcis/gs1"

// gs1Documents returns the paths of every EPCISDocument in gs1Dir.
func gs1Documents(t testing.TB) []string {
	t.Helper()
	var docs []string
	err := filepath.WalkDir(gs1Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonld") {
			return err
		}
		var head struct{ Type string }
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if json.Unmarshal(b, &head) == nil && head.Type == "EPCISDocument" {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The README promises 46; fewer means the copy is incomplete.
	if len(docs) != 46 {
		t.Fatalf("found %d EPCISDocuments under %s, want 46", len(docs), gs1Dir)
	}
	return docs
}

// TestGS1Conformance captures each GS1 example document into a fresh store
// (several examples reuse eventIDs with different content, which one store
// must reject as conflicts) and reads every event back by ID and by EPC.
func TestGS1Conformance(t *testing.T) {
	for _, path := range gs1Documents(t) {
		name, _ := filepath.Rel(gs1Dir, path)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				EPCISBody struct {
					EventList []map[string]any `json:"eventList"`
				} `json:"epcisBody"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, envOpts{})
			r := e.capture(raw)
			if r.code != 202 {
				t.Fatalf("POST /capture = %d %s, want 202", r.code, r.body)
			}
			loc := r.header.Get("Location")
			if !strings.HasPrefix(loc, "/capture/") {
				t.Fatalf("Location = %q, want /capture/{id}", loc)
			}
			var job struct {
				EventCount int  `json:"eventCount"`
				Success    bool `json:"success"`
			}
			jr := e.get(loc)
			jr.json(t, &job)
			if jr.code != 200 || !job.Success || job.EventCount != len(doc.EPCISBody.EventList) {
				t.Errorf("GET %s = %d %s, want success with %d events", loc, jr.code, jr.body, len(doc.EPCISBody.EventList))
			}

			for i, want := range doc.EPCISBody.EventList {
				id, hasID := want["eventID"].(string)
				if hasID {
					got := e.get("/events/" + esc(id))
					if got.code != 200 {
						t.Errorf("event %d: GET /events/%s = %d %s", i, id, got.code, got.body)
					} else {
						var m map[string]any
						got.json(t, &m)
						assertSameEvent(t, i, m, want)
					}
				}
				param, value := matchFor(want)
				if param == "" {
					// Two sensor examples name no EPC at all (an inspection at
					// a read point); MATCH_anyEPC cannot find them by
					// definition, so they are found by ID.
					param, value = "EQ_eventID", id
				}
				q := url.Values{param: {value}, "perPage": {"1000"}}
				qr := e.get("/events?" + q.Encode())
				if qr.code != 200 {
					t.Fatalf("event %d: GET /events?%s = %d %s", i, q.Encode(), qr.code, qr.body)
				}
				var res queryDoc
				qr.json(t, &res)
				var found map[string]any
				for _, m := range res.EPCISBody.QueryResults.ResultsBody.EventList {
					if sameEvent(m, want) {
						found = m
					}
				}
				if found == nil {
					t.Errorf("event %d (%v) not among the %d results of %s=%s", i, want["eventID"], len(res.EPCISBody.QueryResults.ResultsBody.EventList), param, value)
					continue
				}
				if !hasID {
					// The store assigned an ID: it must find the event too.
					assigned, _ := found["eventID"].(string)
					got := e.get("/events/" + esc(assigned))
					if assigned == "" || got.code != 200 {
						t.Errorf("event %d: assigned eventID %q: GET /events/{eventID} = %d %s", i, assigned, got.code, got.body)
					} else {
						var m map[string]any
						got.json(t, &m)
						assertSameEvent(t, i, m, want)
					}
				}
			}
		})
	}
}

// matchFor picks the query that must find ev: MATCH_anyEPC on an EPC it
// names, or MATCH_anyEPCClass for events that only carry quantities.
func matchFor(ev map[string]any) (param, value string) {
	if p, ok := ev["parentID"].(string); ok {
		return "MATCH_anyEPC", p
	}
	for _, k := range []string{"epcList", "childEPCs", "inputEPCList", "outputEPCList"} {
		if l, ok := ev[k].([]any); ok && len(l) > 0 {
			return "MATCH_anyEPC", l[0].(string)
		}
	}
	for _, k := range []string{"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"} {
		if l, ok := ev[k].([]any); ok && len(l) > 0 {
			return "MATCH_anyEPCClass", l[0].(map[string]any)["epcClass"].(string)
		}
	}
	return "", ""
}

// sameEvent compares a returned event with the captured one: equal in every
// member, extensions included, once the server's recordTime (and, for events
// captured without one, the assigned eventID) are set aside.
func sameEvent(got, want map[string]any) bool {
	g := make(map[string]any, len(got))
	for k, v := range got {
		g[k] = v
	}
	delete(g, "recordTime")
	w := make(map[string]any, len(want))
	for k, v := range want {
		w[k] = v
	}
	delete(w, "recordTime") // the repository sets recordTime, not the client
	if _, ok := want["eventID"]; !ok {
		delete(g, "eventID")
	}
	return reflect.DeepEqual(g, w)
}

func assertSameEvent(t *testing.T, i int, got, want map[string]any) {
	t.Helper()
	if !sameEvent(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		t.Errorf("event %d came back changed:\n got %s\nwant %s", i, gb, wb)
	}
	if _, ok := got["recordTime"]; !ok {
		t.Errorf("event %d: no recordTime in the query result", i)
	}
}

// TestQueryDocumentShape checks GET /events answers in the shape of GS1's
// EPCISQueryDocument example: the same members down to the event list.
func TestQueryDocumentShape(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(gs1Dir, "EPCISQueryDocument.jsonld"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{})
	if r := e.capture(mustRead(t, filepath.Join(gs1Dir, "Example_9.6.1-ObjectEvent.jsonld"))); r.code != 202 {
		t.Fatalf("capture = %d %s", r.code, r.body)
	}
	r := e.get("/events")
	if r.code != 200 || r.header.Get("Content-Type") != "application/ld+json" {
		t.Fatalf("GET /events = %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	var got map[string]any
	r.json(t, &got)
	// subscriptionID belongs to subscriptions, which the tracker does not offer;
	// id is optional for documents.
	for _, path := range [][]string{nil, {"epcisBody"}, {"epcisBody", "queryResults"}, {"epcisBody", "queryResults", "resultsBody"}} {
		wk, gk := keys(dig(want, path)), keys(dig(got, path))
		wk = without(wk, "subscriptionID", "id")
		if !reflect.DeepEqual(wk, gk) {
			t.Errorf("members at /%s = %v, want %v", strings.Join(path, "/"), gk, wk)
		}
	}
	if n := len(dig(got, []string{"epcisBody", "queryResults", "resultsBody"})["eventList"].([]any)); n != 2 {
		t.Errorf("eventList has %d events, want 2", n)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dig(m map[string]any, path []string) map[string]any {
	for _, k := range path {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		if !contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
