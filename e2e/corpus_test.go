//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/harness/policy"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilversion "k8s.io/apimachinery/pkg/util/version"
)

// ExpectAnnotation on a corpus object names the constraints ("Kind/name")
// that must deny it; harness/policy reads the same annotation in-process.
const ExpectAnnotation = "edgetrace.io/expect-violation"

// TestCorpora sends the compliant and evasion corpora through the API server
// with the bundle live: every compliant object is really created, every
// evasion object is denied and the denial names each expected constraint.
// An evasion AdmissionReview (an UPDATE, possibly of a subresource) is replayed
// as the real operation: its oldObject is created, then updated to its object.
func TestCorpora(t *testing.T) {
	for _, dir := range []string{"compliant", "evasion"} {
		t.Run(dir, func(t *testing.T) {
			inputs := readCorpus(t, dir)
			fallback := namespace(t, "e2e-"+dir, governed())
			ensureNamespaces(t, inputs)
			for _, in := range inputs {
				o := in.Object
				if isKind(o, "Namespace") && len(expected(o)) == 0 {
					continue // created by ensureNamespaces
				}
				name := fmt.Sprintf("%s:%d %s %s", filepath.Base(in.File), in.Line, o.GetKind(), o.GetName())
				t.Run(name, func(t *testing.T) {
					if isKind(o, "AdmissionReview") {
						replayReview(t, o, fallback)
						return
					}
					o := o.DeepCopy()
					if o.GetNamespace() == "" {
						o.SetNamespace(fallback)
					}
					checkObject(t, o, dir == "evasion")
				})
			}
		})
	}
}

func readCorpus(t testing.TB, dir string) []policy.Input {
	t.Helper()
	requireFiles(t, filepath.Join("testdata", "manifests", dir, "*"))
	inputs, err := policy.ReadPaths([]string{filepath.Join(env.root, "testdata", "manifests", dir)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inputs
}

// ensureNamespaces creates the corpus's own Namespace objects (they carry the
// governed label the constraints select on).
func ensureNamespaces(t testing.TB, inputs []policy.Input) {
	t.Helper()
	for _, in := range inputs {
		// A Namespace that expects a violation is a test case, not set-up.
		if !isKind(in.Object, "Namespace") || len(expected(in.Object)) > 0 {
			continue
		}
		if _, err := create(context.Background(), in.Object); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("namespace %s: %v", in.Object.GetName(), err)
		}
	}
}

func expected(o *unstructured.Unstructured) []string {
	var out []string
	for _, s := range strings.Split(o.GetAnnotations()[ExpectAnnotation], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkObject creates o and checks the outcome; allowed objects are deleted
// again so that later tests can reuse their names.
func checkObject(t *testing.T, o *unstructured.Unstructured, wantDenied bool) {
	t.Helper()
	ctx := context.Background()
	created, err := create(ctx, o)
	if !wantDenied {
		if err != nil {
			t.Fatalf("not created: %v", err)
		}
		_ = env.client.Delete(ctx, created)
		return
	}
	if err == nil {
		_ = env.client.Delete(ctx, created)
		t.Fatalf("created, want denied by %v", expected(o))
	}
	if rejectedBeforeAdmission(t, err) {
		t.Logf("not admitted, but refused by the API server itself, so the policy was not exercised: %v", err)
		return
	}
	checkDenial(t, err, expected(o))
}

// checkDenial requires err to be an admission denial that names every
// expected constraint. Gatekeeper's webhook writes "[name] message"; a
// generated ValidatingAdmissionPolicy names its binding, which ends in the
// constraint's name ("gatekeeper-kind-name" as 3.23 writes it,
// "edgetrace-kind-name" as the harness writes it for 3.17).
func checkDenial(t *testing.T, err error, want []string) {
	t.Helper()
	msg := denial(err)
	if msg == "" {
		t.Fatalf("failed, but not by admission: %v", err)
	}
	if len(want) == 0 {
		t.Errorf("denied, but the object records no %s annotation: %s", ExpectAnnotation, msg)
	}
	for _, w := range want {
		name := w[strings.LastIndexByte(w, '/')+1:]
		if !strings.Contains(msg, "["+name+"]") && !strings.Contains(msg, "-"+name+"' denied") {
			t.Errorf("denial does not name %s: %s", w, msg)
		}
	}
}

// replayReview performs the operation an AdmissionReview stands for.
func replayReview(t *testing.T, review *unstructured.Unstructured, ns string) {
	t.Helper()
	obj, err, ok := replayUpdate(t, review, ns)
	if !ok {
		return
	}
	if err == nil {
		t.Fatalf("UPDATE %s accepted, want denied by %v", obj.GetName(), expected(obj))
	}
	checkDenial(t, err, expected(obj))
}

// replayUpdate creates the oldObject of an UPDATE review in ns (unless it
// names its own namespace) and updates it, through the review's subresource
// if it has one, to its object. It returns that object and the API server's
// answer; ok is false when the path does not exist on this Kubernetes.
func replayUpdate(t *testing.T, review *unstructured.Unstructured, ns string) (obj *unstructured.Unstructured, err error, ok bool) {
	t.Helper()
	ctx := context.Background()
	req, _, _ := unstructured.NestedMap(review.Object, "request")
	oldRaw, _, _ := unstructured.NestedMap(req, "oldObject")
	newRaw, _, _ := unstructured.NestedMap(req, "object")
	op, _, _ := unstructured.NestedString(req, "operation")
	sub, _, _ := unstructured.NestedString(req, "subResource")
	if op != "UPDATE" || oldRaw == nil || newRaw == nil {
		t.Fatalf("AdmissionReview with operation %q: only UPDATEs with object and oldObject can be replayed", op)
	}
	old := &unstructured.Unstructured{Object: oldRaw}
	obj = &unstructured.Unstructured{Object: newRaw}
	if old.GetNamespace() == "" {
		old.SetNamespace(ns)
	}
	obj.SetNamespace(old.GetNamespace())
	live, err := create(ctx, old)
	if err != nil {
		t.Fatalf("creating the old object of the UPDATE: %v", err)
	}
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })
	obj.SetResourceVersion(live.GetResourceVersion())
	obj.SetUID(live.GetUID())
	r, err := env.client.Resource(obj)
	if err != nil {
		t.Fatal(err)
	}
	var subresources []string
	if sub != "" {
		subresources = []string{sub}
	}
	_, err = r.Update(ctx, obj, metav1.UpdateOptions{}, subresources...)
	return obj, err, !noSuchSubresource(t, sub, err)
}

// noSuchSubresource reports (and logs) a write through a subresource that
// this API server does not have: before 1.33 there is no pods/resize
// (in-place resize was an alpha feature gate on the pod itself, off by
// default), so the path a resize sample takes does not exist to be guarded.
func noSuchSubresource(t *testing.T, sub string, err error) bool {
	t.Helper()
	if sub == "resize" && apierrors.IsNotFound(err) && !utilversion.MustParseSemantic(env.kubeVersion).AtLeast(utilversion.MajorMinor(1, 33)) {
		t.Logf("pods/resize does not exist on Kubernetes %s: %v", env.kubeVersion, err)
		return true
	}
	return false
}
