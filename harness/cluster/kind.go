package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	reference "github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	"sigs.k8s.io/yaml"
)

// KindClusterName is the kind cluster the harness creates for the state
// directory dir: one per directory, so that the e2e tests (a temporary
// directory) never reuse or delete a developer's `harness up` cluster
// (.harness/).
func KindClusterName(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return "edgetrace-" + hex.EncodeToString(sum[:4])
}

// EdgeNodeLabel is the label the tracker's nodeSelector pins workloads to.
const EdgeNodeLabel = "node-type"

// wasmedgeRuntimePatch registers a containerd runtime handler named wasmedge
// on every kind node. kind's node image carries no runwasi shim; on K3s the
// wasmedge shim runs the tracker's native ELF entrypoint as an ordinary Linux
// container, which is what runc does, so the handler maps to runc and the
// RuntimeClass `wasmedge` schedules and runs the same pods as on the edge.
// Its settings are those of the node image's own runc handler (kind's
// containerd config.toml): the base runtime spec and systemd cgroups, which
// the kubelet on the node is configured for.
const wasmedgeRuntimePatch = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmedge]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmedge.options]
    SystemdCgroup = true
`

// NodeImage picks the kind node image for kubeVersion: from pinned —
// references such as kindest/node:v1.36.3@sha256:…, as kind's release notes
// list them — the one tagged kubeVersion, and kindest/node:<kubeVersion>
// when nothing is pinned. Pins that do not parse, carry no tag, or include
// none for kubeVersion are an error: a pin list is a promise that nothing
// else runs.
func NodeImage(kubeVersion string, pinned []string) (string, error) {
	if len(pinned) == 0 {
		return "kindest/node:" + kubeVersion, nil
	}
	var tags []string
	for _, image := range pinned {
		if _, err := reference.ParseReference(image); err != nil {
			return "", fmt.Errorf("kind node image %q: %w", image, err)
		}
		// A digest reference drops the tag, and a missing one defaults to
		// latest, so read it from the text.
		repoAndTag, _, _ := strings.Cut(image, "@")
		tag, err := reference.NewTag(repoAndTag)
		if err != nil || !strings.Contains(repoAndTag[strings.LastIndex(repoAndTag, "/")+1:], ":") {
			return "", fmt.Errorf("kind node image %q: no Kubernetes version tag to choose it by", image)
		}
		if tag.TagStr() == kubeVersion {
			return image, nil
		}
		tags = append(tags, tag.TagStr())
	}
	return "", fmt.Errorf("no kind node image pinned for Kubernetes %s (pinned: %s)", kubeVersion, strings.Join(tags, ", "))
}

// KindConfig renders the kind cluster: one control-plane node and one worker
// labelled as an edge node, both running image and with the wasmedge runtime
// handler.
func KindConfig(name, image string) *v1alpha4.Cluster {
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     name,
		Nodes: []v1alpha4.Node{
			{Role: v1alpha4.ControlPlaneRole, Image: image},
			{Role: v1alpha4.WorkerRole, Image: image, Labels: map[string]string{EdgeNodeLabel: "edge"}},
		},
		ContainerdConfigPatches: []string{wasmedgeRuntimePatch},
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg
}

// RenderKindConfig is KindConfig as YAML, as `kind create cluster --config` reads it.
func RenderKindConfig(name, image string) ([]byte, error) {
	raw, err := yaml.Marshal(KindConfig(name, image))
	if err != nil {
		return nil, fmt.Errorf("render kind config: %w", err)
	}
	return raw, nil
}

// Kind is a kind cluster (Docker or Podman on the host).
type Kind struct {
	opts     Options
	provider *kindcluster.Provider
}

var _ Provider = (*Kind)(nil)

func (k *Kind) Name() string        { return "kind" }
func (k *Kind) Kubeconfig() string  { return filepath.Join(k.opts.Dir, "kubeconfig") }
func (k *Kind) clusterName() string { return KindClusterName(k.opts.Dir) }

func (k *Kind) kind() (*kindcluster.Provider, error) {
	if k.provider != nil {
		return k.provider, nil
	}
	opt, err := kindcluster.DetectNodeProvider()
	if err != nil {
		return nil, fmt.Errorf("kind: %w", err)
	}
	if opt == nil {
		return nil, fmt.Errorf("kind: neither docker nor podman is available")
	}
	k.provider = kindcluster.NewProvider(opt)
	return k.provider, nil
}

func (k *Kind) Create(ctx context.Context) error {
	image, err := NodeImage(k.opts.KubeVersion, k.opts.NodeImages)
	if err != nil {
		return err
	}
	p, err := k.kind()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(k.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("kind: %w", err)
	}
	names, err := p.List()
	if err != nil {
		return fmt.Errorf("kind: list clusters: %w", err)
	}
	name := k.clusterName()
	if slices.Contains(names, name) {
		s, err := readState(k.opts.Dir)
		keep, err := keepKindCluster(s, err, name, k.opts.KubeVersion, image)
		if err != nil {
			return err
		}
		if !keep {
			fmt.Fprintf(k.opts.Log, "kind: cluster %s is not a finished cluster of this directory: recreating it\n", name)
			if err := p.Delete(name, k.Kubeconfig()); err != nil {
				return fmt.Errorf("kind: delete %s: %w", name, err)
			}
			names = slices.DeleteFunc(names, func(n string) bool { return n == name })
		}
	}
	if !slices.Contains(names, name) {
		if err := writeState(k.opts.Dir, &state{Provider: k.Name(), KubeVersion: k.opts.KubeVersion, NodeImage: image}); err != nil {
			return err
		}
		fmt.Fprintf(k.opts.Log, "kind: creating cluster %s (%s)\n", name, image)
		if err := p.Create(name,
			kindcluster.CreateWithV1Alpha4Config(KindConfig(name, image)),
			kindcluster.CreateWithKubeconfigPath(k.Kubeconfig()),
			kindcluster.CreateWithWaitForReady(0),
		); err != nil {
			return fmt.Errorf("kind: create: %w", err)
		}
	}
	if err := p.ExportKubeConfig(name, k.Kubeconfig(), false); err != nil {
		return fmt.Errorf("kind: export kubeconfig: %w", err)
	}
	return writeState(k.opts.Dir, &state{Provider: k.Name(), KubeVersion: k.opts.KubeVersion, NodeImage: image, Complete: true})
}

// keepKindCluster decides what Create does with an existing kind cluster
// given the state its directory recorded: reuse it when it was finished
// at this version and image; refuse when it was finished at another, as
// the local provider does, so that a typo in the version cannot destroy a
// working cluster; otherwise (a create that crashed half-way, no or
// unreadable state) have it removed and made anew.
func keepKindCluster(s *state, readErr error, name, version, image string) (bool, error) {
	if readErr != nil || s == nil || !s.Complete {
		return false, nil
	}
	if s.KubeVersion != version || s.NodeImage != image {
		return false, fmt.Errorf("kind: cluster %s runs %s (Kubernetes %s), asked for %s (%s): run `harness down` first",
			name, s.NodeImage, s.KubeVersion, image, version)
	}
	return true, nil
}

func (k *Kind) LoadImage(ctx context.Context, archive string) error {
	p, err := k.kind()
	if err != nil {
		return err
	}
	nodes, err := p.ListInternalNodes(k.clusterName())
	if err != nil {
		return fmt.Errorf("kind: load image: %w", err)
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			return fmt.Errorf("kind: load image: %w", err)
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("kind: load image %s into %s: %w", archive, n.String(), err)
		}
	}
	return nil
}

func (k *Kind) CollectLogs(ctx context.Context, dir string) error {
	p, err := k.kind()
	if err != nil {
		return err
	}
	if err := p.CollectLogs(k.clusterName(), dir); err != nil {
		return fmt.Errorf("kind: collect logs: %w", err)
	}
	return nil
}

func (k *Kind) Delete(ctx context.Context) error {
	p, err := k.kind()
	if err != nil {
		return err
	}
	if err := p.Delete(k.clusterName(), k.Kubeconfig()); err != nil {
		return fmt.Errorf("kind: delete: %w", err)
	}
	for _, f := range []string{k.Kubeconfig(), filepath.Join(k.opts.Dir, stateFile)} {
		if err := os.RemoveAll(f); err != nil {
			return fmt.Errorf("kind: delete: %w", err)
		}
	}
	return nil
}
