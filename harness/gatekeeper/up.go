package gatekeeper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgetrace/edgetrace/harness/cluster"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// UpOptions describe a governed cluster: a provider's cluster with
// Gatekeeper installed and a bundle live.
type UpOptions struct {
	Provider    string // "local" (default) or "kind"
	KubeVersion string
	// NodeImages pins kind node images (see cluster.NodeImage).
	NodeImages []string
	Version    string // Gatekeeper version
	Mutation   bool
	// AuditInterval, when set, replaces Gatekeeper's 60 s audit period.
	AuditInterval time.Duration
	Dir           string // state directory, e.g. .harness
	Root          string // repository root (hack/tools.sh)
	Bundle        []*unstructured.Unstructured
	Log           io.Writer
}

// Governed is a running governed cluster.
type Governed struct {
	Cluster    cluster.Provider
	Gatekeeper *Gatekeeper
}

// Up brings a governed cluster up and returns once the bundle is live. Every
// step reuses what is already running and healthy, so Up after Up is cheap,
// and Up after a crash cleans up and starts over.
func Up(ctx context.Context, o UpOptions) (*Governed, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tools := &cluster.Tools{Root: o.Root}
	if current, err := cluster.CurrentProvider(o.Dir); err != nil {
		return nil, fmt.Errorf("%w: run `harness down` first", err)
	} else if current != "" && current != cmp.Or(o.Provider, "local") {
		return nil, fmt.Errorf("a %s cluster is recorded in %s: run `harness down` first", current, o.Dir)
	}
	p, err := cluster.New(o.Provider, cluster.Options{Dir: o.Dir, KubeVersion: o.KubeVersion, NodeImages: o.NodeImages, Tools: tools, Log: o.Log})
	if err != nil {
		return nil, err
	}
	// Check the Gatekeeper version before touching the cluster: a typo must
	// not leave a new control plane running, or take down a running one.
	version := cmp.Or(o.Version, DefaultVersion)
	if p.Name() == "kind" {
		_, err = ReleaseManifest(ctx, version)
	} else {
		_, err = tools.Path(ctx, "gatekeeper", version)
	}
	if err != nil {
		return nil, fmt.Errorf("gatekeeper %s: %w", version, err)
	}
	if err := p.Create(ctx); err != nil {
		return nil, err
	}
	gk, err := New(Options{Version: o.Version, Dir: o.Dir, Kubeconfig: p.Kubeconfig(), Tools: tools, Mutation: o.Mutation, AuditInterval: o.AuditInterval, InCluster: p.Name() == "kind", Log: o.Log})
	if err != nil {
		return nil, err
	}
	if p.Name() == "kind" {
		err = gk.InstallManifest(ctx)
	} else {
		err = gk.Install(ctx)
	}
	if err != nil {
		return nil, err
	}
	if len(o.Bundle) > 0 {
		if err := gk.Prune(ctx, o.Bundle); err != nil {
			return nil, err
		}
		if err := gk.ApplyBundle(ctx, o.Bundle, 3*time.Minute); err != nil {
			return nil, err
		}
	}
	return &Governed{Cluster: p, Gatekeeper: gk}, nil
}

// Down stops and removes everything Up started under dir. It needs no
// running cluster and succeeds when there is nothing to remove.
func Down(ctx context.Context, dir, root string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	errs = append(errs, Teardown(dir))
	name, err := cluster.CurrentProvider(dir)
	if err != nil {
		// Damaged from outside (its writes are atomic): it must not keep the
		// cluster up for good. The local provider still finds its processes.
		fmt.Fprintf(log, "harness: %v; removing what a local cluster would have left (a kind cluster, if it was one, stays: `kind delete cluster`)\n", err)
	}
	if name == "" {
		// No recorded cluster; a crash before the first state write may still
		// have left local processes, which the local provider finds by marker.
		name = "local"
	}
	p, err := cluster.New(name, cluster.Options{Dir: dir, Tools: &cluster.Tools{Root: root}, Log: log})
	if err == nil {
		err = p.Delete(ctx)
	}
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Logs stay for post-mortems, and so do the e2e runs' artifacts (which
	// `make e2e` writes to .harness/e2e, not `up`); everything else is gone.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "logs" && e.Name() != "e2e" { // the lock file too: we are done with it
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// lockFile serialises Up and Down on one state directory: two at once would
// start two control planes on one data directory, or stop one half-started.
const lockFile = ".lock"

func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("harness state: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another harness up or down is running on %s", dir)
		}
		return nil, fmt.Errorf("harness state: lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
