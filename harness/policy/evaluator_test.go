package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The demo bundle (testdata/demo) holds one template with Rego and CEL that
// allows only Pods named "good", a constraint scoped to governed namespaces
// and a Deployment ExpansionTemplate: enough to test the evaluator's own
// logic apart from the production policies.
func demoPair(t *testing.T) *Pair {
	t.Helper()
	b, err := LoadBundle("testdata/demo/bundle")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPair(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckScopesExpandsAndAgrees(t *testing.T) {
	p := demoPair(t)
	inputs, err := ReadPaths([]string{"testdata/demo/inputs.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, diffs, err := p.Check(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Fatalf("engines disagree: %v", diffs)
	}
	want := map[string]bool{
		"Namespace/gov": true, "Namespace/free": true,
		"Pod/gov/good": true, "Pod/gov/bad": false,
		"Pod/free/bad":       true,  // ungoverned namespace: out of scope
		"Deployment/gov/dep": false, // denied through its expanded Pod
	}
	for _, r := range results {
		key := r.Object.Kind + "/" + r.Object.Name
		if r.Object.Namespace != "" {
			key = r.Object.Kind + "/" + r.Object.Namespace + "/" + r.Object.Name
		}
		if r.Allowed != want[key] {
			t.Errorf("%s: allowed=%v, want %v (%+v)", key, r.Allowed, want[key], r.Violations)
		}
	}
	dep := results[len(results)-1]
	if len(dep.Violations) != 1 || !strings.Contains(dep.Violations[0].Message, "[Implied by expand-deployments] name <dep-pod>") {
		t.Errorf("deployment violations = %+v", dep.Violations)
	}
}

func TestCheckAdmissionReviewUpdateIsExpanded(t *testing.T) {
	p := demoPair(t)
	inputs, err := ReadPaths([]string{"testdata/demo/admission-update.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*Evaluator{p.Rego, p.CEL} {
		results, err := ev.Check(context.Background(), inputs)
		if err != nil {
			t.Fatal(err)
		}
		r := results[1]
		if r.Operation != "UPDATE" || r.Object.Kind != "Deployment" || r.Object.Namespace != "gov" {
			t.Errorf("%s: result names %+v (%s)", ev.Engine(), r.Object, r.Operation)
		}
		if r.Allowed {
			t.Errorf("%s: UPDATE to a non-compliant Deployment was allowed", ev.Engine())
		}
	}
}

func TestCheckMissingNamespaceIsAnError(t *testing.T) {
	p := demoPair(t)
	inputs, err := ReadPaths([]string{"-"}, strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: nowhere}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Rego.Check(context.Background(), inputs)
	if !errors.Is(err, ErrMissingNamespace) || !strings.Contains(err.Error(), `"nowhere"`) || !strings.HasPrefix(err.Error(), "-:1:") {
		t.Fatalf("got %v, want ErrMissingNamespace naming the input and namespace", err)
	}
}
