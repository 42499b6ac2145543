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
		t0, deadline := time.Now(), waitDeadline(tb)
		for errors.Is(err, syscall.EWOULDBLOCK) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			err = flockRetry(f, how|syscall.LOCK_NB)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			tb.Fatalf("gave up on the broker lock (%s, %s) after %s: another broker test held it all along",
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

// maxWait bounds a wait for the lock when the test has no deadline.
const maxWait = 30 * time.Minute

// waitDeadline is when a wait for the lock gives up: a minute before the
// test binary's -timeout, if it has one, else after maxWait.
func waitDeadline(tb testing.TB) time.Time {
	deadline := time.Now().Add(maxWait)
	if t, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
			deadline = d.Add(-time.Minute)
		}
	}
	return deadline
}
