//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/policy"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// mutationOverlays are where the bundle's mutation overlay may live (the same
// list `harness up --mutation` searches).
var mutationOverlays = []string{"deploy/gatekeeper/mutation", "deploy/gatekeeper-mutation"}

// TestMutation applies the mutation overlay and checks that a pod omitting
// runtimeClassName and nodeSelector in a governed namespace is admitted with
// both set, while an explicitly wrong value is still denied.
func TestMutation(t *testing.T) {
	ctx := context.Background()
	var overlay []*unstructured.Unstructured
	for _, dir := range mutationOverlays {
		if _, err := os.Stat(filepath.Join(env.root, dir)); err != nil {
			continue
		}
		objs, err := policy.LoadObjects(filepath.Join(env.root, dir))
		if err != nil {
			t.Fatal(err)
		}
		overlay = objs
		break
	}
	if overlay == nil {
		t.Fatalf("no mutation overlay in %v", mutationOverlays)
	}
	// Only the overlay's own additions (mutators); the bundle it may include
	// is live already.
	var mutators []*unstructured.Unstructured
	for _, o := range overlay {
		if o.GroupVersionKind().Group == "mutations.gatekeeper.sh" {
			mutators = append(mutators, o)
		}
	}
	if len(mutators) == 0 {
		t.Fatal("mutation overlay has no mutators")
	}
	if err := env.gk.ApplyBundle(ctx, mutators, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range mutators {
			_ = env.client.Delete(context.Background(), m)
		}
	})

	t.Run("omitted fields are set", func(t *testing.T) {
		p := compliantOf(t, "Pod", "e2e-mutated")
		unstructured.RemoveNestedField(p.Object, "spec", "runtimeClassName")
		unstructured.RemoveNestedField(p.Object, "spec", "nodeSelector")
		live, err := create(ctx, p)
		if err != nil {
			t.Fatalf("pod without runtimeClassName/nodeSelector not admitted: %v", err)
		}
		t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })
		if rc, _, _ := unstructured.NestedString(live.Object, "spec", "runtimeClassName"); rc != "wasmedge" {
			t.Errorf("runtimeClassName = %q, want wasmedge", rc)
		}
		if sel, _, _ := unstructured.NestedStringMap(live.Object, "spec", "nodeSelector"); sel["node-type"] != "edge" {
			t.Errorf("nodeSelector = %v, want node-type: edge", sel)
		}
	})

	// The mutators fill in only what is missing: a value the author wrote,
	// however wrong, is left for validation to deny.
	for _, wrong := range []struct {
		name       string
		value      any
		path       []string
		constraint string // the one that must deny it
	}{
		{"runtimeClassName runc", "runc", []string{"spec", "runtimeClassName"}, "edge-runtimeclass"},
		{"nodeSelector node-type: cloud", map[string]any{"node-type": "cloud"}, []string{"spec", "nodeSelector"}, "edge-node-placement"},
	} {
		t.Run("explicit wrong value still denied: "+wrong.name, func(t *testing.T) {
			p := compliantOf(t, "Pod", "e2e-wrong-value")
			_ = unstructured.SetNestedField(p.Object, wrong.value, wrong.path...)
			live, err := create(ctx, p)
			if err == nil {
				_ = env.client.Delete(ctx, live)
				t.Fatalf("pod with %s admitted", wrong.name)
			}
			// The webhook writes "[constraint] message"; a generated policy's
			// binding is named gatekeeper-<template>-<constraint>.
			if msg := denial(err); !strings.Contains(msg, "["+wrong.constraint+"]") && !strings.Contains(msg, "-"+wrong.constraint+"'") {
				t.Fatalf("want a denial by %s, got %v", wrong.constraint, err)
			}
		})
	}
}
