#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail

# Runs the admission e2e tests against a governed cluster.
#
#   GATEKEEPER_VERSION  v3.23.1 (default) or v3.17.0; several, space-separated, run in turn
#   KUBE_VERSION        v1.36.3 (default) or v1.30.4; several, space-separated, run in turn
#   E2E_PROVIDER        local (default; no Docker) or kind
#   E2E_RUN             go test -run filter (default: all)
#
# Every pair gets a cluster of its own that the tests start and remove, and its
# logs and figures under .harness/e2e/<kube>-<gatekeeper>/.

cd "$(dirname "${BASH_SOURCE[0]}")/.."

gatekeeper_versions=${GATEKEEPER_VERSION:-v3.23.1}
kube_versions=${KUBE_VERSION:-v1.36.3}
provider=${E2E_PROVIDER:-local}

if [[ $provider == local ]]; then
  # Build what the pairs need up front, so a cold build is not charged to the
  # tests' timeouts (a warm run only stats the binaries).
  hack/tools.sh etcd >/dev/null
  for k in $kube_versions; do hack/tools.sh kube-apiserver "$k" >/dev/null; done
  for g in $gatekeeper_versions; do hack/tools.sh gatekeeper "$g" >/dev/null; done
fi

status=0
for k in $kube_versions; do
  for g in $gatekeeper_versions; do
    echo "e2e: Kubernetes $k, Gatekeeper $g, provider $provider" >&2
    start=$SECONDS
    if GATEKEEPER_VERSION=$g KUBE_VERSION=$k E2E_PROVIDER=$provider \
      go test -tags e2e -count=1 -timeout 30m -v -run "${E2E_RUN:-.}" ./e2e/; then
      echo "e2e: PASS Kubernetes $k, Gatekeeper $g in $((SECONDS - start))s" >&2
    else
      echo "e2e: FAIL Kubernetes $k, Gatekeeper $g in $((SECONDS - start))s (logs: .harness/e2e/$k-$g/)" >&2
      status=1
    fi
  done
done
exit $status
