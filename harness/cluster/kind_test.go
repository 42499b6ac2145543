package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/pelletier/go-toml"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func TestKindConfigHasLabelledEdgeWorker(t *testing.T) {
	raw, err := RenderKindConfig("edgetrace-test", "kindest/node:v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	// Read it back as kind would, so the test checks the YAML, not the struct.
	var got v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &got); err != nil {
		t.Fatalf("rendered config does not parse strictly: %v\n%s", err, raw)
	}
	if got.Kind != "Cluster" || got.APIVersion != "kind.x-k8s.io/v1alpha4" || got.Name != "edgetrace-test" {
		t.Errorf("type = %s/%s, name %q", got.APIVersion, got.Kind, got.Name)
	}
	var workers, planes int
	for _, n := range got.Nodes {
		if n.Image != "kindest/node:v1.36.3" {
			t.Errorf("node %s image = %q, want kindest/node:v1.36.3", n.Role, n.Image)
		}
		switch n.Role {
		case v1alpha4.WorkerRole:
			workers++
			if n.Labels["node-type"] != "edge" {
				t.Errorf("worker labels = %v, want node-type=edge", n.Labels)
			}
		case v1alpha4.ControlPlaneRole:
			planes++
			if _, ok := n.Labels["node-type"]; ok {
				t.Errorf("control plane is labelled node-type: edge workloads could land on it")
			}
		}
	}
	if workers != 1 || planes != 1 {
		t.Errorf("nodes: %d control planes, %d workers; want 1 and 1", planes, workers)
	}
}

func TestKindContainerdPatchAddsWasmedgeHandler(t *testing.T) {
	cfg := KindConfig("edgetrace-test", "kindest/node:v1.30.4")
	if len(cfg.ContainerdConfigPatches) != 1 {
		t.Fatalf("patches = %q", cfg.ContainerdConfigPatches)
	}
	tree, err := toml.Load(cfg.ContainerdConfigPatches[0])
	if err != nil {
		t.Fatalf("patch is not TOML: %v", err)
	}
	// containerd's CRI plugin (config schema version 2, which kind's node
	// images use) looks runtime handlers up by name under this path.
	path := []string{"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "wasmedge", "runtime_type"}
	got, ok := tree.GetPath(path).(string)
	if !ok {
		t.Fatalf("patch has no %s:\n%s", strings.Join(path, "."), cfg.ContainerdConfigPatches[0])
	}
	if got != "io.containerd.runc.v2" {
		t.Errorf("wasmedge runtime_type = %q, want io.containerd.runc.v2", got)
	}
	// As the node image's runc handler: without systemd cgroups the pod's
	// containers would be placed in cgroups the kubelet does not manage.
	handler := []string{"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "wasmedge"}
	if spec, _ := tree.GetPath(append(handler, "base_runtime_spec")).(string); spec != "/etc/containerd/cri-base.json" {
		t.Errorf("wasmedge base_runtime_spec = %q, want the node image's /etc/containerd/cri-base.json", spec)
	}
	if sd, _ := tree.GetPath(append(handler, "options", "SystemdCgroup")).(bool); !sd {
		t.Error("wasmedge options.SystemdCgroup is not true")
	}
}

func TestKindClusterNamePerDirectory(t *testing.T) {
	a, b := KindClusterName("/work/repo/.harness"), KindClusterName("/tmp/edgetrace-e2e-1")
	if a == b {
		t.Errorf("two state directories share cluster %q", a)
	}
	if a != KindClusterName("/work/repo/.harness/") || !strings.HasPrefix(a, "edgetrace-") || len(a) > 40 {
		t.Errorf("name %q: want a stable, short edgetrace-… name per directory", a)
	}
}

func TestNodeImagePicksThePinForTheVersion(t *testing.T) {
	const (
		d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	pins := []string{"kindest/node:v1.36.3@" + d1, "kindest/node:v1.30.4@" + d2}
	for _, tc := range []struct {
		version string
		pinned  []string
		want    string
		wantErr string
	}{
		{version: "v1.36.3", want: "kindest/node:v1.36.3"},
		{version: "v1.36.3", pinned: pins, want: pins[0]},
		{version: "v1.30.4", pinned: pins, want: pins[1]},
		{version: "v1.35.0", pinned: pins, wantErr: "no kind node image pinned for Kubernetes v1.35.0 (pinned: v1.36.3, v1.30.4)"},
		{version: "v1.36.3", pinned: []string{"kindest/node@" + d1}, wantErr: `"kindest/node@` + d1 + `": no Kubernetes version tag`},
		{version: "v1.36.3", pinned: []string{"kindest/node:v1.36.3@sha256:short"}, wantErr: `kind node image "kindest/node:v1.36.3@sha256:short"`},
		{version: "v1.36.3", pinned: []string{"Kindest/Node:v1.36.3"}, wantErr: `kind node image "Kindest/Node:v1.36.3"`},
	} {
		got, err := NodeImage(tc.version, tc.pinned)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NodeImage(%s, %q) = %q, %v; want an error containing %q", tc.version, tc.pinned, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("NodeImage(%s, %q) = %q, %v; want %q", tc.version, tc.pinned, got, err, tc.want)
		}
	}
}

func TestNewRefusesPinsItCannotUse(t *testing.T) {
	dir := t.TempDir()
	if _, err := New("kind", Options{Dir: dir, KubeVersion: "v1.30.4", NodeImages: []string{"kindest/node:v1.36.3"}}); err == nil {
		t.Error("kind with no pin for its version: no error")
	}
	if _, err := New("local", Options{Dir: dir, Tools: &Tools{}, NodeImages: []string{"kindest/node:v1.36.3"}}); err == nil {
		t.Error("local with node images: no error")
	}
	if _, err := New("kind", Options{Dir: dir, KubeVersion: "v1.36.3", NodeImages: []string{"kindest/node:v1.36.3"}}); err != nil {
		t.Errorf("kind with a pin for its version: %v", err)
	}
}

func TestKeepKindCluster(t *testing.T) {
	const img = "kindest/node:v1.36.3"
	done := &state{Provider: "kind", KubeVersion: "v1.36.3", NodeImage: img, Complete: true}
	for _, c := range []struct {
		name    string
		s       *state
		readErr error
		version string
		image   string
		keep    bool
		wantErr string
	}{
		{"finished at this version", done, nil, "v1.36.3", img, true, ""},
		{"finished at another version", done, nil, "v1.36.x", "kindest/node:v1.36.x", false, "run `harness down` first"},
		{"finished at another image", done, nil, "v1.36.3", img + "@sha256:" + strings.Repeat("a", 64), false, "run `harness down` first"},
		{"half made", &state{Provider: "kind", KubeVersion: "v1.36.3", NodeImage: img}, nil, "v1.36.3", img, false, ""},
		{"no state", nil, nil, "v1.36.3", img, false, ""},
		{"unreadable state", nil, errors.New("bad json"), "v1.36.3", img, false, ""},
	} {
		keep, err := keepKindCluster(c.s, c.readErr, "edge", c.version, c.image)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || keep != c.keep {
			t.Errorf("%s: keep = %v, %v; want %v", c.name, keep, err, c.keep)
		}
	}
}
