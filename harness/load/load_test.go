package load

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
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
// agree to within /proc's 10 ms ticks (user and system time are each cut
// to a tick). Then the server PID is an idle child process: its CPU must
// stay near zero while the generator's does not, so the figures do come
// from the PID given.
func TestRunReportsCPU(t *testing.T) {
	srv := httptest.NewServer(baseline.Handler())
	defer srv.Close()
	cfg := Config{BaseURL: srv.URL, Scenario: "location", Duration: time.Second, PreloadEvents: 1000, Seed: 1, ServerPID: os.Getpid()}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerCPU < 100*time.Millisecond || res.ClientCPU < 100*time.Millisecond {
		t.Fatalf("a second flat out used server %s, client %s of CPU; want well over 100ms", res.ServerCPU, res.ClientCPU)
	}
	if d := res.ServerCPU - res.ClientCPU; d > 40*time.Millisecond || d < -40*time.Millisecond {
		t.Errorf("same process: /proc says %s, getrusage %s", res.ServerCPU, res.ClientCPU)
	}
	if !strings.Contains(res.String(), " server_cpu=") {
		t.Errorf("result %s does not print the CPU figures", res)
	}

	idle := exec.Command("sleep", "30")
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { idle.Process.Kill(); idle.Wait() }()
	cfg.ServerPID = idle.Process.Pid
	if res, err = Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if res.ServerCPU > 20*time.Millisecond || res.ClientCPU < 100*time.Millisecond {
		t.Errorf("idle server %d: server %s, client %s of CPU; want about 0 and well over 100ms", cfg.ServerPID, res.ServerCPU, res.ClientCPU)
	}

	for _, pid := range []int{1 << 30, -1} {
		cfg.ServerPID = pid
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), strconv.Itoa(pid)) {
			t.Errorf("server PID %d: error %v, want one naming it", pid, err)
		}
	}
}
