package policy

import (
	"context"
	"os"
	"testing"
)

// TestSuitesUnderEachEngine runs every gator suite with upstream's runner
// twice, once with Rego alone and once with CEL preferred, and fails on a
// failing case or on any review where the engines decided differently.
func TestSuitesUnderEachEngine(t *testing.T) {
	fsys := os.DirFS(repoRoot)
	runs := map[Engine]SuiteRun{}
	for _, e := range []Engine{Rego, CEL} {
		run, err := RunSuites(context.Background(), fsys, "constrainttemplates", e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range run.Failures() {
			t.Errorf("%s: %s", e, f)
		}
		if run.Cases() == 0 {
			t.Fatalf("%s: no suite cases ran", e)
		}
		runs[e] = run
	}
	r, c := runs[Rego].Decisions, runs[CEL].Decisions
	if len(r) != len(c) {
		t.Fatalf("rego made %d reviews, cel %d", len(r), len(c))
	}
	for i := range r {
		if r[i] != c[i] {
			t.Errorf("review %d: rego %q, cel %q", i, r[i], c[i])
		}
	}
	t.Logf("%d suite cases, %d reviews, engines agree", runs[Rego].Cases(), len(r))
}
