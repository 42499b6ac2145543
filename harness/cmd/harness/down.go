package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetrace/edgetrace/harness/gatekeeper"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "down",
		Short: "Stop and remove everything `harness up` started (logs stay in .harness/logs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			if err := gatekeeper.Down(cmd.Context(), filepath.Join(root, stateDir), root, cmd.ErrOrStderr()); err != nil {
				return fmt.Errorf("down: %w", err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "down: nothing left running")
			return nil
		},
	})
}
