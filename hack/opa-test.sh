#!/usr/bin/env bash
# Runs the Rego unit tests under policies/ and fails unless they cover 100 % of the
# non-test Rego (meta.yaml files are template metadata, not data). OPA defaults to
# the pinned v1.17.1 build (made by hack/tools.sh if missing); set OPA to test with
# another build (e.g. OPA=$(hack/tools.sh opa v0.60.0)).
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OPA="${OPA:-$(hack/tools.sh opa v1.17.1)}"
report="$(mktemp)"
trap 'rm -f "${report}"' EXIT

# opa test exits non-zero on a failing test; rerun in text form to show which.
if ! "${OPA}" test policies --ignore "*.yaml" --coverage --format=json --timeout=60s >"${report}"; then
	"${OPA}" test policies --ignore "*.yaml" --timeout=60s || true
	echo "opa test: failing tests" >&2
	exit 1
fi

# Lines of non-test Rego that no test evaluated, as file:first-last.
gaps="$("${OPA}" eval --format=raw --stdin-input \
	'concat("\n", sort([sprintf("%s:%d-%d", [name, r.start.row, r.end.row]) |
		file := input.files[name]
		not endswith(name, "_test.rego")
		r := file.not_covered[_]
	]))' <"${report}")"
total="$("${OPA}" eval --format=raw --stdin-input 'sprintf("%v", [input.coverage])' <"${report}")"

if [[ -n "${gaps}" ]]; then
	echo "opa test: coverage ${total}%; not covered:" >&2
	echo "${gaps}" | sed 's/^/  /' >&2
	exit 1
fi
echo "opa test: all tests pass; coverage of non-test Rego 100% (overall ${total}%)"
