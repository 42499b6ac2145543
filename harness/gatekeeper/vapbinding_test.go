package gatekeeper

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// vapFixture is a bundle of a CEL template with two constraints and a
// Rego-only template with one.
func vapFixture(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range []string{`
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8scel}
spec:
  crd: {spec: {names: {kind: K8sCel}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source: {validations: [{expression: "true"}]}
    - engine: Rego
      source: {rego: "package k8scel"}
`, `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sregoonly}
spec:
  crd: {spec: {names: {kind: K8sRegoOnly}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: "package k8sregoonly"
`, `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8scelnovap}
spec:
  crd: {spec: {names: {kind: K8sCelNoVAP}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source: {generateVAP: false, validations: [{expression: "true"}]}
`, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sCel
metadata: {name: edge}
spec:
  enforcementAction: warn
  match:
    namespaceSelector: {matchLabels: {edgetrace.io/governed: "true"}}
    labelSelector: {matchLabels: {app: tracker}}
`, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sCel
metadata: {name: plain}
`, `
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRegoOnly
metadata: {name: rego}
`} {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

func TestVAPBindings(t *testing.T) {
	objs := vapFixture(t)
	if got := CELTemplates(objs); !reflect.DeepEqual(got, map[string]bool{"k8scel": true}) {
		t.Errorf("CELTemplates = %v, want only k8scel (not the Rego-only one, nor the one with generateVAP: false)", got)
	}
	bindings, err := VAPBindings(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(bindings) != 2 {
		t.Fatalf("%d bindings, want one per constraint of the CEL template", len(bindings))
	}
	edge := bindings[0]
	if edge.GetName() != "edgetrace-k8scel-edge" {
		t.Errorf("name %q", edge.GetName())
	}
	want := map[string]any{
		"policyName":        "gatekeeper-k8scel",
		"paramRef":          map[string]any{"name": "edge", "parameterNotFoundAction": "Allow"},
		"validationActions": []any{"Warn"},
		"matchResources": map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"edgetrace.io/governed": "true"}},
			"objectSelector":    map[string]any{"matchLabels": map[string]any{"app": "tracker"}},
		},
	}
	if got := edge.Object["spec"]; !reflect.DeepEqual(got, want) {
		t.Errorf("spec = %v\nwant %v", got, want)
	}
	if acts, _, _ := unstructured.NestedSlice(bindings[1].Object, "spec", "validationActions"); !reflect.DeepEqual(acts, []any{"Deny"}) {
		t.Errorf("a constraint without enforcementAction binds with %v, want Deny", acts)
	}
	bad := objs[4].DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "scoped", "spec", "enforcementAction")
	if _, err := VAPBindings([]*unstructured.Unstructured{objs[0], bad}); err == nil {
		t.Error("enforcementAction scoped: no error")
	}
}

func TestWaitPoliciesWantsAPolicyAndABindingPerConstraint(t *testing.T) {
	ctx := context.Background()
	objs := vapFixture(t)
	policy := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-k8scel"}}
	// Named as Gatekeeper 3.23 names them; only policy and paramRef count.
	binding := func(constraint string) *admissionv1.ValidatingAdmissionPolicyBinding {
		return &admissionv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-k8scel-" + constraint},
			Spec:       admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "gatekeeper-k8scel", ParamRef: &admissionv1.ParamRef{Name: constraint}},
		}
	}
	g := &Gatekeeper{kube: fake.NewClientset(policy, binding("edge"))}
	_, err := g.WaitPolicies(ctx, objs, 1500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "missing: binding of gatekeeper-k8scel for plain") || strings.Contains(err.Error(), "rego") {
		t.Fatalf("one binding of two: %v; want only the binding for constraint plain missing", err)
	}
	g = &Gatekeeper{kube: fake.NewClientset(policy, binding("edge"), binding("plain"))}
	got, err := g.WaitPolicies(ctx, objs, 5*time.Second)
	if err != nil || len(got) != 1 || got[0].Name != "gatekeeper-k8scel" {
		t.Fatalf("WaitPolicies = %v, %v; want the one policy", got, err)
	}
}
