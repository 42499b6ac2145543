package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/edgetrace/edgetrace/harness/policy"
)

// Text writes a table with one row per object and one indented line per
// violation, then a one-line summary.
func Text(w io.Writer, results []policy.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tOBJECT\tFILE")
	denied := 0
	for _, r := range results {
		verdict := "allowed"
		if !r.Allowed {
			verdict = "DENIED"
			denied++
		}
		obj := r.Object.Kind + " " + r.Object.Name
		if r.Object.Namespace != "" {
			obj = r.Object.Kind + " " + r.Object.Namespace + "/" + r.Object.Name
		}
		if r.Operation != "" {
			obj += " (" + r.Operation + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s:%d\n", verdict, obj, r.File, r.Line)
		for _, v := range r.Violations {
			// No tabs: a violation line must not widen the table's columns.
			fmt.Fprintf(tw, "    %s %s: %s\n", v.EnforcementAction, v.Constraint, v.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d objects: %d allowed, %d denied\n", len(results), len(results)-denied, denied)
	return err
}
