//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
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
					t.Run(c.Name, func(t *testing.T) {
						checkCase(t, ns, filepath.Base(base), constraint, obj, c.Assertions)
					})
				}
			})
		}
	}
}

func checkCase(t *testing.T, ns, template string, constraint, obj *unstructured.Unstructured, assertions []verify.Assertion) {
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
		// gator judges the manifest; the API server first defaults it, and
		// for a Pod it sets every request a container leaves out to that
		// container's limit. A sample that is disallowed only for lacking
		// those requests is then compliant. Admission is accepted for that
		// reason only, and only if the stored object shows it: every
		// container of the sample with limits and missing requests must come
		// back with those requests equal to its limits.
		missing := limitsWithoutRequests(obj)
		if len(missing) == 0 {
			t.Fatalf("%s %s: created, want denied", obj.GetKind(), obj.GetName())
		}
		stored := resourcesByPath(created)
		for path, names := range missing {
			res := stored[path]
			for _, name := range names {
				req, ok := quantityAt(res, "requests", name)
				lim, ok2 := quantityAt(res, "limits", name)
				if !ok || !ok2 || req.Cmp(lim) != 0 {
					t.Fatalf("%s %s: created, want denied (%s has limits.%s but no requests.%s, and the API server did not default the request from the limit: stored resources %v)",
						obj.GetKind(), obj.GetName(), path, name, name, res)
				}
			}
		}
		t.Logf("%s %s: admitted because the API server defaulted the missing requests from the limits (%v), which makes it compliant; gator judges the manifest as written", obj.GetKind(), obj.GetName(), missing)
		return
	}
	msg := denial(err)
	if msg == "" && emptyRuntimeClassRefused(obj, err) {
		// The API server's own RuntimeClass admission plugin looks up the
		// empty name and fails (a 500 that is no metav1.Status) before any
		// policy sees the Pod. Not admitted, but not by the policy either.
		t.Logf("%s %s: refused by the API server's RuntimeClass admission for runtimeClassName \"\" before the policies: %v", obj.GetKind(), obj.GetName(), err)
		return
	}
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
	// Whatever the message, the denial must come from this suite's
	// constraint: the webhook writes "[name]", a generated
	// ValidatingAdmissionPolicy is named after the template's kind. A
	// cluster-scoped sample (a Namespace) is not confined by scopeTo and may
	// meet the bundle's own constraint, which bears the suite constraint's
	// name without the "e2e-" prefix.
	kind := strings.ToLower(constraint.GetKind())
	name := constraint.GetName()
	if !strings.Contains(msg, "["+name+"]") && !strings.Contains(msg, "["+strings.TrimPrefix(name, "e2e-")+"]") &&
		!strings.Contains(msg, "ValidatingAdmissionPolicy 'gatekeeper-"+kind+"'") {
		t.Fatalf("%s %s: denied, but not by %s %s or its template's ValidatingAdmissionPolicy: %s", obj.GetKind(), obj.GetName(), constraint.GetKind(), name, msg)
	}
	// The API server stores quantities in canonical form ("0.6Gi" becomes
	// "644245094400m", "0.75" becomes "750m") before admission, so the
	// policy quotes the canonical spelling where gator, given the manifest,
	// quotes the original. The suite's message is compared only when every
	// quantity of the sample is already canonical; otherwise the denial by
	// the expected constraint above is what is checked.
	if q := nonCanonical(obj); len(q) > 0 {
		t.Logf("%s %s: denied by %s/%s; message not compared, the API server canonicalised %v before admission: %s", obj.GetKind(), obj.GetName(), constraint.GetKind(), name, q, msg)
		return
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

// emptyRuntimeClassRefused reports the API server's RuntimeClass admission
// plugin failing on a Pod whose runtimeClassName is present but empty.
func emptyRuntimeClassRefused(o *unstructured.Unstructured, err error) bool {
	rc, found, _ := unstructured.NestedString(o.Object, "spec", "runtimeClassName")
	return isKind(o, "Pod") && found && rc == "" &&
		apierrors.IsInternalError(err) && strings.Contains(err.Error(), "resource name may not be empty")
}

// resourcesByPath finds every "resources" map of a container (of a Pod or of
// any pod template inside the object) and keys it by its path, such as
// "spec.template.spec.initContainers[0]".
func resourcesByPath(o *unstructured.Unstructured) map[string]map[string]any {
	found := map[string]map[string]any{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if list, ok := c.([]any); ok && strings.HasSuffix(strings.ToLower(k), "containers") {
					for i, item := range list {
						if m, ok := item.(map[string]any); ok {
							res, _ := m["resources"].(map[string]any)
							found[fmt.Sprintf("%s.%s[%d]", path, k, i)] = res
						}
					}
					continue
				}
				walk(c, path+"."+k)
			}
		case []any:
			for i, c := range v {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(o.Object, "")
	return found
}

// limitsWithoutRequests lists, by container path, the resources a container
// limits without requesting them: those the API server defaults.
func limitsWithoutRequests(o *unstructured.Unstructured) map[string][]string {
	out := map[string][]string{}
	for path, res := range resourcesByPath(o) {
		limits, _ := res["limits"].(map[string]any)
		requests, _ := res["requests"].(map[string]any)
		for name := range limits {
			if _, ok := requests[name]; !ok {
				out[path] = append(out[path], name)
			}
		}
	}
	return out
}

// nonCanonical lists the container quantities of o that the API server would
// respell: those whose canonical form differs from the manifest's, or that
// do not parse (the API server rejects those itself).
func nonCanonical(o *unstructured.Unstructured) []string {
	var out []string
	for path, res := range resourcesByPath(o) {
		for _, kind := range []string{"requests", "limits"} {
			m, _ := res[kind].(map[string]any)
			for name, v := range m {
				s := fmt.Sprint(v)
				q, err := resource.ParseQuantity(s)
				if err != nil || q.String() != s {
					out = append(out, fmt.Sprintf("%s.%s.%s=%s", path, kind, name, s))
				}
			}
		}
	}
	return out
}

func quantityAt(res map[string]any, kind, name string) (resource.Quantity, bool) {
	m, _ := res[kind].(map[string]any)
	v, ok := m[name]
	if !ok {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(fmt.Sprint(v))
	return q, err == nil
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
