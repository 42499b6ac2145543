//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgetrace/edgetrace/harness/gatekeeper"
)

// TestFailClosed takes Gatekeeper's webhooks down and makes them fail open
// (the chart's default), then checks that the API server on its own — through
// the ValidatingAdmissionPolicies Gatekeeper generated from the CEL engine —
// still denies non-compliant pods in governed namespaces and admits compliant
// ones. What it does not cover is written to fail-closed.txt in the artifacts.
func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	cel := gatekeeper.CELTemplates(env.bundle)
	covered := map[string]bool{} // "Kind/name" of constraints enforced by a VAP
	for _, o := range env.bundle {
		if o.GroupVersionKind().Group == "constraints.gatekeeper.sh" && cel[strings.ToLower(o.GetKind())] {
			covered[o.GetKind()+"/"+o.GetName()] = true
		}
	}
	if len(covered) == 0 {
		t.Fatal("no constraint of the bundle has a CEL template: nothing keeps enforcing without the webhook")
	}
	// Up waited for them already; this only fetches them.
	policies, err := env.gk.WaitPolicies(ctx, env.bundle, time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	if err := env.gk.StopWebhook(ctx, admissionv1.Ignore); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.gk.StartWebhook(context.Background()); err != nil {
			t.Errorf("restarting the webhook: %v", err)
		}
	})

	var report []string
	fallback := namespace(t, "e2e-failclosed", governed())
	place := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		o = o.DeepCopy()
		if o.GetNamespace() == "" {
			o.SetNamespace(fallback)
		}
		return o
	}
	t.Run("compliant pods admitted", func(t *testing.T) {
		o := compliantOf(t, "Pod", "e2e-failclosed-compliant")
		live, err := create(ctx, o)
		if err != nil {
			t.Fatalf("compliant Pod not admitted with the webhook down: %v", err)
		}
		_ = env.client.Delete(ctx, live)
	})
	t.Run("non-compliant pods denied by the API server", func(t *testing.T) {
		denied := map[string]int{}
		inputs := readCorpus(t, "evasion")
		ensureNamespaces(t, inputs)
		for _, in := range inputs {
			if isKind(in.Object, "Namespace") {
				continue
			}
			var o *unstructured.Unstructured
			var err error
			op := "create"
			if isKind(in.Object, "AdmissionReview") {
				// Replayed as the UPDATE it stands for. For a Pod that is a
				// write through pods/ephemeralcontainers or pods/resize; the
				// generated policies match what the webhook is registered
				// for, subresources included.
				review := in.Object
				if kind, _, _ := unstructured.NestedString(review.Object, "request", "kind", "kind"); kind == "Namespace" {
					// TestCorpora replayed it already, and a deleted
					// Namespace stays Terminating here (the local cluster
					// runs no namespace controller): use a name of its own.
					review = review.DeepCopy()
					for _, f := range []string{"oldObject", "object"} {
						name, _, _ := unstructured.NestedString(review.Object, "request", f, "metadata", "name")
						_ = unstructured.SetNestedField(review.Object, name+"-webhook-down", "request", f, "metadata", "name")
					}
				}
				var ok bool
				if o, err, ok = replayUpdate(t, review, fallback); !ok {
					continue
				}
				op = "UPDATE"
			} else {
				o = place(in.Object)
				var live *unstructured.Unstructured
				if live, err = create(ctx, o); err == nil {
					_ = env.client.Delete(ctx, live)
				}
			}
			sub, _, _ := unstructured.NestedString(in.Object.Object, "request", "subResource")
			if sub != "" && !policiesMatch(policies, "pods/"+sub) {
				// Gatekeeper before 3.18 generates policies for resources
				// "*", which matches no subresource.
				if err == nil {
					report = append(report, fmt.Sprintf("admitted (Gatekeeper %s's policies do not match pods/%s): UPDATE Pod %s", env.gkVersion, sub, o.GetName()))
				} else {
					report = append(report, fmt.Sprintf("denied: UPDATE pods/%s %s: %v", sub, o.GetName(), err))
				}
				continue
			}
			if isKind(o, workloadKinds...) {
				// Workloads reach constraints only through expansion, which
				// is the webhook's: record what happens, do not require it.
				if err == nil {
					report = append(report, fmt.Sprintf("admitted (expansion needs the webhook): %s %s %s", op, o.GetKind(), o.GetName()))
				} else {
					report = append(report, fmt.Sprintf("denied: %s %s %s: %v", op, o.GetKind(), o.GetName(), err))
				}
				continue
			}
			var byVAP []string
			for _, c := range expected(o) {
				if covered[c] {
					byVAP = append(byVAP, c)
				}
			}
			what := fmt.Sprintf("%s %s %s", op, o.GetKind(), o.GetName())
			switch {
			case len(byVAP) > 0 && err == nil:
				t.Errorf("%s: admitted with the webhook down, want denied by the VAP of %v", what, byVAP)
			case len(byVAP) > 0 && rejectedBeforeAdmission(t, err):
				report = append(report, fmt.Sprintf("refused by the API server itself: %s: %v", what, err))
			case len(byVAP) > 0:
				if !deniedByPolicyOf(denial(err), byVAP) {
					t.Errorf("%s: want a denial by the ValidatingAdmissionPolicy of one of %v, got %v", what, byVAP, err)
				}
				denied[o.GetKind()]++
				if op == "UPDATE" {
					report = append(report, fmt.Sprintf("denied by VAP: %s (%s)", what, filepath.Base(in.File)))
				}
			case err == nil:
				report = append(report, fmt.Sprintf("admitted (no CEL engine for %v): %s", expected(o), what))
			default:
				report = append(report, fmt.Sprintf("denied anyway: %s: %v", what, err))
			}
		}
		if denied["Pod"] == 0 {
			t.Error("no evasion Pod is denied by a generated ValidatingAdmissionPolicy")
		}
		report = append(report, fmt.Sprintf("denied by VAP: %v evasion objects by kind", denied))
	})
	// With failurePolicy Fail (what `harness up` registers) nothing the
	// webhook judges is admitted while it is down, compliant or not.
	t.Run("failurePolicy Fail refuses every governed pod", func(t *testing.T) {
		pods := []*unstructured.Unstructured{compliantOf(t, "Pod", "e2e-failclosed-fail"), place(firstEvasionPod(t))} // namespaces made first
		if err := env.gk.StopWebhook(ctx, admissionv1.Fail); err != nil {
			t.Fatal(err)
		}
		for _, o := range pods {
			live, err := create(ctx, o)
			if err == nil {
				_ = env.client.Delete(ctx, live)
				t.Errorf("Pod %s admitted with the webhook down and failurePolicy Fail", o.GetName())
				continue
			}
			// A policy may refuse the non-compliant one first.
			if !strings.Contains(err.Error(), "failed calling webhook") && !strings.Contains(denial(err), "ValidatingAdmissionPolicy") {
				t.Errorf("Pod %s: want the webhook call to fail, got %v", o.GetName(), err)
			}
		}
		report = append(report, "failurePolicy Fail: compliant and evasion Pods refused")
	})
	var names []string
	for c := range covered {
		names = append(names, c)
	}
	sort.Strings(names)
	report = append([]string{"constraints enforced without the webhook (CEL → VAP): " + strings.Join(names, ", ")}, report...)
	t.Log(strings.Join(report, "\n"))
	_ = os.WriteFile(filepath.Join(env.artifacts, "fail-closed.txt"), []byte(strings.Join(report, "\n")+"\n"), 0o644)
}

