package load

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/load/baseline"
)

func TestRunAtFixedRate(t *testing.T) {
	srv := httptest.NewServer(baseline.Handler())
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Scenario: "location", Rate: 200, Duration: time.Second, PreloadEvents: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 190 || res.Requests > 210 || res.Success != 1 || res.P99 <= 0 || res.P999 < res.P99 {
		t.Errorf("result %s", res)
	}
}

func TestRunStopsAfterEventBudget(t *testing.T) {
	srv := httptest.NewServer(baseline.Handler())
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Scenario: "capture", Events: 250, EventsPerDoc: 100, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 3 || res.Success != 1 {
		t.Errorf("250 events in 100-event documents: %s, want 3 requests", res)
	}
	if _, err := Run(context.Background(), Config{BaseURL: srv.URL, Scenario: "bogus", Duration: time.Second}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestLocationPathsDeterministic(t *testing.T) {
	a, b := LocationPaths(1, 500, 10, 1), LocationPaths(1, 500, 10, 1)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("paths differ: %s vs %s", a[i], b[i])
		}
	}
}
