package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edgetrace/edgetrace/harness/templategen"
)

func init() {
	var root string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write constrainttemplates/*/template.yaml and deploy/gatekeeper/templates/ from policies/",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			written, err := templategen.Write(root)
			if err != nil {
				return err
			}
			for _, w := range written {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", ".", "repository root")
	rootCmd.AddCommand(cmd)
}
