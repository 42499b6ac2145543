#!/usr/bin/env bash
# Static checks: Rego formatting and strict compilation, Go vet and gofmt,
# and generated files up to date.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
opa=$(hack/tools.sh opa v1.17.1)

step "opa fmt"
unformatted=$("$opa" fmt --list policies)
[[ -z $unformatted ]] || die "not opa-formatted (run: $opa fmt -w policies): $unformatted"

step "opa check --strict"
"$opa" check --strict policies

step "gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^hack/tools/'))
[[ -z $unformatted ]] || die "not gofmt-ed: $unformatted"
go vet ./...

step "generated files up to date"
harness generate >/dev/null
if ! git diff --exit-code -- constrainttemplates deploy/gatekeeper/templates deploy/gatekeeper/vap-bindings-3.17; then
  die "generated files are stale or hand-edited: run make generate and commit"
fi
untracked=$(git ls-files --others --exclude-standard -- constrainttemplates deploy/gatekeeper/templates deploy/gatekeeper/vap-bindings-3.17)
[[ -z $untracked ]] || die "generated files not committed: $untracked"
