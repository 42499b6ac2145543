package load

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
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

// The server here runs in the test's own process, so the two CPU figures
// measure the same process by two routes (/proc and getrusage) and must
// agree to within /proc's 10 ms ticks.
func TestRunReportsCPU(t *testing.T) {
	srv := httptest.NewServer(baseline.Handler())
	defer srv.Close()
	res, err := Run(context.Background(), Config{BaseURL: srv.URL, Scenario: "location", Duration: time.Second, PreloadEvents: 1000, Seed: 1, ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerCPU < 100*time.Millisecond || res.ClientCPU < 100*time.Millisecond {
		t.Fatalf("a second flat out used server %s, client %s of CPU; want well over 100ms", res.ServerCPU, res.ClientCPU)
	}
	if d := res.ServerCPU - res.ClientCPU; d > 30*time.Millisecond || d < -30*time.Millisecond {
		t.Errorf("same process: /proc says %s, getrusage %s", res.ServerCPU, res.ClientCPU)
	}
	if !strings.Contains(res.String(), " server_cpu=") {
		t.Errorf("result %s does not print the CPU figures", res)
	}
	if _, err := Run(context.Background(), Config{BaseURL: srv.URL, Scenario: "location", Duration: time.Second, PreloadEvents: 1000, ServerPID: 1 << 30}); err == nil {
		t.Error("a server PID that does not exist was accepted")
	}
}
