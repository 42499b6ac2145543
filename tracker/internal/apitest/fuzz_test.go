package apitest

import (
	"encoding/json"
	"testing"
)

// FuzzCapture posts arbitrary bodies to /capture. Properties: no panic; the
// answer is 202 or a 4xx problem document (never 5xx); a rejected body
// leaves the store exactly as it was (no partial write).
//
// CI runs it bounded by an execution count: hack/fuzz-tracker.sh.
func FuzzCapture(f *testing.F) {
	for _, path := range gs1Documents(f) {
		f.Add(mustRead(f, path))
	}
	f.Add(doc(objectEvent("", "urn:epc:id:sgtin:1.1.1", "shipping", "", "2026-01-01T00:00:00Z")))
	f.Add(doc(aggregation("urn:uuid:a", "DELETE", "urn:epc:id:sscc:1.2", nil, "urn:epc:id:sgln:1.1.0", "2026-01-01T00:00:00Z")))
	f.Add([]byte(`{"type":"EPCISDocument","schemaVersion":"2.0","epcisBody":{"eventList":[null,{},[],"x",1]}}`))

	// Durability is not under test here and an fsync per accepted seed makes
	// the engine's baseline pass crawl on a busy disk.
	e := newEnv(f, envOpts{maxBody: 1 << 20, noSync: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.fingerprint(t)
		r := e.capture(body)
		switch {
		case r.code == 202:
			return
		case r.code >= 400 && r.code < 500:
		default:
			t.Fatalf("status %d for body %q: %s", r.code, body, r.body)
		}
		var p problem
		if err := json.Unmarshal(r.body, &p); err != nil || p.Status != r.code || p.Type == "" {
			t.Fatalf("rejection is not a problem document: %d %s", r.code, r.body)
		}
		if r.code == 400 && len(p.Errors) == 0 {
			t.Fatalf("400 without field errors: %s", r.body)
		}
		if after := e.fingerprint(t); after != before {
			t.Fatalf("rejected body changed the store: %s → %s", before, after)
		}
	})
}

// fingerprint summarises everything a capture writes.
func (e *env) fingerprint(t *testing.T) string {
	var s string
	err := e.store.QueryRowForTest(`SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM event_epcs) || '/' ||
		(SELECT count(*) FROM outbox) || '/' || (SELECT count(*) FROM captures) || '/' ||
		(SELECT count(*) FROM epc_state) || '/' || (SELECT coalesce(max(event_time), 0) FROM epc_state)`, &s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
