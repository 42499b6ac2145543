//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// compliantOf returns a compliant corpus object of kind, renamed so it does
// not collide with the corpus test, in a governed namespace. A Pod, when the
// corpus has none, is the pod template of its first compliant workload —
// exactly what that workload's controller would create.
func compliantOf(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	inputs := readCorpus(t, "compliant")
	ensureNamespaces(t, inputs)
	place := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		o.SetName(name)
		if o.GetNamespace() == "" {
			o.SetNamespace(namespace(t, "e2e-workload", governed()))
		}
		return o
	}
	for _, in := range inputs {
		if isKind(in.Object, kind) {
			return place(in.Object.DeepCopy())
		}
	}
	if kind == "Pod" {
		for _, in := range inputs {
			tmpl, ok, _ := unstructured.NestedMap(in.Object.Object, "spec", "template")
			if !ok {
				continue
			}
			pod := &unstructured.Unstructured{Object: tmpl}
			pod.SetAPIVersion("v1")
			pod.SetKind("Pod")
			pod.SetNamespace(in.Object.GetNamespace())
			return place(pod)
		}
	}
	t.Fatalf("testdata/manifests/compliant has no %s", kind)
	return nil
}

// dropLimits removes the first container's resource limits from a Pod or a
// workload's pod template, and returns that container's name.
func dropLimits(t *testing.T, o *unstructured.Unstructured) string {
	t.Helper()
	path := []string{"spec", "containers"}
	if !isKind(o, "Pod") {
		path = []string{"spec", "template", "spec", "containers"}
	}
	containers, _, _ := unstructured.NestedSlice(o.Object, path...)
	if len(containers) == 0 {
		t.Fatalf("%s has no containers at %s", o.GetKind(), strings.Join(path, "."))
	}
	c := containers[0].(map[string]any)
	unstructured.RemoveNestedField(c, "resources", "limits")
	_ = unstructured.SetNestedSlice(o.Object, containers, path...)
	return c["name"].(string)
}

func TestWorkloads(t *testing.T) {
	ctx := context.Background()

	t.Run("non-compliant Deployment denied at creation", func(t *testing.T) {
		d := compliantOf(t, "Deployment", "e2e-nolimits")
		container := dropLimits(t, d)
		created, err := create(ctx, d)
		if err == nil {
			_ = env.client.Delete(ctx, created)
			t.Fatal("Deployment without limits created; ExpansionTemplates should have denied it")
		}
		wantExpandedDenial(t, err, container)
	})

	t.Run("compliant Deployment updated to non-compliant denied", func(t *testing.T) {
		d := compliantOf(t, "Deployment", "e2e-update")
		live, err := create(ctx, d)
		if err != nil {
			t.Fatalf("compliant Deployment not created: %v", err)
		}
		t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })
		container := dropLimits(t, live)
		r, err := env.client.Resource(live)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Update(ctx, live, metav1.UpdateOptions{})
		if err == nil {
			t.Fatal("UPDATE removing limits accepted")
		}
		wantExpandedDenial(t, err, container)
	})

	t.Run("ephemeral container denied through pods/ephemeralcontainers", func(t *testing.T) {
		p := compliantOf(t, "Pod", "e2e-debug-target")
		live, err := create(ctx, p)
		if err != nil {
			t.Fatalf("compliant Pod not created: %v", err)
		}
		t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })
		var pod corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &pod); err != nil {
			t.Fatal(err)
		}
		// What `kubectl debug -it --image=busybox` sends: ephemeral containers
		// cannot declare resources, and busybox comes from Docker Hub, so
		// both the limits and the image rules must refuse it.
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox:1.36", Stdin: true, TTY: true},
		})
		_, err = env.kube.CoreV1().Pods(pod.Namespace).UpdateEphemeralContainers(ctx, pod.Name, &pod, metav1.UpdateOptions{})
		if err == nil {
			t.Fatal("ephemeral container without limits from an unapproved registry accepted")
		}
		if msg := denial(err); msg == "" || !strings.Contains(msg, "debugger") {
			t.Fatalf("want a denial naming container debugger, got %v", err)
		}
	})
}

// wantExpandedDenial requires err to be the resource-bounds constraint's
// denial of the Pod that expand-workloads makes of a workload, naming
// container (the webhook writes "[constraint] message [Implied by
// expansion]").
func wantExpandedDenial(t *testing.T, err error, container string) {
	t.Helper()
	msg := denial(err)
	for _, want := range []string{"[tracker-resource-bounds]", "Implied by expand-workloads", container} {
		if !strings.Contains(msg, want) {
			t.Fatalf("want the denial of the expanded Pod by tracker-resource-bounds naming %q, got %v", container, err)
		}
	}
}
