package report

import (
	"fmt"
	"io"

	"github.com/edgetrace/edgetrace/harness/policy"
)

// Text writes a table with one row per object and one indented line per
// violation under it, then a one-line summary.
func Text(w io.Writer, results []policy.Result) error {
	objects := make([]string, len(results))
	width := len("OBJECT")
	for i, r := range results {
		obj := r.Object.Kind + " " + r.Object.Name
		if r.Object.Namespace != "" {
			obj = r.Object.Kind + " " + r.Object.Namespace + "/" + r.Object.Name
		}
		if r.Operation != "" {
			obj += " (" + r.Operation + ")"
		}
		objects[i] = obj
		width = max(width, len(obj))
	}
	fmt.Fprintf(w, "%-8s %-*s %s\n", "VERDICT", width, "OBJECT", "FILE")
	denied := 0
	for i, r := range results {
		verdict := "allowed"
		if !r.Allowed {
			verdict = "DENIED"
			denied++
		}
		fmt.Fprintf(w, "%-8s %-*s %s:%d\n", verdict, width, objects[i], r.File, r.Line)
		for _, v := range r.Violations {
			fmt.Fprintf(w, "    %s %s: %s\n", v.EnforcementAction, v.Constraint, v.Message)
		}
	}
	_, err := fmt.Fprintf(w, "%d objects: %d allowed, %d denied\n", len(results), len(results)-denied, denied)
	return err
}
