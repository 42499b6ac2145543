package proc

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestStartFindStop(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	// The marker rides in the shell's arguments, the way a data directory
	// rides in a real component's flags; the shell stays (no exec) and its
	// sleeping child shares its process group, which Stop must take down too.
	cmd := exec.Command("sh", "-c", "sleep 60; :", marker)
	h, err := Start("sleeper", cmd, filepath.Join(dir, "sleeper.log"), marker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(time.Second) })
	if !h.Alive() {
		t.Fatal("not alive after Start")
	}
	pids, err := FindByMarker(marker)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, h.PID) {
		t.Errorf("FindByMarker = %v, want it to contain %d", pids, h.PID)
	}
	if err := h.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if h.Alive() {
		t.Error("alive after Stop")
	}
	// Stopping again, as `harness down` after `down` does, is not an error.
	if err := h.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestAliveRejectsReusedPID(t *testing.T) {
	// A PID recorded before a crash may now belong to an unrelated process:
	// without the marker in its command line it must not count as ours.
	h := Handle{Name: "stale", PID: 1, Marker: "/no/such/harness/dir"}
	if h.Alive() {
		t.Error("PID 1 reported as a harness process")
	}
	if err := h.Stop(time.Second); err != nil {
		t.Errorf("Stop of a foreign PID: %v", err)
	}
}

func TestStartRequiresMarkerInArgs(t *testing.T) {
	_, err := Start("x", exec.Command("true"), filepath.Join(t.TempDir(), "log"), "/absent")
	if err == nil {
		t.Error("Start accepted a command whose arguments lack the marker")
	}
}
