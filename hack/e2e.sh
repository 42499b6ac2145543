#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail

# Runs the admission e2e tests against a governed cluster, once per
# (Kubernetes, Gatekeeper) pair.
#
#   E2E_PAIRS           space-separated KUBE/GATEKEEPER pairs; default: the two
#                       CI runs, v1.36.3/v3.23.1 (newest) and v1.30.4/v3.17.0
#                       (the case study's K3s 1.30 line with the oldest Gatekeeper)
#   KUBE_VERSION        v1.36.3 or v1.30.4 \  when either is set, every
#   GATEKEEPER_VERSION  v3.23.1 or v3.17.0 /  combination of the two lists runs
#                       instead (an unset one takes its default)
#   E2E_PROVIDER        local (default; no Docker) or kind
#   E2E_RUN             go test -run filter (default: all)
#   E2E_BENCH           run these benchmarks instead of the tests (make bench
#                       uses AdmissionLatency; E2E_BENCHTIME, default 1000x)
#
# Every pair gets a cluster of its own that the tests start and remove, and its
# logs and figures under .harness/e2e/<kube>-<gatekeeper>/.

cd "$(dirname "${BASH_SOURCE[0]}")/.."

provider=${E2E_PROVIDER:-local}
pairs=()
if [[ -n ${KUBE_VERSION:-} || -n ${GATEKEEPER_VERSION:-} ]]; then
  for k in ${KUBE_VERSION:-v1.36.3}; do
    for g in ${GATEKEEPER_VERSION:-v3.23.1}; do pairs+=("$k/$g"); done
  done
else
  read -r -a pairs <<<"${E2E_PAIRS:-v1.36.3/v3.23.1 v1.30.4/v3.17.0}"
fi

if [[ $provider == local ]]; then
  # Build what the pairs need up front, so a cold build is not charged to the
  # tests' timeouts (a warm run only stats the binaries).
  hack/tools.sh etcd >/dev/null
  for p in "${pairs[@]}"; do
    hack/tools.sh kube-apiserver "${p%/*}" >/dev/null
    hack/tools.sh gatekeeper "${p#*/}" >/dev/null
  done
fi

# reap removes the cluster of every e2e run whose test process is gone
# without its own teardown (a test that panicked, go test's -timeout, which
# exit without deferred calls; a set-up that hung after a signal), or whose
# teardown failed: such a run leaves its state directory behind, no longer
# locked. The next run would reap it too, but a run must not leave
# anything behind, failed or not. Its logs are kept under .harness/e2e/.
reap() {
  local d
  for d in "${TMPDIR:-/tmp}"/edgetrace-e2e-*; do
    [[ -f $d/lock ]] || continue
    flock -n "$d/lock" true 2>/dev/null || continue # a run in progress
    echo "e2e: removing the cluster of a run that died: $d" >&2
    mkdir -p .harness/e2e && cp -r "$d/logs" ".harness/e2e/reaped-$(basename "$d")" 2>/dev/null || true
    if go run ./harness/cmd/harness down --dir "$d"; then
      rm -rf "$d"
    else
      summary+=("e2e: FAIL could not remove the cluster of $d")
      status=1
    fi
  done
  return 0
}
# On any exit, interrupted too: reap, report what was not yet printed, and
# fail if reaping failed. Ctrl-C ends the run: go test handles SIGINT itself
# (it tears its cluster down), so without the INT trap bash would go on to
# the next pair.
status=0
summary=()
printed=0
on_exit() {
  local rc=$?
  reap
  if ((${#summary[@]} > printed)); then
    printf '%s\n' "${summary[@]:printed}" >&2
  fi
  if ((status && rc == 0)); then
    rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'summary+=("e2e: interrupted (SIGINT)"); status=1; exit 130' INT
trap 'summary+=("e2e: interrupted (SIGTERM)"); status=1; exit 143' TERM

for p in "${pairs[@]}"; do
  k=${p%/*} g=${p#*/}
  echo "e2e: Kubernetes $k, Gatekeeper $g, provider $provider" >&2
  start=$SECONDS
  if [[ -n ${E2E_BENCH:-} ]]; then
    args=(-run '^$' -bench "$E2E_BENCH" -benchtime "${E2E_BENCHTIME:-1000x}")
  else
    args=(-v -run "${E2E_RUN:-.}")
  fi
  if GATEKEEPER_VERSION=$g KUBE_VERSION=$k E2E_PROVIDER=$provider \
    go test -tags e2e -count=1 -timeout 30m "${args[@]}" ./e2e/; then
    summary+=("e2e: PASS Kubernetes $k, Gatekeeper $g in $((SECONDS - start))s")
  else
    summary+=("e2e: FAIL Kubernetes $k, Gatekeeper $g in $((SECONDS - start))s (logs: .harness/e2e/$k-$g/)")
    status=1
  fi
  reap
done
# A run, passed or failed, must leave nothing behind: every process the
# tests start names its state directory (edgetrace-e2e-*) on its command line.
if leftovers=$(pgrep -af "${TMPDIR:-/tmp}/edgetrace-e2e-"); then
  summary+=("e2e: FAIL processes left running: $leftovers")
  status=1
fi
# Gatekeeper's tmpfs lives in a mount namespace of its own, so look in every
# process's view, not only this one's.
if mounts=$(grep -ls harness-run /proc/[0-9]*/mounts 2>/dev/null); then
  summary+=("e2e: FAIL mounts left behind, seen by: $(echo "$mounts" | cut -d/ -f3 | xargs)")
  status=1
fi
printf '%s\n' "${summary[@]}" >&2
printed=${#summary[@]}
exit $status
