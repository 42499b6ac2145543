// Package proc starts long-lived helper processes (etcd, kube-apiserver, the
// Gatekeeper webhook) so that they outlive the command that started them, and
// stops them later — possibly from another process, possibly after a crash — by
// PID, never by name.
//
// A PID on its own is not a safe handle across processes: after a reboot or a
// crash the number may belong to something else. Every process started here
// therefore names a marker (a directory that belongs to this cluster) as the
// value of one of its flags (--data-dir=DIR), and Stop only signals a PID
// whose command line still has such a flag. Only a flag counts: a shell or an
// editor that merely mentions the path is not ours.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Handle identifies a process started by the harness.
type Handle struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Marker string `json:"marker"` // a directory one of its flags names (see names)
}

// names reports whether a NUL-separated command line has a flag whose value
// is marker or a path below it: --flag=marker, --flag=marker/sub.
func names(cmdline []byte, marker string) bool {
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		flag, value, ok := strings.Cut(arg, "=")
		if ok && strings.HasPrefix(flag, "-") && (value == marker || strings.HasPrefix(value, marker+"/")) {
			return true
		}
	}
	return false
}

// Start runs cmd in its own process group with stdout and stderr appended to
// logPath, and returns without waiting for it. The process survives the exit
// of its parent (it is not in the terminal's foreground group, and its output
// goes to a file rather than a pipe that would break). marker must appear in
// cmd's arguments.
func Start(name string, cmd *exec.Cmd, logPath, marker string) (Handle, error) {
	if !names([]byte(strings.Join(cmd.Args, "\x00")), marker) {
		return Handle{}, fmt.Errorf("start %s: no flag of its arguments names the marker %q", name, marker)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return Handle{}, fmt.Errorf("start %s: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Handle{}, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return Handle{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap the child if it exits while we are still running, so it does not
	// linger as a zombie that Alive would report as running.
	go func() { _ = cmd.Wait() }()
	h := Handle{Name: name, PID: cmd.Process.Pid, Marker: marker}
	// Right after execve the kernel can show /proc/PID/cmdline empty for a
	// moment (seen here about once in 150 starts), which would make a fresh
	// process look foreign to Alive; wait, briefly, until it reads back.
	cmdline := filepath.Join("/proc", strconv.Itoa(h.PID), "cmdline")
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if raw, err := os.ReadFile(cmdline); err != nil || len(raw) > 0 {
			break
		}
	}
	return h, nil
}

// Alive reports whether h's process is running and is still the process the
// harness started (its command line contains the marker).
func (h Handle) Alive() bool {
	if h.PID <= 0 {
		return false
	}
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(h.PID), "cmdline"))
	if err != nil || !names(raw, h.Marker) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(h.PID), "stat"))
	if err != nil {
		return false
	}
	// A zombie has exited; only its parent's wait is missing.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// Stop sends SIGTERM to h's process group, waits up to grace for it to exit,
// then sends SIGKILL. Stopping a process that is already gone is not an error.
func (h Handle) Stop(grace time.Duration) error {
	if !h.Alive() {
		return nil
	}
	signal := func(sig syscall.Signal) error {
		// The process leads its own group (Setpgid), so -PID reaches any
		// children it forked too.
		err := syscall.Kill(-h.PID, sig)
		if errors.Is(err, syscall.ESRCH) {
			err = syscall.Kill(h.PID, sig)
		}
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	if err := signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s (pid %d): %w", h.Name, h.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !h.Alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s (pid %d): %w", h.Name, h.PID, err)
	}
	for i := 0; i < 100 && h.Alive(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if h.Alive() {
		return fmt.Errorf("kill %s (pid %d): still running", h.Name, h.PID)
	}
	return nil
}

// clockTick is the unit of /proc/PID/stat's CPU times (USER_HZ, which Linux
// fixes at 100 for user space whatever the kernel's own tick).
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time h's process has used so
// far, once it has checked that the PID is still h's.
func (h Handle) CPUTime() (time.Duration, error) {
	if !h.Alive() {
		return 0, fmt.Errorf("cpu time of %s (pid %d): not running", h.Name, h.PID)
	}
	d, err := CPUTime(h.PID)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", h.Name, err)
	}
	return d, nil
}

// CPUTime returns the user plus system CPU time process pid has used so
// far, at the kernel's 10 ms resolution: a cost per request is a difference
// over many requests.
func CPUTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	// The command name in parentheses may hold spaces; count fields after
	// it. utime and stime are fields 14 and 15 of the line, so 12 and 13
	// (from 1) after the name.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time of pid %d: short /proc stat line %q", pid, stat)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// FindByMarker returns the PIDs of all processes with a flag naming marker
// (or a path below it). It finds processes a crashed harness started but never recorded, and
// the children that libraries such as envtest start without exposing a PID.
func FindByMarker(marker string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		h := Handle{PID: pid, Marker: marker}
		if h.Alive() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
