package load

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/load/baseline"
)

// The test binary doubles as the server ColdStart starts: with this variable
// set it serves the baseline handler on --listen and exits 0 on SIGTERM, or,
// set to "fail", exits 3 at once.
const (
	helperEnv    = "EDGETRACE_COLDSTART_HELPER"
	helperLogEnv = "EDGETRACE_COLDSTART_HELPER_LOG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "fail":
		os.Stderr.WriteString("helper: refusing to start\n")
		os.Exit(3)
	}
	fs := flag.NewFlagSet("helper", flag.ExitOnError)
	listen := fs.String("listen", "", "")
	mark := fs.String("mark", "", "appended to the file named by "+helperLogEnv+" at start")
	fs.Parse(os.Args[1:])
	if log := os.Getenv(helperLogEnv); log != "" {
		fh, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			os.Exit(1)
		}
		fh.WriteString(*mark)
		fh.Close()
	}
	if err := baseline.Serve(*listen); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

func TestColdStartTakesTurns(t *testing.T) {
	t.Setenv(helperEnv, "serve")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "starts")
	t.Setenv(helperLogEnv, log)
	ds, err := ColdStart(context.Background(), 3, []string{self, "--mark", "a"}, []string{self, "--mark", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if order, err := os.ReadFile(log); err != nil || string(order) != "ababab" {
		t.Errorf("start order %q (%v), want ababab", order, err)
	}
	if _, err := ColdStart(context.Background(), 0, []string{self}); err == nil {
		t.Error("zero runs accepted")
	}
	if len(ds) != 2 || len(ds[0]) != 3 || len(ds[1]) != 3 {
		t.Fatalf("want 2 commands × 3 runs, got %v", ds)
	}
	for _, d := range append(ds[0], ds[1]...) {
		if d <= 0 || d > 10*time.Second {
			t.Errorf("start time %s", d)
		}
	}
}

func TestColdStartReportsEarlyExit(t *testing.T) {
	t.Setenv(helperEnv, "fail")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = ColdStart(context.Background(), 1, []string{self})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("want an early-exit error with the command's stderr, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("early exit noticed only after %s", time.Since(start))
	}
}
