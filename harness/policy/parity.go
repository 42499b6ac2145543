package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Disagreement records an input on which the two engines decided differently.
type Disagreement struct {
	File   string
	Line   int
	Object ObjectRef
	Rego   string // decision and per-constraint violation counts
	CEL    string
}

func (d Disagreement) String() string {
	return fmt.Sprintf("%s:%d %s %s/%s: rego %s, cel %s", d.File, d.Line, d.Object.Kind, d.Object.Namespace, d.Object.Name, d.Rego, d.CEL)
}

// Summary condenses a result to what both engines must agree on: the
// decision and how many violations each constraint reported. Messages may
// legitimately differ in wording between engines; counts may not.
func Summary(r Result) string {
	counts := map[string]int{}
	for _, v := range r.Violations {
		counts[v.Constraint]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	if r.Allowed {
		b.WriteString("allowed")
	} else {
		b.WriteString("denied")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, counts[k])
	}
	return b.String()
}

// Compare pairs results from the Rego and CEL engines (same inputs, same
// order) and returns every disagreement.
func Compare(rego, cel []Result) ([]Disagreement, error) {
	if len(rego) != len(cel) {
		return nil, fmt.Errorf("compare: %d rego results, %d cel results", len(rego), len(cel))
	}
	var out []Disagreement
	for i := range rego {
		r, c := Summary(rego[i]), Summary(cel[i])
		if r != c {
			out = append(out, Disagreement{File: rego[i].File, Line: rego[i].Line, Object: rego[i].Object, Rego: r, CEL: c})
		}
	}
	return out, nil
}

// Pair holds one evaluator per engine over the same bundle.
type Pair struct {
	Rego, CEL *Evaluator
}

// NewPair compiles b for both engines.
func NewPair(ctx context.Context, b *Bundle) (*Pair, error) {
	r, err := NewEvaluator(ctx, b, Rego)
	if err != nil {
		return nil, err
	}
	c, err := NewEvaluator(ctx, b, CEL)
	if err != nil {
		return nil, err
	}
	return &Pair{Rego: r, CEL: c}, nil
}

// Check runs both engines, concurrently (they share nothing), and returns
// the CEL results (what Gatekeeper enforces when both are present) plus any
// disagreements.
func (p *Pair) Check(ctx context.Context, inputs []Input) ([]Result, []Disagreement, error) {
	var rr []Result
	var rerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rr, rerr = p.Rego.Check(ctx, inputs)
	}()
	cr, cerr := p.CEL.Check(ctx, inputs)
	<-done
	if rerr != nil {
		return nil, nil, fmt.Errorf("rego: %w", rerr)
	}
	if cerr != nil {
		return nil, nil, fmt.Errorf("cel: %w", cerr)
	}
	d, err := Compare(rr, cr)
	return cr, d, err
}
