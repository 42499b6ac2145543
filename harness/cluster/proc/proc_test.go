package proc

import (
	"os"
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
	cmd := exec.Command("sh", "-c", "sleep 60; :", "sh", "--data-dir="+marker)
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

// TestFindByMarkerIgnoresMentions: a process whose command line merely
// mentions the directory (a shell comment, a file below it) is not the
// harness's, and down must not stop it or its group.
func TestFindByMarkerIgnoresMentions(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "local")
	var cmds []*exec.Cmd
	for _, args := range [][]string{
		{"sh", "-c", "sleep 60; : " + marker},
		{"sh", "-c", "sleep 60; :", "sh", marker + "/etcd/member"},
		{"sh", "-c", "sleep 60; :", "sh", "--data-dir=" + marker + "-other"},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cmds = append(cmds, cmd)
	}
	pids, err := FindByMarker(marker)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if slices.Contains(pids, cmd.Process.Pid) {
			t.Errorf("FindByMarker(%s) found %v, which only mentions it", marker, cmd.Args)
		}
	}
}

func TestCPUTimeCountsWork(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	// A loop of shell builtins (no forks: a child's CPU is not its
	// parent's), then a sleep, so two readings after the loop must agree.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; touch "$0.done"; sleep 60`, filepath.Join(dir, "spin"), "--data-dir="+marker)
	h, err := Start("spinner", cmd, filepath.Join(dir, "spinner.log"), marker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(time.Second) })
	for deadline := time.Now().Add(30 * time.Second); !fileExists(filepath.Join(dir, "spin.done")); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not finish in 30s")
		}
	}
	first, err := h.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if first < 50*time.Millisecond {
		t.Errorf("CPU time after 200,000 loop iterations = %s, want at least 50ms", first)
	}
	time.Sleep(200 * time.Millisecond)
	if again, err := h.CPUTime(); err != nil || again-first > 10*time.Millisecond {
		t.Errorf("CPU time while asleep went %s → %s (err %v), want it unchanged within a tick", first, again, err)
	}
	if err := h.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CPUTime(); err == nil {
		t.Error("CPU time of a stopped process: no error")
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }
