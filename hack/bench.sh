#!/usr/bin/env bash
# Benchmarks. Every figure is printed beside a baseline measured in the same
# run on the same machine: absolute times vary between machines, ratios hold.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step "policy review latency per object, full bundle: Rego vs CEL (go test -bench)"
go test -run '^$' -bench 'BenchmarkReview' -benchtime 3000x -count 1 ./harness/policy | grep -E '^(Benchmark|ok|FAIL)'

step "harness check over 1,000 generated manifests vs upstream gator test on the same files"
gator=$(hack/tools.sh gator v3.23.1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
harness gen-manifests --count 1000 "$work/objs"
# best of 3 wall-clock times in ms; exit 1 (some denied) is the expected outcome
best() {
  local best=0 t rc start
  for _ in 1 2 3; do
    start=$(date +%s%N)
    rc=0; "$@" >/dev/null 2>&1 || rc=$?
    ((rc <= 1)) || die "$* exited $rc"
    t=$((($(date +%s%N) - start) / 1000000))
    ((best == 0 || t < best)) && best=$t
  done
  echo "$best"
}
t_cel=$(best bin/harness check --engine cel "$work/objs")
t_rego=$(best bin/harness check --engine rego "$work/objs")
t_gator=$(best "$gator" test -f "$work/bundle.yaml" -f "$work/objs")
printf '%-44s %6s ms\n' "harness check --engine cel (1,000 objects)" "$t_cel" \
  "harness check --engine rego (1,000 objects)" "$t_rego" \
  "gator test v3.23.1 (baseline, same files)" "$t_gator"
awk -v c="$t_cel" -v r="$t_rego" -v g="$t_gator" 'BEGIN {
  printf "ratio harness(cel)/gator = %.2f, harness(rego)/gator = %.2f (goal: <= 1.00, and <= 2000 ms)\n", c / g, r / g }'

step "admission latency added by the full bundle: governed vs exempt namespace (local cluster, Kubernetes v1.36.3, Gatekeeper v3.23.1)"
E2E_PAIRS=v1.36.3/v3.23.1 E2E_BENCH=AdmissionLatency hack/e2e.sh 2>&1 | grep -E '^(Benchmark|e2e: latency|e2e: (PASS|FAIL)|ok|FAIL)'

step "sync: edge -> RabbitMQ -> hub vs raw publish with confirms; backlog drain; capture P99 broker down vs up"
hack/bench-sync.sh

if [[ -x hack/bench-tracker.sh ]]; then
  step "tracker"
  hack/bench-tracker.sh
fi
