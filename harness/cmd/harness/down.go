package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetrace/edgetrace/harness/gatekeeper"
	"github.com/spf13/cobra"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove everything `harness up` started (logs stay in .harness/logs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			if dir == "" {
				dir = filepath.Join(root, stateDir)
			}
			if err := gatekeeper.Down(cmd.Context(), dir, root, cmd.ErrOrStderr()); err != nil {
				return fmt.Errorf("down: %w", err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "down: nothing left running")
			return nil
		},
	}
	// hack/e2e.sh passes the state directory of a test run that died before
	// its own teardown (a panic, go test's -timeout).
	cmd.Flags().StringVar(&dir, "dir", "", "state directory of the cluster to remove (default .harness)")
	rootCmd.AddCommand(cmd)
}
