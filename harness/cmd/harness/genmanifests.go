package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/edgetrace/edgetrace/harness/podgen"
	"github.com/edgetrace/edgetrace/harness/policy"
)

func init() {
	var count int
	var seed uint64
	var namespace, bundleDir string
	cmd := &cobra.Command{
		Use:   "gen-manifests DIR",
		Short: "Write random pod and workload manifests (and the rendered bundle) for benchmarks",
		Long: `gen-manifests writes DIR/namespace.yaml, COUNT manifests DIR/obj-NNNNN.yaml
from a seeded generator (the one the engine-parity test uses), and
DIR/../bundle.yaml, the rendered policy bundle, so that harness check and
upstream gator test can be timed on identical input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			write := func(path string, obj any) error {
				raw, err := yaml.Marshal(obj)
				if err != nil {
					return err
				}
				return os.WriteFile(path, raw, 0o644)
			}
			if err := write(filepath.Join(dir, "namespace.yaml"), podgen.Namespace(namespace)); err != nil {
				return err
			}
			g := podgen.New(seed)
			for i := 0; i < count; i++ {
				if err := write(filepath.Join(dir, fmt.Sprintf("obj-%05d.yaml", i)), g.Pod(namespace, podgen.Name("obj", i))); err != nil {
					return err
				}
			}
			objs, err := policy.LoadObjects(bundleDir)
			if err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(filepath.Dir(filepath.Clean(dir)), "bundle.yaml"))
			if err != nil {
				return err
			}
			defer f.Close()
			for _, o := range objs {
				raw, err := yaml.Marshal(o.Object)
				if err != nil {
					return err
				}
				fmt.Fprintf(f, "---\n%s", raw)
			}
			return f.Close()
		},
	}
	cmd.Flags().IntVar(&count, "count", 1000, "number of manifests")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed")
	cmd.Flags().StringVar(&namespace, "namespace", "scm-edge-bench", "governed namespace to place them in")
	cmd.Flags().StringVar(&bundleDir, "bundle", "deploy/gatekeeper", "policy bundle to render")
	rootCmd.AddCommand(cmd)
}
