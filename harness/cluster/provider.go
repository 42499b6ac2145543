package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Provider creates and owns one cluster. Create and Delete are idempotent:
// Create on a running cluster reuses it, Delete on a missing one succeeds, and
// both clean up what a crashed earlier run left behind.
type Provider interface {
	// Name is the provider's name ("local", "kind").
	Name() string
	// Create brings the cluster up and writes its admin kubeconfig.
	Create(ctx context.Context) error
	// Kubeconfig is the path of the cluster's admin kubeconfig.
	Kubeconfig() string
	// LoadImage makes an OCI image archive available to the cluster's nodes.
	LoadImage(ctx context.Context, archive string) error
	// CollectLogs copies the cluster's component logs into dir.
	CollectLogs(ctx context.Context, dir string) error
	// Delete stops everything Create started and removes its state.
	Delete(ctx context.Context) error
}

// ErrNoNodes is returned by operations that need a node (LoadImage) on a
// provider started without one.
var ErrNoNodes = errors.New("cluster has no nodes")

// Options configure a provider.
type Options struct {
	// Dir holds the cluster's state, logs and kubeconfig (e.g. ".harness").
	Dir string
	// KubeVersion selects the Kubernetes binaries (local) or node image (kind).
	KubeVersion string
	// NodeImages (kind only) pins node images, e.g. by digest; the one
	// tagged KubeVersion replaces kindest/node:<KubeVersion> (see NodeImage).
	NodeImages []string
	// Tools resolves pinned binaries; required by the local provider.
	Tools *Tools
	// Log receives progress messages; nil discards them.
	Log io.Writer
}

// DefaultKubeVersion is the Kubernetes version used when none is given.
const DefaultKubeVersion = "v1.36.3"

// New returns the named provider.
func New(name string, opts Options) (Provider, error) {
	if opts.Dir == "" {
		return nil, errors.New("cluster: no state directory")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	opts.Dir = dir
	if opts.KubeVersion == "" {
		opts.KubeVersion = DefaultKubeVersion
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	switch name {
	case "local", "":
		if opts.Tools == nil {
			return nil, errors.New("cluster: local provider needs Tools to find its binaries")
		}
		if len(opts.NodeImages) > 0 {
			return nil, errors.New("cluster: node images are for the kind provider; the local one runs pinned binaries")
		}
		return &Local{opts: opts}, nil
	case "kind":
		// Refuse a bad pin before anything is created or deleted.
		if _, err := NodeImage(opts.KubeVersion, opts.NodeImages); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		return &Kind{opts: opts}, nil
	default:
		return nil, fmt.Errorf("cluster: unknown provider %q (want local or kind)", name)
	}
}

// RESTConfig loads the admin configuration of p's cluster.
func RESTConfig(p Provider) (*rest.Config, error) { return LoadKubeconfig(p.Kubeconfig()) }

// LoadKubeconfig loads a client configuration for a cluster the harness runs.
func LoadKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	// The harness drives a cluster of its own: client-go's default limit of
	// 5 requests/s would throttle every test and turn latency measurements
	// into measurements of the limiter (a steady 200 ms per request).
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg, nil
}
