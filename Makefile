# edgetrace — every target calls a script in hack/; the logic lives there.
.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: check
check: ## Evaluate the bundled manifests with the policy bundle and print the verdicts
	@hack/check.sh

.PHONY: generate
generate: ## Regenerate ConstraintTemplates from policies/
	@hack/generate.sh

.PHONY: verify
verify: ## opa fmt/check, go vet/gofmt, generated files up to date
	@hack/verify.sh

.PHONY: test
test: ## Everything that needs no cluster: verify, Rego tests (100% coverage, OPA 1.x and 0.60), gator verify, Go tests
	@hack/test.sh

.PHONY: bench
bench: ## Benchmarks, each beside its baseline measured in the same run
	@hack/bench.sh

.PHONY: soak
soak: ## Long randomised sync soak against the real broker (FAULTS=120 by default)
	@hack/soak.sh

.PHONY: tools
tools: ## Build the pinned cluster and policy tools into bin/
	@hack/tools.sh all

.PHONY: e2e
e2e: ## End-to-end admission tests on a real cluster (local provider by default)
	@hack/e2e.sh
