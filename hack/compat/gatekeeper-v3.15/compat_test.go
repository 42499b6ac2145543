package compat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/opa/version"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The bundle lives in the main module; this module sits three levels below
// the repository root.
var repoRoot = flag.String("repo", "../../..", "repository root holding constrainttemplates/ and deploy/")

// Versions this module must link: what Gatekeeper v3.15.1's go.mod pins. A
// `go get -u` that silently moved them would make every other check here
// meaningless, so they are asserted, not assumed.
var pinned = map[string]string{
	"github.com/open-policy-agent/frameworks/constraint": "v0.0.0-20240110234408-18fa1fc7dc06",
	"github.com/open-policy-agent/opa":                   "v0.60.0",
	"k8s.io/api":                                         "v0.28.6",
	"k8s.io/apimachinery":                                "v0.28.6",
	"k8s.io/apiextensions-apiserver":                     "v0.28.6",
}

func TestPinnedVersions(t *testing.T) {
	// The linked OPA says its own version at run time.
	if version.Version != "0.60.0" {
		t.Errorf("linked OPA reports version %s, want 0.60.0", version.Version)
	}
	// Test binaries carry no dependency list in their build info, so read
	// go.mod: with module graph pruning it lists every module the build
	// selects, and go test refuses to run if it is out of date.
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") {
			got[f[0]] = f[1]
		}
		if len(f) > 0 && f[0] == "replace" {
			t.Errorf("go.mod has a replace directive (%s): the check must use published modules", line)
		}
	}
	for path, want := range pinned {
		if got[path] != want {
			t.Errorf("go.mod requires %s %q, want %q (the version Gatekeeper v3.15.1 pins)", path, got[path], want)
		}
	}
}

// bundle is what the repository ships, found by the same globs the
// generator and gator use.
type bundle struct {
	templates   []string // constrainttemplates/*/template.yaml
	suites      []string // constrainttemplates/*/suite.yaml
	constraints []string // constrainttemplates/*/samples/*/constraint.yaml
	deployed    []string // deploy/gatekeeper/constraints/**.yaml, if present
}

