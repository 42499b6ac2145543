#!/usr/bin/env bash
# Runs the Rego unit tests under policies/ with the OPA binary in $OPA
# (default: the pinned v1.17.1). With --coverage, also fails unless every
# line of non-test Rego is covered, naming the uncovered lines.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
opa=${OPA:-$(hack/tools.sh opa v1.17.1)}

"$opa" test policies

if [[ ${1:-} == --coverage ]]; then
  report=$(mktemp)
  trap 'rm -f "$report"' EXIT
  "$opa" test --coverage --format=json policies >"$report"
  python3 - "$report" <<'PY'
import json, sys
files = json.load(open(sys.argv[1])).get("files", {})
covered = total = 0
gaps = []
for path, f in sorted(files.items()):
    if path.endswith("_test.rego"):
        continue
    c = sum(r["end"]["row"] - r["start"]["row"] + 1 for r in f.get("covered", []))
    n = sum(r["end"]["row"] - r["start"]["row"] + 1 for r in f.get("not_covered", []))
    covered, total = covered + c, total + c + n
    for r in f.get("not_covered", []):
        gaps.append(f"{path}:{r['start']['row']}-{r['end']['row']}")
pct = 100.0 * covered / total if total else 0.0
print(f"Rego coverage (non-test files): {pct:.2f}% of {total} lines")
if not total:
    sys.exit("no non-test Rego found")
if gaps:
    sys.exit("not covered:\n  " + "\n  ".join(gaps))
PY
fi