// workloadKinds reach the constraints only as the Pods expansion makes of
// them, in the webhook.
var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}

// firstEvasionPod is the first Pod of the evasion corpus, in its namespace.
func firstEvasionPod(t *testing.T) *unstructured.Unstructured {
	inputs := readCorpus(t, "evasion")
	ensureNamespaces(t, inputs)
	for _, in := range inputs {
		if isKind(in.Object, "Pod") {
			return in.Object.DeepCopy()
		}
	}
	t.Fatal("the evasion corpus has no Pod")
	return nil
}

// policiesMatch reports whether one of Gatekeeper's generated policies
// matches writes to resource (such as "pods/ephemeralcontainers").
func policiesMatch(policies []admissionv1.ValidatingAdmissionPolicy, resource string) bool {
	group, sub, _ := strings.Cut(resource, "/")
	for _, p := range policies {
		if !strings.HasPrefix(p.Name, "gatekeeper-") || p.Spec.MatchConstraints == nil {
			continue
		}
		for _, r := range p.Spec.MatchConstraints.ResourceRules {
			for _, name := range r.Resources {
				if name == resource || name == "*/*" || name == group+"/*" || name == "*/"+sub {
					return true
				}
			}
		}
	}
	return false
}

// deniedByPolicyOf reports whether msg is a denial by the policy Gatekeeper
// generates for the template of one of constraints ("Kind/name"), named
// gatekeeper-<kind in lower case>.
func deniedByPolicyOf(msg string, constraints []string) bool {
	for _, c := range constraints {
		kind, _, _ := strings.Cut(c, "/")
		if strings.Contains(msg, "ValidatingAdmissionPolicy 'gatekeeper-"+strings.ToLower(kind)+"'") {
			return true
		}
	}
	return false
}
