package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/harness/policy"
)

var sample = []policy.Result{
	{File: "a.yaml", Line: 1, Object: policy.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "scm-edge-1", Name: "ok"}, Allowed: true, Violations: []policy.Violation{}},
	{File: "a.yaml", Line: 9, Object: policy.ObjectRef{APIVersion: "v1", Kind: "Pod", Namespace: "scm-edge-1", Name: "bad"}, Violations: []policy.Violation{
		{Constraint: "K8sEdgeRuntimeClass/edge-runtime", Message: "runtimeClassName <runc> is not allowed", EnforcementAction: "deny"},
	}},
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, sample); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	if v, ok := got[0]["violations"].([]any); !ok || len(v) != 0 {
		t.Errorf("allowed object: violations = %#v, want []", got[0]["violations"])
	}
	obj := got[1]["object"].(map[string]any)
	for k, want := range map[string]string{"apiVersion": "v1", "kind": "Pod", "namespace": "scm-edge-1", "name": "bad"} {
		if obj[k] != want {
			t.Errorf("object.%s = %v, want %s", k, obj[k], want)
		}
	}
	v := got[1]["violations"].([]any)[0].(map[string]any)
	if v["constraint"] != "K8sEdgeRuntimeClass/edge-runtime" || v["enforcementAction"] != "deny" || v["message"] == "" {
		t.Errorf("violation = %#v", v)
	}
	if got[1]["allowed"] != false || got[0]["file"] != "a.yaml" {
		t.Errorf("allowed/file wrong: %#v", got)
	}
	var empty bytes.Buffer
	if err := JSON(&empty, nil); err != nil || strings.TrimSpace(empty.String()) != "[]" {
		t.Errorf("no results: got %q, %v; want []", empty.String(), err)
	}
}

func TestTextTable(t *testing.T) {
	var buf bytes.Buffer
	if err := Text(&buf, sample); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"allowed  Pod scm-edge-1/ok",
		"DENIED   Pod scm-edge-1/bad",
		"    deny K8sEdgeRuntimeClass/edge-runtime: runtimeClassName <runc> is not allowed",
		"2 objects: 1 allowed, 1 denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
