package policy

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// repoRoot is where the repository's bundle, suites and corpora live.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var (
	pairOnce sync.Once
	pair     *Pair
	pairErr  error
)

// productionPair compiles deploy/gatekeeper once for every test in the
// package; compiling the bundle is the slow part of evaluation.
func productionPair(t testing.TB) *Pair {
	t.Helper()
	pairOnce.Do(func() {
		b, err := LoadBundle(filepath.Join(repoRoot, "deploy", "gatekeeper"))
		if err != nil {
			pairErr = err
			return
		}
		pair, pairErr = NewPair(context.Background(), b)
	})
	if pairErr != nil {
		t.Fatalf("production bundle: %v", pairErr)
	}
	return pair
}

// ExpectAnnotation on a corpus object names the constraint ("Kind/name")
// that must deny it.
const ExpectAnnotation = "edgetrace.io/expect-violation"

func expectedViolations(o *unstructured.Unstructured) []string {
	annotations := o.GetAnnotations()
	if isAdmissionReview(o) {
		if req, ok := o.Object["request"].(map[string]any); ok {
			if obj, ok := req["object"].(map[string]any); ok {
				annotations = (&unstructured.Unstructured{Object: obj}).GetAnnotations()
			}
		}
	}
	v := strings.TrimSpace(annotations[ExpectAnnotation])
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func readCorpus(t *testing.T, rel string) []Input {
	t.Helper()
	inputs, err := ReadPaths([]string{filepath.Join(repoRoot, rel)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return inputs
}

func TestBundleLoads(t *testing.T) {
	b, err := LoadBundle(filepath.Join(repoRoot, "deploy", "gatekeeper"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Templates) < 3 || len(b.Constraints) < 3 {
		t.Errorf("bundle has %d templates and %d constraints, want at least the three tracker rules", len(b.Templates), len(b.Constraints))
	}
	kinds := map[string]bool{}
	for _, e := range b.Expansions {
		for _, k := range applyToKinds(e) {
			kinds[k] = true
		}
	}
	for _, k := range []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"} {
		if !kinds[k] {
			t.Errorf("no ExpansionTemplate applies to %s", k)
		}
	}
	for _, c := range b.Constraints {
		sel, _, _ := unstructured.NestedMap(c.Object, "spec", "match", "namespaceSelector")
		if sel == nil {
			t.Errorf("%s: not scoped by namespaceSelector", ConstraintName(c))
		}
	}
}

func applyToKinds(expansionTemplate *unstructured.Unstructured) []string {
	applyTo, _, _ := unstructured.NestedSlice(expansionTemplate.Object, "spec", "applyTo")
	var kinds []string
	for _, a := range applyTo {
		m, _ := a.(map[string]any)
		k, _, _ := unstructured.NestedStringSlice(m, "kinds")
		kinds = append(kinds, k...)
	}
	return kinds
}

// TestCorpora checks the manifest corpora under both engines: the compliant
// corpus is admitted, and every object that names the constraint it must
// trip (evasion corpus, case-study fixture) is denied by it.
func TestCorpora(t *testing.T) {
	p := productionPair(t)
	for _, dir := range []string{"compliant", "casestudy", "evasion"} {
		rel := filepath.Join("testdata", "manifests", dir)
		if _, err := os.Stat(filepath.Join(repoRoot, rel)); os.IsNotExist(err) && dir == "evasion" {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			inputs := readCorpus(t, rel)
			for _, ev := range []*Evaluator{p.Rego, p.CEL} {
				results, err := ev.Check(context.Background(), inputs)
				if err != nil {
					t.Fatalf("%s: %v", ev.Engine(), err)
				}
				checkExpectations(t, ev.Engine(), inputs, results, dir == "evasion")
			}
		})
	}
}

func checkExpectations(t *testing.T, engine Engine, inputs []Input, results []Result, everyNonNamespaceDenied bool) {
	t.Helper()
	for i, r := range results {
		want := expectedViolations(inputs[i].Object)
		where := string(engine) + " " + r.File + ": " + r.Object.Kind + " " + r.Object.Name
		if len(want) == 0 {
			if everyNonNamespaceDenied && !isNamespace(inputs[i].Object) {
				t.Errorf("%s: records no %s annotation", where, ExpectAnnotation)
			}
			if !r.Allowed {
				t.Errorf("%s: denied, want allowed: %+v", where, r.Violations)
			}
			continue
		}
		if r.Allowed {
			t.Errorf("%s: allowed, want denied by %v", where, want)
			continue
		}
		got := map[string]bool{}
		for _, v := range r.Violations {
			if v.Denies() {
				got[v.Constraint] = true
			}
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: not denied by %s (got %+v)", where, w, r.Violations)
			}
		}
	}
}

// TestMutationOverlay shows mutate-then-validate with Gatekeeper's mutation
// system in-process: with deploy/gatekeeper/mutation, a workload that omits
// runtimeClassName and the edge nodeSelector is admitted, while explicit
// wrong values are still denied; without the overlay the same workload is
// denied.
func TestMutationOverlay(t *testing.T) {
	base, err := LoadBundle(filepath.Join(repoRoot, "deploy", "gatekeeper"))
	if err != nil {
		t.Fatal(err)
	}
	mutating, err := base.WithOverlay(filepath.Join(repoRoot, "deploy", "gatekeeper", "mutation"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mutating.Mutators) == 0 {
		t.Fatal("mutation overlay holds no mutators")
	}
	inputs := readCorpus(t, filepath.Join("testdata", "manifests", "mutation"))
	ctx := context.Background()
	for _, engine := range []Engine{Rego, CEL} {
		withMutation, err := NewEvaluator(ctx, mutating, engine)
		if err != nil {
			t.Fatal(err)
		}
		results, err := withMutation.Check(ctx, inputs)
		if err != nil {
			t.Fatal(err)
		}
		checkExpectations(t, engine, inputs, results, false)

		plain, err := NewEvaluator(ctx, base, engine)
		if err != nil {
			t.Fatal(err)
		}
		results, err = plain.Check(ctx, inputs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Object.Name == "tracker-defaults" && r.Allowed {
				t.Errorf("%s: without the mutation overlay, %s %s must be denied", engine, r.Object.Kind, r.Object.Name)
			}
		}
	}
}
