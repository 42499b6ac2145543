package compat

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// expectAnnotation on a corpus object names the constraints ("Kind/name",
// comma-separated) that must deny it; the harness reads the same annotation.
const expectAnnotation = "edgetrace.io/expect-violation"

// TestCorpora reviews the manifest corpora with what operators apply
// (deploy/gatekeeper: templates, constraints, expansion) on Gatekeeper 3.15's
// engine, the way its webhook would: every object that records constraints
// must be denied by each of them, every other object must be admitted, and
// every non-Namespace evasion manifest must record one. Namespace objects
// among a corpus' inputs decide namespaceSelector scope, as in `harness check`.
func TestCorpora(t *testing.T) {
	root := *repoRoot
	ctx := context.Background()
	deploy := filepath.Join(root, "deploy", "gatekeeper")
	var bundle []*unstructured.Unstructured
	for _, sub := range []string{"templates", "constraints", "expansion"} {
		files, _ := filepath.Glob(filepath.Join(deploy, sub, "*.yaml"))
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			objs, err := ReadObjects(f)
			if err != nil {
				t.Fatal(err)
			}
			bundle = append(bundle, objs...)
		}
	}
	expansion, err := ParseExpansionTemplates(bundle)
	if err != nil {
		t.Fatal(err)
	}
	newClient := func(t *testing.T) *clientWithCount {
		c, err := NewClient()
		if err != nil {
			t.Fatal(err)
		}
		n := &clientWithCount{Client: c}
		for _, o := range bundle {
			switch o.GroupVersionKind().Group {
			case "templates.gatekeeper.sh":
				tmpl, err := templateFromObject(o)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.AddTemplate(ctx, tmpl); err != nil {
					t.Fatalf("template %s: %v", o.GetName(), err)
				}
				n.templates++
			case "constraints.gatekeeper.sh":
				if _, err := c.AddConstraint(ctx, o); err != nil {
					t.Fatalf("constraint %s/%s: %v", o.GetKind(), o.GetName(), err)
				}
				n.constraints++
			}
		}
		if n.templates == 0 || n.constraints == 0 {
			t.Fatalf("deploy/gatekeeper holds %d templates and %d constraints", n.templates, n.constraints)
		}
		return n
	}

	for _, dir := range []string{"compliant", "casestudy", "evasion"} {
		t.Run(dir, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(root, "testdata", "manifests", dir, "*.yaml"))
			if len(files) == 0 {
				t.Fatalf("no manifests in testdata/manifests/%s", dir)
			}
			type input struct {
				file string
				obj  *unstructured.Unstructured
			}
			var inputs []input
			for _, f := range files {
				objs, err := ReadObjects(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					inputs = append(inputs, input{rel(f), o})
				}
			}
			c := newClient(t)
			for _, in := range inputs {
				if isNamespace(in.obj) {
					if _, err := c.AddData(ctx, in.obj); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, in := range inputs {
				want := expectedBy(in.obj)
				where := in.file + ": " + describe(in.obj)
				ok := true
				fail := func(format string, args ...any) {
					ok = false
					t.Errorf(format, args...)
				}
				results, err := ReviewAsWebhook(ctx, c.Client, in.obj, expansion)
				if err != nil {
					fail("%s: %v", where, err)
					continue
				}
				denied := map[string]bool{}
				var msgs []string
				for _, r := range results {
					if r.EnforcementAction == "deny" && r.Constraint != nil {
						denied[r.Constraint.GetKind()+"/"+r.Constraint.GetName()] = true
					}
					msgs = append(msgs, r.Msg)
				}
				switch {
				case len(want) == 0 && dir == "evasion" && !isNamespace(in.obj):
					fail("%s: records no %s annotation", where, expectAnnotation)
				case len(want) == 0 && len(denied) > 0:
					fail("%s: denied on Gatekeeper 3.15, want admitted: %q", where, msgs)
				}
				for _, w := range want {
					if !denied[w] {
						fail("%s: not denied by %s on Gatekeeper 3.15; got %q", where, w, msgs)
					}
				}
				if ok {
					summary.corpus++
				}
			}
		})
	}
}

type clientWithCount struct {
	*client.Client
	templates, constraints int
}

// describe names a corpus object; for an AdmissionReview, the request's
// operation, kind and name.
func describe(o *unstructured.Unstructured) string {
	if o.GetKind() == "AdmissionReview" {
		op, _, _ := unstructured.NestedString(o.Object, "request", "operation")
		kind, _, _ := unstructured.NestedString(o.Object, "request", "kind", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "request", "name")
		return "AdmissionReview " + op + " " + kind + " " + name
	}
	return o.GetKind() + " " + o.GetName()
}

func expectedBy(o *unstructured.Unstructured) []string {
	ann := o.GetAnnotations()
	if o.GetKind() == "AdmissionReview" {
		if obj, found, _ := unstructured.NestedMap(o.Object, "request", "object"); found {
			ann = (&unstructured.Unstructured{Object: obj}).GetAnnotations()
		}
	}
	var out []string
	for _, s := range strings.Split(ann[expectAnnotation], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
