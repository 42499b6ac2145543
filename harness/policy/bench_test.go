package policy

import (
	"context"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgetrace/edgetrace/harness/podgen"
)

// BenchmarkReview measures per-object review latency of the full production
// bundle, Rego against CEL in the same run, for a compliant tracker Pod, the
// same as a Deployment (one expansion) and a random mix.
func BenchmarkReview(b *testing.B) {
	p := productionPair(b)
	const ns = "scm-edge-bench"
	nsInput := Input{File: "bench", Object: &unstructured.Unstructured{Object: podgen.Namespace(ns)}}
	g := podgen.New(1)
	objects := map[string]func(i int) podgen.Obj{
		"pod": func(int) podgen.Obj {
			return podgen.Obj{"apiVersion": "v1", "kind": "Pod", "metadata": podgen.Obj{"name": "tracker", "namespace": ns}, "spec": podgen.TrackerPodSpec()}
		},
		"deployment": func(int) podgen.Obj { return podgen.Workload("Deployment", ns, "tracker", podgen.TrackerPodSpec()) },
		"random":     func(i int) podgen.Obj { return g.Pod(ns, podgen.Name("r", i)) },
	}
	for _, name := range []string{"pod", "deployment", "random"} {
		mk := objects[name]
		for _, ev := range []*Evaluator{p.Rego, p.CEL} {
			b.Run(name+"/"+string(ev.Engine()), func(b *testing.B) {
				inputs := make([]Input, 64)
				for i := range inputs {
					inputs[i] = Input{File: "bench", Object: &unstructured.Unstructured{Object: mk(i)}}
				}
				sess, err := ev.newSession([]Input{nsInput})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := sess.review(ctx, inputs[i%len(inputs)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReviewByTemplate splits the full bundle's cost by template: each
// sub-benchmark holds one template with its production constraints and
// reviews the compliant tracker Pod (what admission mostly sees) or the same
// random mix (mostly violations, so messages are built too), so the
// expensive rule is easy to spot.
func BenchmarkReviewByTemplate(b *testing.B) {
	full, err := LoadBundle(filepath.Join(repoRoot, "deploy", "gatekeeper"))
	if err != nil {
		b.Fatal(err)
	}
	const ns = "scm-edge-bench"
	nsInput := Input{File: "bench", Object: &unstructured.Unstructured{Object: podgen.Namespace(ns)}}
	g := podgen.New(1)
	random := make([]Input, 256)
	for i := range random {
		random[i] = Input{File: "bench", Object: &unstructured.Unstructured{Object: g.Pod(ns, podgen.Name("r", i))}}
	}
	compliant := []Input{{File: "bench", Object: &unstructured.Unstructured{Object: podgen.Obj{
		"apiVersion": "v1", "kind": "Pod", "metadata": podgen.Obj{"name": "tracker", "namespace": ns}, "spec": podgen.TrackerPodSpec()}}}}
	ctx := context.Background()
	for _, t := range full.Templates {
		kind, _, _ := unstructured.NestedString(t.Object, "spec", "crd", "spec", "names", "kind")
		one := &Bundle{Templates: []*unstructured.Unstructured{t}, Expansions: full.Expansions}
		for _, c := range full.Constraints {
			if c.GetKind() == kind {
				one.Constraints = append(one.Constraints, c)
			}
		}
		for _, engine := range []Engine{Rego, CEL} {
			ev, err := NewEvaluator(ctx, one, engine)
			if err != nil {
				b.Fatal(err)
			}
			for _, set := range []struct {
				name   string
				inputs []Input
			}{{"compliant", compliant}, {"random", random}} {
				b.Run(kind+"/"+string(engine)+"/"+set.name, func(b *testing.B) {
					sess, err := ev.newSession([]Input{nsInput})
					if err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := sess.review(ctx, set.inputs[i%len(set.inputs)]); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
