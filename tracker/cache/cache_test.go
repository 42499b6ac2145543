package cache

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func capture(t *testing.T, s *sqlite.Store, body string) {
	t.Helper()
	ev, err := tracker.DecodeEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(context.Background(), []*tracker.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

const epc = "urn:epc:id:sgtin:1.1.1"

func event(at, loc string) string {
	return `{"type":"ObjectEvent","eventTime":"` + at + `","eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":["` + epc + `"],"bizLocation":{"id":"` + loc + `"}}`
}

func TestCacheIsNeverStalerThanTheLastCommit(t *testing.T) {
	gen := new(Generation)
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "t.db"), OnCommit: gen.Bump})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := New(s, gen, time.Hour, 0)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	capture(t, s, event("2026-01-01T00:00:00Z", "urn:epc:id:sgln:1.1.0"))
	for range 3 {
		if loc, err := c.Location(context.Background(), epc); err != nil || loc.BizLocation != "urn:epc:id:sgln:1.1.0" {
			t.Fatalf("location = %+v, %v", loc, err)
		}
	}
	if h, m := c.Stats(); h != 2 || m != 1 {
		t.Errorf("hits %d misses %d, want 2 and 1", h, m)
	}
	// A commit invalidates at once, TTL notwithstanding.
	capture(t, s, event("2026-01-02T00:00:00Z", "urn:epc:id:sgln:2.2.0"))
	if loc, _ := c.Location(context.Background(), epc); loc.BizLocation != "urn:epc:id:sgln:2.2.0" {
		t.Errorf("after capture: %s, want the new location", loc.BizLocation)
	}
	// Without commits, entries expire after the TTL.
	c.Location(context.Background(), epc)
	_, m0 := c.Stats()
	now = now.Add(time.Hour + time.Second)
	c.Location(context.Background(), epc)
	if _, m1 := c.Stats(); m1 != m0+1 {
		t.Errorf("expired entry served from cache")
	}
	// The cached bytes are what encoding the store's answer gives.
	want, err := s.Location(context.Background(), epc)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	if got, _ := c.LocationJSON(context.Background(), epc); string(got) != string(wantJSON) {
		t.Errorf("cached JSON %s, want %s", got, wantJSON)
	}
	// Unknown EPCs are not cached as answers.
	if _, err := c.Location(context.Background(), "urn:epc:id:sgtin:9.9.9"); tracker.ErrorCode(err) != tracker.ENOTFOUND {
		t.Errorf("unknown EPC: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	gen := new(Generation)
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "t.db"), OnCommit: gen.Bump})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	capture(t, s, `{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","epcList":["urn:x:1","urn:x:2","urn:x:3","urn:x:4","urn:x:5","urn:x:6","urn:x:7","urn:x:8"]}`)
	one, err := New(s, gen, time.Hour, 0).LocationJSON(context.Background(), "urn:x:1")
	if err != nil {
		t.Fatal(err)
	}
	perEntry := len("urn:x:1") + len(one) + entryOverhead
	c := New(s, gen, time.Hour, shards*perEntry) // room for one entry per shard
	for i := 1; i <= 8; i++ {
		for range 2 {
			if _, err := c.LocationJSON(context.Background(), "urn:x:"+string(rune('0'+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := 0
	for i := range c.shards {
		sh := &c.shards[i]
		total += len(sh.m)
		if len(sh.m) > 1 || sh.bytes > c.max {
			t.Errorf("shard %d holds %d entries, %d bytes; bound is one entry, %d bytes", i, len(sh.m), sh.bytes, c.max)
		}
		sum := 0
		for k, e := range sh.m {
			sum += e.size(k)
		}
		if sum != sh.bytes {
			t.Errorf("shard %d accounts %d bytes, holds %d", i, sh.bytes, sum)
		}
	}
	if total == 0 {
		t.Error("nothing cached")
	}
}
