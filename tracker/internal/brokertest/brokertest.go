// Package brokertest coordinates the tests of several test binaries that
// share one RabbitMQ. `go test ./...` runs packages in parallel processes:
// a test that stops the broker (rabbitmqctl stop_app) would fail, or
// silently weaken, a test in another package that dials it meanwhile. Every
// test that uses the broker takes the lock shared; one that stops or
// restarts it takes it exclusive, and so runs while no other does.
//
// The lock is a flock(2) on a file in the temporary directory, so it spans
// processes and is released by the kernel when a test binary dies, however
// it dies. It is only a test helper: product code must not import it.
package brokertest

import (
	"os"
	"path/filepath"
	"testing"
)

// LockPath is the file every broker test locks.
var LockPath = filepath.Join(os.TempDir(), "edgetrace-rabbitmq.lock")

// Shared holds the broker lock shared until tb ends. Take it before the
// first dial: a dial while another test has the broker stopped fails.
func Shared(tb testing.TB) {
	tb.Helper()
	lock(tb, false)
}

// Exclusive holds the broker lock exclusive until tb ends, waiting for every
// other broker test (in any process) to finish. A test that stops the
// broker takes it instead of Shared, not as well: the two locks are separate
// open files, and flock(2) makes them conflict even within one process.
func Exclusive(tb testing.TB) {
	tb.Helper()
	lock(tb, true)
}
