//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/harness/policy"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// TestSamples creates every sample object of every suite in a namespace of
// its own, with the suite's constraint scoped to that namespace: allowed
// samples must really be created, disallowed ones denied with the suite's
// message. An AdmissionReview sample is replayed as the operation it stands
// for: its old object is created before the constraint exists, then updated
// (through its subresource, if it names one) or deleted once the constraint
// is live. Cases that need an inventory are left to gator.
func TestSamples(t *testing.T) {
	ctx := context.Background()
	for _, suitePath := range requireFiles(t, "constrainttemplates/*/suite.yaml") {
		suite := readSuite(t, suitePath)
		base := filepath.Dir(suitePath)
		for _, st := range suite.Tests {
			t.Run(filepath.Base(base)+"/"+st.Name, func(t *testing.T) {
				ns := namespace(t, "e2e-sample", nil)
				scope := []string{ns}
				reviews := map[string]*review{}
				for i, c := range st.Cases {
					if len(c.Inventory) == 0 {
						if obj := readOne(t, filepath.Join(base, c.Object)); obj.GetKind() == "AdmissionReview" {
							rv := prepareReview(t, strconv.Itoa(i), obj)
							reviews[c.Name] = rv
							if rv.ns != "" {
								scope = append(scope, rv.ns)
							}
						}
					}
				}
				constraint := readOne(t, filepath.Join(base, st.Constraint))
				scopeTo(constraint, scope...)
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
					if rv := reviews[c.Name]; rv != nil {
						t.Run(c.Name, func(t *testing.T) {
							got, err := rv.replay(t)
							if noSuchSubresource(t, rv.sub, err) {
								return
							}
							if denied, _ := expectation(c.Assertions); denied && rejectedBeforeAdmission(t, err) {
								// A Pod field no UPDATE may change (runtimeClassName,
								// nodeSelector, resources outside pods/resize): the
								// API server refuses the change before any admission.
								// Anything else refused that early is a broken replay.
								if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "pod updates may not change fields") {
									t.Fatalf("refused before admission, and not for an immutable field: %v", err)
								}
								t.Logf("the API server lets no UPDATE make this change (refused before admission): %v", err)
								return
							}
							judge(t, filepath.Base(base), constraint, rv.obj, c.Assertions, got, err)
						})
						continue
					}
					obj := readOne(t, filepath.Join(base, c.Object))
					t.Run(c.Name, func(t *testing.T) {
						checkCase(t, ns, filepath.Base(base), constraint, obj, c.Assertions)
					})
				}
			})
		}
	}
}

func checkCase(t *testing.T, ns, template string, constraint, obj *unstructured.Unstructured, assertions []verify.Assertion) {
	if obj.GetKind() != "Namespace" {
		obj.SetNamespace(ns)
	}
	created, err := create(context.Background(), obj)
	judge(t, template, constraint, obj, assertions, created, err)
}

