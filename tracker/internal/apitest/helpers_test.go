package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/cache"
	trackerhttp "github.com/edgetrace/edgetrace/tracker/http"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

type env struct {
	t     *testing.T
	store *sqlite.Store
	h     http.Handler
}

type envOpts struct {
	cache       bool
	trackingOff bool
	maxBody     int64
	maxEvent    int
	path        string
	noSync      bool // see sqlite.Options.UnsafeNoSync
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "tracker.db")
	}
	gen := new(cache.Generation)
	store, err := sqlite.Open(context.Background(), sqlite.Options{Path: o.path, OnCommit: gen.Bump, UnsafeNoSync: o.noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	var tracking tracker.TrackingService = store
	var stats func() (uint64, uint64)
	if o.cache {
		c := cache.New(store, gen, 300*time.Second, 0)
		tracking, stats = c, c.Stats
	}
	srv := trackerhttp.New(trackerhttp.Options{
		Capture: store, Events: store, Tracking: tracking, CacheStats: stats,
		TrackingEnabled: !o.trackingOff, Ready: store.Ready, MaxBody: o.maxBody, MaxEvent: o.maxEvent, StoreSize: store.Size, WriterBusy: store.WriterBusy,
	})
	tt, _ := t.(*testing.T)
	return &env{t: tt, store: store, h: srv.Handler()}
}

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode response %q: %v", r.body, err)
	}
}

func (e *env) do(method, target, contentType string, body []byte) resp {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return resp{code: w.Code, header: w.Result().Header, body: b}
}

func (e *env) doHeader(method, target, contentType string, body []byte, k, v string) resp {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(k, v)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return resp{code: w.Code, header: w.Result().Header, body: b}
}

func (e *env) capture(doc []byte) resp {
	return e.do("POST", "/capture", "application/ld+json", doc)
}

func (e *env) get(path string) resp { return e.do("GET", path, "", nil) }

func esc(s string) string { return url.PathEscape(s) }

// problem is the decoded RFC 7807 body.
type problem struct {
	Type   string               `json:"type"`
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Errors []tracker.FieldError `json:"errors"`
}

// queryDoc is the part of an EPCISQueryDocument tests read.
type queryDoc struct {
	Type      string `json:"type"`
	EPCISBody struct {
		QueryResults struct {
			ResultsBody struct {
				EventList []map[string]any `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}

func (q queryDoc) ids() []string {
	var out []string
	for _, e := range q.EPCISBody.QueryResults.ResultsBody.EventList {
		id, _ := e["eventID"].(string)
		out = append(out, id)
	}
	return out
}

// tempDir is for state shared by benchmarks across sub-benchmarks, which
// outlives any one b.TempDir.
func tempDir() (string, error) { return os.MkdirTemp("", "tracker-bench-") }
