package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/edgetrace/edgetrace/harness/report"
)

func init() {
	var bundleDir, engine, output, overlay string
	cmd := &cobra.Command{
		Use:   "check [flags] PATH...",
		Short: "Evaluate manifests against the policy bundle and print the verdicts",
		Long: `check evaluates files, directories and - (stdin), holding multi-document YAML
or JSON, against the policy bundle with Gatekeeper's engine in-process.
Namespace labels come from the Namespace objects among the inputs.

Exit status: 0 when every object is allowed, 1 when any is denied (or, with
--engine both, when the engines disagree), 2 on bad input.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if output != "text" && output != "json" {
				return &exitError{2, fmt.Errorf("-o %q: want text or json", output)}
			}
			inputs, err := policy.ReadPaths(paths, cmd.InOrStdin())
			if err != nil {
				return &exitError{2, err}
			}
			b, err := policy.LoadBundle(bundleDir)
			if err == nil && overlay != "" {
				b, err = b.WithOverlay(overlay)
			}
			if err != nil {
				return &exitError{2, err}
			}
			results, disagreements, err := runCheck(cmd, b, engine, inputs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				err = report.JSON(out, results)
			} else {
				err = report.Text(out, results)
			}
			if err != nil {
				return &exitError{2, err}
			}
			for _, d := range disagreements {
				fmt.Fprintln(cmd.ErrOrStderr(), "engines disagree:", d)
			}
			if len(disagreements) > 0 {
				return &exitError{1, fmt.Errorf("%d engine disagreements", len(disagreements))}
			}
			for _, r := range results {
				if !r.Allowed {
					return &exitError{1, errors.New("")}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&bundleDir, "bundle", "deploy/gatekeeper", "policy bundle: a kustomize directory or a directory of manifests")
	cmd.Flags().StringVar(&overlay, "overlay", "", "extra bundle objects to add, e.g. deploy/gatekeeper/mutation")
	cmd.Flags().StringVar(&engine, "engine", "cel", "rego, cel (CEL where a template has it, Rego elsewhere) or both (fail on disagreement)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	rootCmd.AddCommand(cmd)
}

func runCheck(cmd *cobra.Command, b *policy.Bundle, engine string, inputs []policy.Input) ([]policy.Result, []policy.Disagreement, error) {
	ctx := cmd.Context()
	if engine == "both" {
		pair, err := policy.NewPair(ctx, b)
		if err != nil {
			return nil, nil, &exitError{2, err}
		}
		results, d, err := pair.Check(ctx, inputs)
		if err != nil {
			return nil, nil, &exitError{2, err}
		}
		return results, d, nil
	}
	e, err := policy.ParseEngine(engine)
	if err != nil {
		return nil, nil, &exitError{2, fmt.Errorf("--engine: %w", err)}
	}
	ev, err := policy.NewEvaluator(ctx, b, e)
	if err != nil {
		return nil, nil, &exitError{2, err}
	}
	results, err := ev.Check(ctx, inputs)
	if err != nil {
		return nil, nil, &exitError{2, err}
	}
	return results, nil, nil
}
