//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestAudit creates an evasion object first and the constraint that forbids
// it afterwards (a copy of the bundle's, scoped to one namespace): admission
// never saw the object, so only audit can report it, in the constraint's
// status.violations.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	obj, constraint := auditPair(t)
	ns := namespace(t, "e2e-audit", nil) // not governed: the object is admitted
	obj.SetNamespace(ns)
	live, err := create(ctx, obj)
	if err != nil {
		t.Fatalf("creating %s in an ungoverned namespace: %v", obj.GetName(), err)
	}
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })

	scopeTo(constraint, ns)
	if _, err := env.client.Apply(ctx, constraint, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), constraint) })

	// Audit runs every 5 s here; allow for a few runs plus the status write.
	var seen []string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := env.client.Get(ctx, constraint)
		if err != nil {
			return false, nil
		}
		violations, _, _ := unstructured.NestedSlice(got.Object, "status", "violations")
		seen = seen[:0]
		for _, v := range violations {
			m, _ := v.(map[string]any)
			seen = append(seen, fmt.Sprintf("%v/%v/%v", m["kind"], m["namespace"], m["name"]))
			if m["name"] == obj.GetName() && m["namespace"] == ns && m["kind"] == obj.GetKind() {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("audit never reported %s %s/%s in %s's status.violations (saw %v)", obj.GetKind(), ns, obj.GetName(), constraint.GetName(), seen)
	}
}

// auditPair picks the first evasion Pod whose expected violation is a bundle
// constraint, and that constraint.
func auditPair(t *testing.T) (*unstructured.Unstructured, *unstructured.Unstructured) {
	t.Helper()
	for _, in := range readCorpus(t, "evasion") {
		if !isKind(in.Object, "Pod") {
			continue
		}
		for _, want := range expected(in.Object) {
			kind, name, _ := strings.Cut(want, "/")
			for _, c := range env.bundle {
				if c.GetKind() == kind && c.GetName() == name {
					return in.Object.DeepCopy(), c.DeepCopy()
				}
			}
		}
	}
	t.Fatal("no evasion Pod names a constraint of the bundle")
	return nil, nil
}
