package policy

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgetrace/edgetrace/harness/podgen"
)

// TestEnginesAgreeOnGeneratedPods feeds both engines random pod specs and
// workloads (quantity spellings legal and not, every container list,
// selectors, affinities) and fails on any difference in decision or
// per-constraint violation count. EDGETRACE_PARITY_CASES sets the count
// (default 10,000; CI runs the default) and EDGETRACE_PARITY_SEED replays a
// failing run.
func TestEnginesAgreeOnGeneratedPods(t *testing.T) {
	cases := envInt(t, "EDGETRACE_PARITY_CASES", 10000)
	if testing.Short() && os.Getenv("CI") != "true" { // CI always runs the full count
		cases = 500
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EDGETRACE_PARITY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EDGETRACE_PARITY_SEED=%q: %v", s, err)
		}
		seed = v
	}
	p := productionPair(t)
	g := podgen.New(seed)
	const ns, batch = "scm-edge-parity", 500
	denied, disagreements := 0, 0
	for done := 0; done < cases; done += batch {
		inputs := []Input{{File: "generated", Object: &unstructured.Unstructured{Object: podgen.Namespace(ns)}}}
		for i := 0; i < batch && done+i < cases; i++ {
			inputs = append(inputs, Input{File: "generated", Line: done + i + 1, Object: &unstructured.Unstructured{Object: g.Pod(ns, podgen.Name("p", done+i))}})
		}
		results, diffs, err := p.Check(context.Background(), inputs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, r := range results {
			if !r.Allowed {
				denied++
			}
		}
		for _, d := range diffs {
			disagreements++
			if disagreements <= 20 {
				t.Errorf("seed %d, case %d: %s\n  object: %v", seed, d.Line, d, inputs[indexOfLine(inputs, d.Line)].Object.Object)
			}
		}
	}
	if disagreements > 0 {
		t.Fatalf("seed %d: engines disagreed on %d of %d generated objects (replay with EDGETRACE_PARITY_SEED=%d)", seed, disagreements, cases, seed)
	}
	// A generator that only produced allowed (or only denied) objects would
	// make agreement meaningless.
	if denied == 0 || denied == cases {
		t.Fatalf("seed %d: %d of %d denied; the generator does not probe both outcomes", seed, denied, cases)
	}
	t.Logf("seed %d: %d generated objects, %d denied, engines agree on all", seed, cases, denied)
}

func indexOfLine(inputs []Input, line int) int {
	for i, in := range inputs {
		if in.Line == line && i > 0 {
			return i
		}
	}
	return 0
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}
