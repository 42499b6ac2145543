package gatekeeper

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(apiVersion, kind, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetName(name)
	return o
}

func TestApplyOrderPutsTemplatesFirst(t *testing.T) {
	in := []*unstructured.Unstructured{
		obj("constraints.gatekeeper.sh/v1beta1", "EdgeRuntimeClass", "c1"),
		obj("mutations.gatekeeper.sh/v1", "Assign", "m1"),
		obj("expansion.gatekeeper.sh/v1alpha1", "ExpansionTemplate", "e1"),
		obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t1"),
		obj("config.gatekeeper.sh/v1alpha1", "Config", "config"),
		obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t2"),
		obj("constraints.gatekeeper.sh/v1beta1", "EdgeLimits", "c2"),
	}
	var got []string
	for _, o := range ApplyOrder(in) {
		got = append(got, o.GetName())
	}
	if want := "t1 t2 c1 c2 e1 m1 config"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}

func TestNotLive(t *testing.T) {
	withStatus := func(o *unstructured.Unstructured, status map[string]any) *unstructured.Unstructured {
		o.Object["status"] = status
		return o
	}
	pod := func(fields map[string]any) []any { return []any{fields} }
	withGeneration := func(o *unstructured.Unstructured, g int64) *unstructured.Unstructured {
		o.SetGeneration(g)
		return o
	}
	cases := []struct {
		name    string
		obj     *unstructured.Unstructured
		role    int
		live    bool
		wantErr string
	}{
		{"template without status", obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t"), roleTemplate, false, ""},
		{"template created", withStatus(obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t"), map[string]any{"created": true}), roleTemplate, true, ""},
		{"template with compile error", withStatus(obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t"),
			map[string]any{"byPod": pod(map[string]any{"id": "p", "errors": []any{map[string]any{"message": "rego_parse_error"}}})}), roleTemplate, false, "rego_parse_error"},
		{"constraint without pods", obj("constraints.gatekeeper.sh/v1beta1", "K", "c"), roleConstraint, false, ""},
		{"constraint not enforced", withStatus(obj("constraints.gatekeeper.sh/v1beta1", "K", "c"),
			map[string]any{"byPod": pod(map[string]any{"id": "p", "enforced": false})}), roleConstraint, false, ""},
		{"constraint enforced", withStatus(obj("constraints.gatekeeper.sh/v1beta1", "K", "c"),
			map[string]any{"byPod": pod(map[string]any{"id": "p", "enforced": true})}), roleConstraint, true, ""},
		{"constraint enforced at an earlier generation", withGeneration(withStatus(obj("constraints.gatekeeper.sh/v1beta1", "K", "c"),
			map[string]any{"byPod": pod(map[string]any{"id": "p", "enforced": true, "observedGeneration": int64(1)})}), 2), roleConstraint, false, ""},
		{"constraint enforced at its generation", withGeneration(withStatus(obj("constraints.gatekeeper.sh/v1beta1", "K", "c"),
			map[string]any{"byPod": pod(map[string]any{"id": "p", "enforced": true, "observedGeneration": int64(2)})}), 2), roleConstraint, true, ""},
		{"old error of a template since changed", withGeneration(withStatus(obj("templates.gatekeeper.sh/v1", "ConstraintTemplate", "t"),
			map[string]any{"created": true, "byPod": pod(map[string]any{"id": "p", "observedGeneration": int64(1), "errors": []any{map[string]any{"message": "rego_parse_error"}}})}), 2), roleTemplate, false, ""},
		{"expansion loaded", withStatus(obj("expansion.gatekeeper.sh/v1alpha1", "ExpansionTemplate", "e"),
			map[string]any{"byPod": pod(map[string]any{"id": "p"})}), roleExpansion, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			why, err := notLive(c.obj, c.role, nil)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if live := why == ""; live != c.live {
				t.Errorf("live = %v (%q), want %v", live, why, c.live)
			}
		})
	}
}

// TestNotLiveWaitsForEveryWebhookPod: in the cluster, a constraint that the
// audit pod or one webhook replica enforces is not live while another
// replica could still admit what it forbids.
func TestNotLiveWaitsForEveryWebhookPod(t *testing.T) {
	servers := []string{"wh-1", "wh-2"}
	constraint := func(ids ...string) *unstructured.Unstructured {
		o := obj("constraints.gatekeeper.sh/v1beta1", "K", "c")
		var byPod []any
		for _, id := range ids {
			byPod = append(byPod, map[string]any{"id": id, "enforced": true})
		}
		o.Object["status"] = map[string]any{"byPod": byPod}
		return o
	}
	for _, c := range []struct {
		ids  []string
		live bool
	}{
		{[]string{"audit"}, false},
		{[]string{"audit", "wh-1"}, false},
		{[]string{"wh-2", "wh-1"}, true},
		{[]string{"audit", "wh-1", "wh-2"}, true},
	} {
		why, err := notLive(constraint(c.ids...), roleConstraint, servers)
		if err != nil {
			t.Fatal(err)
		}
		if live := why == ""; live != c.live {
			t.Errorf("byPod %v: live = %v (%q), want %v", c.ids, live, why, c.live)
		}
	}
}
