package gatekeeper

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster/proc"
)

// TestDownWithNothingRunning covers `harness down` twice in a row, or after a
// crash that left only stale files, or with its state files damaged: it
// must succeed and leave only logs.
func TestDownWithNothingRunning(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		t.Run(map[bool]string{false: "stale", true: "damaged"}[damaged], func(t *testing.T) { downWithNothingRunning(t, damaged) })
	}
}

func downWithNothingRunning(t *testing.T, damaged bool) {
	dir := t.TempDir()
	for _, f := range []string{"cluster.json", "kubeconfig", "gatekeeper/state.json", "logs/etcd.log"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content := "x"
		switch {
		case damaged:
		case f == "cluster.json":
			// A state whose recorded PID is now someone else's (PID 1).
			content = `{"provider":"local","kubeVersion":"v1.36.3","processes":[{"name":"etcd","pid":1,"marker":"` + dir + `/local/etcd"}]}`
		case f == "gatekeeper/state.json":
			content = `{"version":"v3.23.1","port":1,"process":{"name":"gatekeeper","pid":1,"marker":"` + dir + `/gatekeeper/certs"}}`
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := Down(context.Background(), dir, t.TempDir(), nil); err != nil {
			t.Fatalf("down #%d: %v", i+1, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "logs" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left behind %v, want only logs", names)
	}
}

func TestGeneratesVAPBindings(t *testing.T) {
	for v, want := range map[string]bool{
		"v3.17.0": false, "v3.17.1": false, "v3.18.0": false, // panic on namespaceSelector (gatekeeper#3753)
		"v3.18.2": true, "v3.23.1": true,
		"": false, "latest": false,
	} {
		if got := GeneratesVAPBindings(v); got != want {
			t.Errorf("GeneratesVAPBindings(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestUpAndDownTakeTurns: a second up or down on a state directory in use
// fails at once, naming it, rather than starting a second control plane on
// the same data or stopping a half-started one.
func TestUpAndDownTakeTurns(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Down(context.Background(), dir, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "another harness") {
		t.Errorf("down while locked: %v, want it refused", err)
	}
	if _, err := Up(context.Background(), UpOptions{Dir: dir, Root: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "another harness") {
		t.Errorf("up while locked: %v, want it refused", err)
	}
	unlock()
	if err := Down(context.Background(), dir, t.TempDir(), nil); err != nil {
		t.Errorf("down after unlock: %v", err)
	}
}

// TestDownWithARelativeDir: a webhook process left unrecorded (a crash
// before the state write) is found by its absolute --cert-dir even when
// down is given the state directory as a relative path.
func TestDownWithARelativeDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "state")
	marker := filepath.Join(dir, "gatekeeper", "certs")
	h, err := proc.Start("fake-gatekeeper", exec.Command("sh", "-c", "sleep 60; :", "sh", "--cert-dir="+marker), filepath.Join(parent, "fake.log"), marker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(time.Second) })
	if !h.Alive() {
		t.Fatal("the fake webhook process is not running")
	}
	t.Chdir(parent)
	if err := Down(context.Background(), "state", t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if h.Alive() {
		t.Error("the webhook process is still running after down")
	}
}

// TestUpKeepsToTheRecordedProvider: up without a provider means the local
// one, so over a recorded kind cluster it is refused rather than taken as
// leave to replace the state and orphan that cluster.
func TestUpKeepsToTheRecordedProvider(t *testing.T) {
	dir := t.TempDir()
	state := `{"provider":"kind","kubeVersion":"v1.36.3","nodeImage":"kindest/node:v1.36.3","complete":true}`
	if err := os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, provider := range []string{"", "local"} {
		_, err := Up(context.Background(), UpOptions{Dir: dir, Root: t.TempDir(), Provider: provider})
		if err == nil || !strings.Contains(err.Error(), "a kind cluster is recorded") {
			t.Errorf("up --provider=%q over a kind cluster: %v, want it refused", provider, err)
		}
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "cluster.json")); string(raw) != state {
		t.Errorf("cluster.json changed to %s", raw)
	}
}
