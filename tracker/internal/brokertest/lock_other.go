//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package brokertest

import "testing"

// lock does nothing where flock(2) is missing: there, run the packages that
// use the broker one at a time (go test -p 1).
func lock(tb testing.TB, exclusive bool) {}
