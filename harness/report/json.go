package report

import (
	"encoding/json"
	"io"

	"github.com/edgetrace/edgetrace/harness/policy"
)

// JSON writes results as a JSON array, one element per input object, with
// an empty (never null) violations list for allowed objects.
func JSON(w io.Writer, results []policy.Result) error {
	if results == nil {
		results = []policy.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
