#!/usr/bin/env bash
# Everything that needs no cluster. Each step fails the run; nothing is skipped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hack/verify.sh

step "opa test (OPA v1.17.1, 100% coverage of non-test Rego)"
OPA=$(hack/tools.sh opa v1.17.1) hack/opa-test.sh --coverage

step "opa test (OPA v0.60.0, the case study's OPA)"
OPA=$(hack/tools.sh opa v0.60.0) hack/opa-test.sh

step "gator verify (upstream gator v3.23.1, built from its module)"
gator=$(hack/tools.sh gator v3.23.1)
"$gator" verify ./constrainttemplates/...

hack/compat.sh

step "go test"
# Tests that need the broker fail without it under CI=true; so do they here,
# or a machine without RabbitMQ would pass `make test` having skipped them.
export CI=${CI:-true}
go test -count=1 -timeout 20m ./...

if [[ -x hack/fuzz-tracker.sh ]]; then
  step "tracker fuzzing (bounded)"
  hack/fuzz-tracker.sh
fi