// judge checks the outcome of one operation on obj (result and err) against
// the case's assertions, and removes what the operation left.
func judge(t *testing.T, template string, constraint, obj *unstructured.Unstructured, assertions []verify.Assertion, created *unstructured.Unstructured, err error) {
	t.Helper()
	ctx := context.Background()
	wantDenied, messages := expectation(assertions)
	if !wantDenied {
		if err != nil {
			t.Fatalf("%s %s: not admitted: %v", obj.GetKind(), obj.GetName(), err)
		}
		if created != nil {
			_ = env.client.Delete(ctx, created)
		}
		return
	}
	if err == nil {
		if created != nil {
			_ = env.client.Delete(ctx, created)
		}
		// gator judges the manifest; the API server first defaults it, and
		// for a Pod it sets every request a container leaves out to that
		// container's limit. A sample that is disallowed only for lacking
		// those requests is then compliant. Admission is accepted for that
		// reason only, and only if the stored object shows it: every
		// container of the sample with limits and missing requests must come
		// back with those requests equal to its limits.
		missing := limitsWithoutRequests(obj)
		if len(missing) == 0 || created == nil {
			t.Fatalf("%s %s: admitted, want denied", obj.GetKind(), obj.GetName())
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
	if msg == "" && rejectedBeforeAdmission(t, err) {
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
func scopeTo(c *unstructured.Unstructured, namespaces ...string) {
	c.SetName("e2e-" + c.GetName())
	unstructured.RemoveNestedField(c.Object, "spec", "match", "namespaceSelector")
	unstructured.RemoveNestedField(c.Object, "spec", "match", "excludedNamespaces")
	_ = unstructured.SetNestedStringSlice(c.Object, namespaces, "spec", "match", "namespaces")
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

// review is an AdmissionReview sample as the real operation it stands for.
type review struct {
	op, sub  string
	ns       string                     // the namespace of its own that a namespaced object lives in
	old, obj *unstructured.Unstructured // the request's oldObject and object, placed
	live     *unstructured.Unstructured // old as created
	resource dynamic.ResourceInterface
}

// prepareReview creates the old object of an UPDATE or DELETE sample before
// the suite's constraint exists — the case is about an object that was
// there first — in a namespace of its own, so that it keeps its name (which
// the suite's messages quote, and a rule may look at) without meeting the
// other cases' objects. A Namespace is renamed with suffix, keeping its
// name as a prefix (the governed-namespace rule matches on it).
func prepareReview(t *testing.T, suffix string, ar *unstructured.Unstructured) *review {
	t.Helper()
	req, _, _ := unstructured.NestedMap(ar.Object, "request")
	oldRaw, _, _ := unstructured.NestedMap(req, "oldObject")
	newRaw, _, _ := unstructured.NestedMap(req, "object")
	rv := &review{old: &unstructured.Unstructured{Object: oldRaw}, obj: &unstructured.Unstructured{Object: newRaw}}
	rv.op, _, _ = unstructured.NestedString(req, "operation")
	rv.sub, _, _ = unstructured.NestedString(req, "subResource")
	if (rv.op != "UPDATE" && rv.op != "DELETE") || oldRaw == nil || newRaw == nil {
		t.Fatalf("AdmissionReview: operation %q: only UPDATEs and DELETEs with object and oldObject can be replayed", rv.op)
	}
	create0 := rv.old.DeepCopy()
	if isKind(rv.old, "Namespace") {
		name := rv.old.GetName() + "-r" + suffix
		rv.old.SetName(name)
		rv.obj.SetName(name)
		create0.SetName(name)
		if rv.op == "DELETE" {
			// The bundle refuses an scm-edge- Namespace without the governed
			// label, so the one to delete is created with it; whether a
			// DELETE is allowed does not depend on the labels it goes with.
			labels := create0.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[GovernedLabel] = "true"
			create0.SetLabels(labels)
		}
	} else {
		rv.ns = namespace(t, "e2e-review", nil)
		for _, o := range []*unstructured.Unstructured{rv.old, rv.obj, create0} {
			o.SetNamespace(rv.ns)
		}
	}
	live, err := create(context.Background(), create0)
	if err != nil {
		t.Fatalf("creating the old %s %s of the %s before the constraint: %v", create0.GetKind(), create0.GetName(), rv.op, err)
	}
	rv.live = live
	t.Cleanup(func() { _ = env.client.Delete(context.Background(), live) })
	if rv.resource, err = env.client.Resource(rv.obj); err != nil {
		t.Fatal(err)
	}
	return rv
}

// replay runs the operation. An UPDATE is sent as the strategic merge patch
// from the sample's oldObject to its object, applied to the stored object:
// a full update would also undo what the API server defaulted at creation
// (a Pod's imagePullPolicy, for one), which it refuses before admission.
func (rv *review) replay(t *testing.T) (*unstructured.Unstructured, error) {
	t.Helper()
	ctx := context.Background()
	if rv.op == "DELETE" {
		return nil, rv.resource.Delete(ctx, rv.live.GetName(), metav1.DeleteOptions{})
	}
	typed, err := scheme.Scheme.New(rv.obj.GroupVersionKind())
	if err != nil {
		t.Fatalf("no Go type to compute a strategic merge patch for %s: %v", rv.obj.GroupVersionKind(), err)
	}
	oldJSON, err := rv.old.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	newJSON, err := rv.obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, typed)
	if err != nil {
		t.Fatalf("strategic merge patch from the sample's oldObject to its object: %v", err)
	}
	var sub []string
	if rv.sub != "" {
		sub = []string{rv.sub}
	}
	return rv.resource.Patch(ctx, rv.live.GetName(), types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldValidation: metav1.FieldValidationStrict}, sub...)
}
