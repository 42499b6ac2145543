//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package brokertest

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func lock(tb testing.TB, exclusive bool) {
	tb.Helper()
	// Read-only is enough for flock(2), and lets every user open a lock
	// file that another user created.
	f, err := os.Open(LockPath)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(LockPath, os.O_RDONLY|os.O_CREATE, 0o666)
	}
	if err != nil {
		tb.Fatalf("open broker lock: %v", err)
	}
	how, mode := syscall.LOCK_SH, "shared"
	if exclusive {
		how, mode = syscall.LOCK_EX, "exclusive"
	}
	// Try first, so that a test held up by another says why: the wait may
	// last as long as that test does.
	err = flockRetry(f, how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		tb.Logf("waiting for the broker lock (%s, %s): another broker test holds it", mode, LockPath)
		// Polled rather than blocking, so that a wait that would outlast the
		// test binary's -timeout fails here, saying why, instead of in a
		// panic that does not.
		// Polls are short, to catch a gap between two tests holding it.
		t0, deadline := time.Now(), waitDeadline(tb)
		for pause := time.Millisecond; errors.Is(err, syscall.EWOULDBLOCK) && (deadline.IsZero() || time.Now().Before(deadline)); pause = min(2*pause, 20*time.Millisecond) {
			time.Sleep(pause)
			err = flockRetry(f, how|syscall.LOCK_NB)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			tb.Fatalf("gave up on the broker lock (%s, %s) after %s, close to the test binary's -timeout: another broker test held it all along",
				mode, LockPath, time.Since(t0).Round(time.Second))
		}
		tb.Logf("took the broker lock after %s", time.Since(t0).Round(time.Millisecond))
	}
	if err != nil {
		f.Close()
		tb.Fatalf("lock %s (%s): %v", LockPath, mode, err)
	}
	// Closing the file releases the lock.
	tb.Cleanup(func() { f.Close() })
}

// flockRetry is flock(2) that retries on EINTR, which the Go runtime's
// preemption signals can cause during a blocking wait.
func flockRetry(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// waitDeadline is when a wait for the lock gives up: shortly before the
// test binary's -timeout, or never (zero) without one (a benchmark, or
// -timeout 0).
func waitDeadline(tb testing.TB) time.Time {
	t, ok := tb.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}
	}
	d, ok := t.Deadline()
	if !ok {
		return time.Time{}
	}
	return d.Add(-min(time.Minute, time.Until(d)/2))
}