func findBundle(t *testing.T) bundle {
	t.Helper()
	root := *repoRoot
	glob := func(pattern string) []string {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(m)
		return m
	}
	b := bundle{
		templates:   glob("constrainttemplates/*/template.yaml"),
		suites:      glob("constrainttemplates/*/suite.yaml"),
		constraints: glob("constrainttemplates/*/samples/*/constraint.yaml"),
	}
	// An empty bundle would make every check below vacuous: that is a
	// failure (wrong working directory, moved tree), never a skip.
	if len(b.templates) == 0 {
		t.Fatalf("no constrainttemplates/*/template.yaml under %s", root)
	}
	if len(b.suites) == 0 {
		t.Fatalf("no constrainttemplates/*/suite.yaml under %s", root)
	}
	deployDir := filepath.Join(root, "deploy", "gatekeeper", "constraints")
	if _, err := os.Stat(deployDir); err == nil {
		err := filepath.WalkDir(deployDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".yaml" && d.Name() != "kustomization.yaml" {
				b.deployed = append(b.deployed, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestBundleLoads compiles every template into one client, as a 3.15
// cluster holds them all, then adds every sample constraint and every
// constraint deploy/ applies: each must pass the 3.15 constraint schema
// (including its stricter match globs) and target validation.
func TestBundleLoads(t *testing.T) {
	b := findBundle(t)
	ctx := context.Background()
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, p := range b.templates {
		tmpl, err := ReadTemplate(p)
		if err != nil {
			t.Errorf("read %s: %v", rel(p), err)
			continue
		}
		if engines := codeEngines(tmpl); len(engines) > 0 {
			t.Logf("%s: engines %v; Gatekeeper 3.15 (CEL driver off by default) runs Rego", rel(p), engines)
		}
		if _, err := c.AddTemplate(ctx, tmpl); err != nil {
			t.Errorf("template %s does not load into Gatekeeper 3.15 (OPA 0.60): %v", rel(p), err)
			continue
		}
		kinds[tmpl.Spec.CRD.Spec.Names.Kind] = true
	}

	var constraints []*unstructured.Unstructured
	var sources []string
	for _, p := range b.constraints {
		u, err := ReadConstraint(p)
		if err != nil {
			t.Errorf("read %s: %v", rel(p), err)
			continue
		}
		constraints = append(constraints, u)
		sources = append(sources, rel(p))
	}
	for _, p := range b.deployed {
		objs, err := ReadObjects(p)
		if err != nil {
			t.Errorf("read %s: %v", rel(p), err)
			continue
		}
		for _, u := range objs {
			if u.GroupVersionKind().Group == "constraints.gatekeeper.sh" {
				constraints = append(constraints, u)
				sources = append(sources, rel(p))
			}
		}
	}
	if len(constraints) == 0 {
		t.Error("no constraints found under constrainttemplates/*/samples/*/constraint.yaml or deploy/gatekeeper/constraints")
	}
	for i, u := range constraints {
		if !kinds[u.GetKind()] {
			t.Errorf("%s: constraint %s/%s has no loaded template", sources[i], u.GetKind(), u.GetName())
			continue
		}
		// Samples and deploy/ may reuse a constraint name; each constraint
		// is added alone and removed again so that one never replaces
		// another unnoticed.
		if _, err := c.AddConstraint(ctx, u); err != nil {
			t.Errorf("%s: constraint %s/%s is refused by Gatekeeper 3.15: %v", sources[i], u.GetKind(), u.GetName(), err)
			continue
		}
		if _, err := c.RemoveConstraint(ctx, u); err != nil {
			t.Errorf("%s: remove constraint %s: %v", sources[i], u.GetName(), err)
		}
	}
	t.Logf("loaded %d templates, %d constraints (%d samples, %d from deploy/)",
		len(kinds), len(constraints), len(b.constraints), len(constraints)-len(b.constraints))
	summary.templates, summary.constraints = len(kinds), len(constraints)
}

func codeEngines(tmpl *templates.ConstraintTemplate) []string {
	var out []string
	for _, tg := range tmpl.Spec.Targets {
		for _, c := range tg.Code {
			out = append(out, c.Engine)
		}
	}
	return out
}

// TestSuites runs every gator suite against Gatekeeper 3.15's engine.
func TestSuites(t *testing.T) {
	b := findBundle(t)
	ctx := context.Background()
	withSuite := map[string]bool{}
	for _, p := range b.suites {
		withSuite[filepath.Dir(p)] = true
		name := filepath.Base(filepath.Dir(p))
		t.Run(name, func(t *testing.T) {
			outcomes, err := RunSuite(ctx, p)
			if err != nil {
				t.Fatalf("%s: %v", rel(p), err)
			}
			summary.suites++
			ran := 0
			for _, o := range outcomes {
				switch {
				case o.Skipped:
					// gator's skip: fields are honoured, but said out loud.
					t.Logf("skipped: %s / %s", o.Test, o.Case)
					summary.skipped++
				case o.Err != nil && o.Case == "":
					t.Errorf("%s: test %q: %v", rel(p), o.Test, o.Err)
				case o.Err != nil:
					t.Errorf("%s: test %q case %q: %v", rel(p), o.Test, o.Case, o.Err)
					ran++
				default:
					ran++
				}
				summary.reviews += o.Reviews
			}
			summary.cases += ran
			if ran == 0 {
				t.Errorf("%s: no case ran", rel(p))
			}
		})
	}
	for _, p := range b.templates {
		if !withSuite[filepath.Dir(p)] {
			t.Logf("note: %s has no suite.yaml yet", rel(p))
		}
	}
}

// summary collects the counts the main test prints; compat.sh shows them.
var summary struct {
	templates, constraints, suites, cases, skipped, reviews, corpus int
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if summary.templates+summary.suites+summary.corpus > 0 {
		fmt.Printf("gatekeeper v3.15.1 compat: %d templates loaded, %d constraints added, %d suites, %d cases verified (%d reviews incl. expansion), %d skipped; %d corpus manifests judged as expected\n",
			summary.templates, summary.constraints, summary.suites, summary.cases, summary.reviews, summary.skipped, summary.corpus)
	}
	os.Exit(code)
}

func rel(p string) string {
	if r, err := filepath.Rel(*repoRoot, p); err == nil {
		return r
	}
	return p
}

// TestDeployedExpansion loads the ExpansionTemplates deploy/ applies with
// Gatekeeper 3.15's validation and served versions, and checks that each
// workload kind the bundle governs expands, by 3.15's rules, into a Pod
// carrying the workload's pod template. Without this, a workload kind the
// templates miss would go unjudged on a 3.15 cluster (constraints match Pods).
func TestDeployedExpansion(t *testing.T) {
	dir := filepath.Join(*repoRoot, "deploy", "gatekeeper", "expansion")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		o, err := ReadObjects(f)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	templates, err := ParseExpansionTemplates(objs)
	if err != nil {
		t.Fatalf("%s: %v", rel(dir), err)
	}
	if len(templates) == 0 {
		t.Fatalf("no ExpansionTemplate under %s", rel(dir))
	}
	podSpec := map[string]interface{}{
		"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": "tracker"}},
		"spec": map[string]interface{}{
			"runtimeClassName": "wasmedge",
			"containers":       []interface{}{map[string]interface{}{"name": "tracker", "image": "registry.example.com/supply-chain-tracker:1.0.0"}},
		},
	}
	workload := func(apiVersion, kind string, spec map[string]interface{}) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": apiVersion,
			"kind":       kind,
			"metadata":   map[string]interface{}{"name": "tracker", "namespace": "scm-edge-1"},
			"spec":       spec,
		}}
	}
	withTemplate := map[string]interface{}{"template": podSpec}
	for _, w := range []*unstructured.Unstructured{
		workload("apps/v1", "Deployment", withTemplate),
		workload("apps/v1", "StatefulSet", withTemplate),
		workload("apps/v1", "DaemonSet", withTemplate),
		workload("apps/v1", "ReplicaSet", withTemplate),
		workload("batch/v1", "Job", withTemplate),
		workload("batch/v1", "CronJob", map[string]interface{}{
			"schedule":    "*/5 * * * *",
			"jobTemplate": map[string]interface{}{"spec": withTemplate},
		}),
	} {
		res, err := Expand(w.DeepCopy(), templates)
		if err != nil {
			t.Errorf("%s: %v", w.GetKind(), err)
			continue
		}
		var pods []*unstructured.Unstructured
		for _, r := range res {
			if r.Object.GroupVersionKind() == (schema.GroupVersionKind{Version: "v1", Kind: "Pod"}) {
				pods = append(pods, r.Object)
			}
		}
		if len(pods) != 1 {
			t.Errorf("%s expands into %d Pods, want 1", w.GetKind(), len(pods))
			continue
		}
		pod := pods[0]
		if pod.GetNamespace() != "scm-edge-1" || pod.GetLabels()["app"] != "tracker" {
			t.Errorf("%s: pod %s/%s labels %v: want the workload's namespace and its template's labels", w.GetKind(), pod.GetNamespace(), pod.GetName(), pod.GetLabels())
		}
		if rc, _, _ := unstructured.NestedString(pod.Object, "spec", "runtimeClassName"); rc != "wasmedge" {
			t.Errorf("%s: pod spec.runtimeClassName %q: the pod does not carry the template's spec", w.GetKind(), rc)
		}
	}
}
