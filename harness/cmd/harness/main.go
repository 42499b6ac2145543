// Command harness is the thin CLI over edgetrace's test-harness libraries:
// policy evaluation (check, generate), load generation and cluster lifecycle.
// Each subcommand lives in its own file and registers itself on rootCmd.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "harness",
	Short:         "edgetrace test harness: evaluate the policy bundle, drive load, run clusters",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit code chosen by a subcommand (for example
// `check` exits 1 when an object is denied and 2 on bad input).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// cpuProfile, when set, receives a CPU profile of the whole command: the way
// to see where a slow `check` over a large corpus spends its time.
var cpuProfile string

func init() {
	rootCmd.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	_ = rootCmd.PersistentFlags().MarkHidden("cpuprofile")
}

func main() {
	err := run()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "harness:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "harness:", err)
	os.Exit(2)
}

func run() error {
	rootCmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return pprof.StartCPUProfile(f)
	}
	defer pprof.StopCPUProfile()
	return rootCmd.Execute()
}
