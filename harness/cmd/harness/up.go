package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster"
	"github.com/edgetrace/edgetrace/harness/gatekeeper"
	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// stateDir is where up keeps the running cluster's state, logs and kubeconfig.
const stateDir = ".harness"

// mutationOverlays are where the bundle's mutation overlay may live; the
// first that exists is applied on top of the bundle by --mutation.
var mutationOverlays = []string{"deploy/gatekeeper/mutation", "deploy/gatekeeper-mutation"}

func init() {
	var provider, kubeVersion, gkVersion, bundleDir string
	var mutation bool
	var nodeImages []string
	var auditInterval time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring up a governed cluster (Gatekeeper + the policy bundle) and leave it running",
		Long: `up creates a cluster, installs Gatekeeper with a fail-closed webhook, applies the
policy bundle and returns once every constraint is enforced. State, logs and the
admin kubeconfig are in .harness/ (kubeconfig: .harness/kubeconfig). Running up
again reuses what is healthy; run "harness down" to stop and remove everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// envtest logs through controller-runtime, which complains with a
			// stack trace when no logger is set; progress goes to stderr instead.
			ctrllog.SetLogger(logr.Discard())
			start := time.Now()
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			// KIND_NODE_IMAGES may stay exported for kind runs; only an
			// explicit --node-image is an error with the local provider.
			if provider != "kind" && !cmd.Flags().Changed("node-image") {
				nodeImages = nil
			}
			bundle, err := loadBundle(bundleDir, mutation)
			if err != nil {
				return err
			}
			g, err := gatekeeper.Up(cmd.Context(), gatekeeper.UpOptions{
				Provider:      provider,
				KubeVersion:   kubeVersion,
				NodeImages:    nodeImages,
				Version:       gkVersion,
				Mutation:      mutation,
				AuditInterval: auditInterval,
				Dir:           filepath.Join(root, stateDir),
				Root:          root,
				Bundle:        bundle,
				Log:           cmd.ErrOrStderr(),
			})
			if err != nil {
				return fmt.Errorf("up: %w (logs in %s)", err, filepath.Join(stateDir, "logs"))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "up: governed %s cluster ready in %s\n", g.Cluster.Name(), time.Since(start).Round(100*time.Millisecond))
			fmt.Fprintf(cmd.OutOrStdout(), "export KUBECONFIG=%s\n", g.Cluster.Kubeconfig())
			return nil
		},
	}
	cmd.Flags().DurationVar(&auditInterval, "audit-interval", 0, "how often Gatekeeper audits existing objects (default: Gatekeeper's 60s)")
	cmd.Flags().StringVar(&provider, "provider", "local", "cluster provider: local (no Docker) or kind")
	cmd.Flags().StringVar(&kubeVersion, "kube-version", envOr("KUBE_VERSION", cluster.DefaultKubeVersion), "Kubernetes version")
	cmd.Flags().StringSliceVar(&nodeImages, "node-image", strings.Fields(os.Getenv("KIND_NODE_IMAGES")),
		"kind node image pinned by digest (kindest/node:vX.Y.Z@sha256:…); repeat for several versions, the one tagged --kube-version is used")
	cmd.Flags().StringVar(&gkVersion, "gatekeeper", envOr("GATEKEEPER_VERSION", gatekeeper.DefaultVersion), "Gatekeeper version (v3.23.1 or v3.17.0)")
	cmd.Flags().StringVar(&bundleDir, "bundle", "deploy/gatekeeper", "policy bundle (kustomize directory) to apply")
	cmd.Flags().BoolVar(&mutation, "mutation", false, "also register the mutating webhook and apply the mutation overlay")
	rootCmd.AddCommand(cmd)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadBundle renders the bundle as operators apply it, plus the mutation
// overlay when asked for.
func loadBundle(dir string, mutation bool) ([]*unstructured.Unstructured, error) {
	objs, err := policy.LoadObjects(dir)
	if err != nil {
		return nil, fmt.Errorf("up: bundle: %w", err)
	}
	if !mutation {
		return objs, nil
	}
	for _, overlay := range mutationOverlays {
		if _, err := os.Stat(overlay); err != nil {
			continue
		}
		extra, err := policy.LoadObjects(overlay)
		if err != nil {
			return nil, fmt.Errorf("up: mutation overlay: %w", err)
		}
		return append(objs, extra...), nil
	}
	return nil, fmt.Errorf("up: --mutation: no mutation overlay (looked in %v)", mutationOverlays)
}
