package compat

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The bundle tests are only as good as the runner: these run it on a tiny
// fixture bundle whose outcomes are known, including suites that must fail.

func TestSelfTestSuitePasses(t *testing.T) {
	outcomes, err := RunSuite(context.Background(), "testdata/selftest/suite.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 10 {
		t.Errorf("got %d outcomes, want 10 (9 cases and 1 invalid-constraint test)", len(outcomes))
	}
	for _, o := range outcomes {
		if o.Skipped || o.Err != nil {
			t.Errorf("%s / %s: skipped=%v err=%v", o.Test, o.Case, o.Skipped, o.Err)
		}
	}
}

func TestSelfTestWrongExpectationsFail(t *testing.T) {
	outcomes, err := RunSuite(context.Background(), "testdata/selftest/wrong.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 8 {
		t.Errorf("got %d outcomes, want 8", len(outcomes))
	}
	for _, o := range outcomes {
		if o.Err == nil {
			t.Errorf("%s / %s passed, but its expectation is wrong", o.Test, o.Case)
		} else {
			t.Logf("%s / %s failed as it must: %v", o.Test, o.Case, o.Err)
		}
	}
}

// The DESIGN note says Gatekeeper's Rego driver refuses `import rego.v1` in
// the legacy rego field; this pins that for 3.15's framework, which is why
// the bundle uses future.keywords instead.
func TestRegoV1ImportRefused(t *testing.T) {
	tmpl, err := ReadTemplate("testdata/selftest/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := tmpl.Spec.Targets[0].Rego
	tmpl.Spec.Targets[0].Rego = strings.Replace(src, "import future.keywords.contains\nimport future.keywords.if\n", "import rego.v1\n", 1)
	if tmpl.Spec.Targets[0].Rego == src {
		t.Fatal("fixture changed: future.keywords imports not found")
	}
	// The conversion stored the Rego in Code too; rebuild from the field.
	tmpl.Spec.Targets[0].Code = nil
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTemplate(context.Background(), tmpl); err == nil {
		t.Error("template with `import rego.v1` loaded; Gatekeeper 3.15 is expected to refuse it")
	}
}

func TestExpandCronJob(t *testing.T) {
	objs, err := ReadObjects("testdata/selftest/expansion.yaml")
	if err != nil {
		t.Fatal(err)
	}
	templates, err := ParseExpansionTemplates(objs)
	if err != nil {
		t.Fatal(err)
	}
	cron, err := readOne("testdata/selftest/cronjob-unowned-pods.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Expand(cron, templates)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.TemplateName+":"+r.Object.GetAPIVersion()+"/"+r.Object.GetKind()+"/"+r.Object.GetNamespace()+"/"+r.Object.GetName())
	}
	want := []string{
		"expand-workloads:v1/Pod/edge/nightly-job-pod",
		"expand-cronjobs:batch/v1/Job/edge/nightly-job",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("resultants:\n got %v\nwant %v", got, want)
	}
	// The pod carries the template's labels and spec, nothing of the parent.
	pod := res[0].Object
	if pod.GetLabels()["app"] != "nightly" {
		t.Errorf("pod labels %v, want app=nightly from the job template", pod.GetLabels())
	}
	if _, found, _ := unstructured.NestedString(pod.Object, "spec", "schedule"); found {
		t.Error("pod carries the CronJob's schedule")
	}
}

func TestExpansionTemplateValidation(t *testing.T) {
	selfEdge := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "expansion.gatekeeper.sh/v1alpha1",
		"kind":       "ExpansionTemplate",
		"metadata":   map[string]interface{}{"name": "loop"},
		"spec": map[string]interface{}{
			"applyTo":        []interface{}{map[string]interface{}{"groups": []interface{}{""}, "kinds": []interface{}{"Pod"}, "versions": []interface{}{"v1"}}},
			"templateSource": "spec",
			"generatedGVK":   map[string]interface{}{"group": "", "version": "v1", "kind": "Pod"},
		},
	}}
	if _, err := ParseExpansionTemplates([]*unstructured.Unstructured{selfEdge}); err == nil {
		t.Error("an ExpansionTemplate that expands its own output was accepted")
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		w    Wildcard
		s    string
		want bool
	}{
		{"kube-*", "kube-system", true},
		{"kube-*", "xkube-system", false},
		{"*-system", "gatekeeper-system", true},
		{"*-system", "gatekeeper-systems", false},
		{"edge", "edge", true},
		{"edge", "edge-1", false},
		{"*dge*", "scm-edge-1", true},
	} {
		if got := tc.w.Matches(tc.s); got != tc.want {
			t.Errorf("Wildcard(%q).Matches(%q) = %v, want %v", tc.w, tc.s, got, tc.want)
		}
	}
}

// A misspelt or newer field would be dropped by a 3.15 API server; the
// loader must say so rather than load the template without it.
func TestReadTemplateRejectsUnknownField(t *testing.T) {
	data, err := os.ReadFile("testdata/selftest/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "      rego: |", "      regoo: ignored\n      rego: |", 1)
	p := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTemplate(p); err == nil || !strings.Contains(err.Error(), "regoo") {
		t.Errorf("ReadTemplate with an unknown field: got error %v, want one naming the field", err)
	}
}
