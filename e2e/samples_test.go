//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestSamples creates every sample object of every suite in a namespace of
// its own, with the suite's constraint scoped to that namespace: allowed
// samples must really be created, disallowed ones denied with the suite's
// message. Cases that need gator's simulation (an inventory, or an
// AdmissionReview standing for an UPDATE) are covered by TestWorkloads
// against the real operations instead.
func TestSamples(t *testing.T) {
	ctx := context.Background()
	for _, suitePath := range requireFiles(t, "constrainttemplates/*/suite.yaml") {
		suite := readSuite(t, suitePath)
		base := filepath.Dir(suitePath)
		for _, st := range suite.Tests {
			t.Run(filepath.Base(base)+"/"+st.Name, func(t *testing.T) {
				ns := namespace(t, "e2e-sample", nil)
				constraint := readOne(t, filepath.Join(base, st.Constraint))
				scopeTo(constraint, ns)
				if _, err := env.client.Apply(ctx, constraint, time.Minute); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = env.client.Delete(context.Background(), constraint) })
				if err := env.gk.WaitLive(ctx, []*unstructured.Unstructured{constraint}, 2*time.Minute); err != nil {
					t.Fatal(err)
				}
				for _, c := range st.Cases {
					if len(c.Inventory) > 0 {
						t.Logf("%s: needs an inventory; covered in-process by gator", c.Name)
						continue
					}
					obj := readOne(t, filepath.Join(base, c.Object))
					if obj.GetKind() == "AdmissionReview" {
						t.Logf("%s: AdmissionReview; the operation it simulates is exercised by TestWorkloads", c.Name)
						continue
					}
					t.Run(c.Name, func(t *testing.T) { checkCase(t, ns, filepath.Base(base), obj, c.Assertions) })
				}
			})
		}
	}
}

func checkCase(t *testing.T, ns, template string, obj *unstructured.Unstructured, assertions []verify.Assertion) {
	ctx := context.Background()
	if obj.GetKind() != "Namespace" {
		obj.SetNamespace(ns)
	}
	wantDenied, messages := expectation(assertions)
	created, err := create(ctx, obj)
	if !wantDenied {
		if err != nil {
			t.Fatalf("%s %s: not created: %v", obj.GetKind(), obj.GetName(), err)
		}
		_ = env.client.Delete(ctx, created)
		return
	}
	if err == nil {
		_ = env.client.Delete(ctx, created)
		t.Fatalf("%s %s: created, want denied", obj.GetKind(), obj.GetName())
	}
	msg := denial(err)
	if msg == "" && rejectedBeforeAdmission(err) {
		// gator judges what it is given; the API server first decodes and
		// validates, and some disallowed samples never get past that. They
		// are not admitted, which is what the suite asks; say so.
		t.Logf("%s %s: rejected by the API server before admission: %v", obj.GetKind(), obj.GetName(), err)
		return
	}
	if msg == "" {
		t.Fatalf("%s %s: failed, but not by admission: %v", obj.GetKind(), obj.GetName(), err)
	}
	var unmatched []string
	for _, m := range messages {
		re, err := regexp.Compile(m)
		if err != nil {
			t.Fatalf("suite message %q: %v", m, err)
		}
		if !re.MatchString(msg) {
			unmatched = append(unmatched, m)
		}
	}
	if len(unmatched) == 0 {
		return
	}
	// A generated ValidatingAdmissionPolicy runs inside the API server ahead
	// of the webhook and reports only its first failing validation, so it may
	// name another of the object's violations than the suite lists. It must
	// still be the policy of this suite's template.
	if vap := "ValidatingAdmissionPolicy 'gatekeeper-" + template + "'"; strings.Contains(msg, vap) {
		t.Logf("denied by the template's ValidatingAdmissionPolicy, which reports its first failing rule only: %s (suite expects %q)", msg, unmatched)
		return
	}
	for _, m := range unmatched {
		t.Errorf("denial %q does not match the suite's message %q", msg, m)
	}
}

// expectation reads a case's assertions as gator does: any assertion asking
// for violations means the object is denied.
func expectation(assertions []verify.Assertion) (denied bool, messages []string) {
	for i := range assertions {
		a := &assertions[i]
		want := "yes"
		if a.Violations != nil {
			want = a.Violations.String()
		}
		if want == "no" || want == "0" {
			continue
		}
		denied = true
		if a.Message != nil {
			messages = append(messages, *a.Message)
		}
	}
	return denied, messages
}

// scopeTo narrows a sample constraint to one namespace and makes it deny, so
// that samples of different suites never meet and the bundle's own
// constraints (which select governed namespaces) never judge the samples.
func scopeTo(c *unstructured.Unstructured, ns string) {
	c.SetName("e2e-" + c.GetName())
	unstructured.RemoveNestedField(c.Object, "spec", "match", "namespaceSelector")
	unstructured.RemoveNestedField(c.Object, "spec", "match", "excludedNamespaces")
	_ = unstructured.SetNestedStringSlice(c.Object, []string{ns}, "spec", "match", "namespaces")
	_ = unstructured.SetNestedField(c.Object, "deny", "spec", "enforcementAction")
}

func readSuite(t *testing.T, path string) *verify.Suite {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s verify.Suite
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(s.Tests) == 0 {
		t.Fatalf("%s: no tests", path)
	}
	return &s
}

func readOne(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	inputs, err := policy.ReadPaths([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 1 {
		t.Fatalf("%s: %d objects, want 1", path, len(inputs))
	}
	return inputs[0].Object
}

func isKind(o *unstructured.Unstructured, kinds ...string) bool {
	for _, k := range kinds {
		if strings.EqualFold(o.GetKind(), k) {
			return true
		}
	}
	return false
}
