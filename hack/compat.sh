#!/usr/bin/env bash
# Loads every ConstraintTemplate, sample and deployed constraint into the
# policy engine of Gatekeeper v3.15.1 (frameworks/constraint as pinned by that
# release, OPA v0.60.0, k8s.io v0.28.6) and runs every gator suite against it.
# The check lives in its own Go module (hack/compat/gatekeeper-v3.15) so its
# old dependency set stays out of the main go.mod.
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

printf '\n==> %s\n' "Gatekeeper v3.15.1 compatibility (frameworks/constraint 20240110234408, OPA v0.60.0)" >&2
cd hack/compat/gatekeeper-v3.15
# The module stands alone: a go.work added at the root later must not pull it
# into (or make it resolve against) the main module's dependency graph.
export GOWORK=off
# Run in local directory mode (no package argument) so the summary line the
# test prints (templates, constraints, suites, cases) shows on success too.
go test -count=1 -timeout 10m "$@"
