package gatekeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ModulePath is the Go module Gatekeeper's releases are tagged in.
const ModulePath = "github.com/open-policy-agent/gatekeeper/v3"

// ModuleDir returns the directory of Gatekeeper's module at version in the Go
// module cache, downloading it if needed. The release manifest and CRDs ship
// inside the module, so the cache is where they are pinned alongside the code.
func ModuleDir(ctx context.Context, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", ModulePath+"@"+version)
	// Outside any module, so no go.mod (ours or a tool module's) constrains it.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil || info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("locate %s@%s: %v %s %s", ModulePath, version, runErr, info.Error, stderr.String())
	}
	return info.Dir, nil
}

// ReleaseManifest reads deploy/gatekeeper.yaml from the module at version.
func ReleaseManifest(ctx context.Context, version string) ([]*unstructured.Unstructured, error) {
	dir, err := ModuleDir(ctx, version)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "deploy", "gatekeeper.yaml"))
	if err != nil {
		return nil, fmt.Errorf("release manifest: %w", err)
	}
	defer f.Close()
	objs, err := decodeObjects(f)
	if err != nil {
		return nil, fmt.Errorf("release manifest %s: %w", f.Name(), err)
	}
	return objs, nil
}

// decodeObjects reads a multi-document YAML stream, skipping empty documents.
func decodeObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 64*1024)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// OutOfClusterObjects selects what the local install needs from the release
// manifest: the CRDs and the gatekeeper-system Namespace. Deployments,
// Services, RBAC and the manifest's webhook configurations are left out — the
// webhook runs on the host, and the harness writes webhook configurations that
// point at it.
func OutOfClusterObjects(manifest []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range manifest {
		switch o.GetKind() {
		case "CustomResourceDefinition", "Namespace":
			out = append(out, o)
		}
	}
	return out
}
