package gatekeeper

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
