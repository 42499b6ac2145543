#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail

# Builds the cluster and policy tools from the Go module proxy into bin/.
#
#   hack/tools.sh TOOL [VERSION]   build TOOL at VERSION (default: the first pinned
#                                  version) if bin/TOOL-VERSION is missing; print its path
#   hack/tools.sh all              build every pinned tool at every pinned version
#   hack/tools.sh list             print "TOOL VERSION" for every pinned tool
#
# Each pinned version has its own module under hack/tools/<family>-<version>/ so
# that Gatekeeper's, Kubernetes' and kind's dependency graphs never have to agree.
# Outputs are named bin/TOOL-VERSION: a warm run finds them and rebuilds nothing,
# unless what built them changed — the tool module's go.mod or go.sum, the Go
# toolchain or the link flags — which bin/TOOL-VERSION.stamp records.
# Builds write to a temporary name and rename, so an interrupted build never leaves a
# binary that looks finished; a per-binary lock lets concurrent callers share a build.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

# family:tool:versions:package — the first version listed is the default.
catalog=(
  "gatekeeper:gator:v3.23.1 v3.17.0:github.com/open-policy-agent/gatekeeper/v3/cmd/gator"
  "gatekeeper:gatekeeper:v3.23.1 v3.17.0:github.com/open-policy-agent/gatekeeper/v3"
  "etcd:etcd:v3.6.16:go.etcd.io/etcd/server/v3"
  "kubernetes:kube-apiserver:v1.36.3 v1.30.4:k8s.io/kubernetes/cmd/kube-apiserver"
  "kubernetes:kube-scheduler:v1.36.3:k8s.io/kubernetes/cmd/kube-scheduler"
  "kubernetes:kube-controller-manager:v1.36.3:k8s.io/kubernetes/cmd/kube-controller-manager"
  "kubernetes:kubelet:v1.36.3:k8s.io/kubernetes/cmd/kubelet"
  "kind:kind:v0.33.0:sigs.k8s.io/kind"
  "opa:opa:v1.17.1 v0.60.0:github.com/open-policy-agent/opa"
)

die() { echo "tools.sh: $*" >&2; exit 1; }

lookup() { # tool -> "family:versions:package"
  local entry family tool versions pkg
  for entry in "${catalog[@]}"; do
    IFS=: read -r family tool versions pkg <<<"$entry"
    if [[ $tool == "$1" ]]; then
      echo "$family:$versions:$pkg"
      return 0
    fi
  done
  return 1
}

build() { # tool [version]
  local tool=$1 want=${2:-} spec family versions pkg v found=
  spec=$(lookup "$tool") || die "unknown tool $tool (try: hack/tools.sh list)"
  IFS=: read -r family versions pkg <<<"$spec"
  [[ -n $want ]] || want=${versions%% *}
  for v in $versions; do [[ $v == "$want" ]] && found=1; done
  [[ -n $found ]] || die "$tool $want is not pinned (pinned: $versions)"

  local out="$root/bin/$tool-$want" moddir="$root/hack/tools/$family-$want"
  [[ -d $moddir ]] || die "missing tool module $moddir"
  local ldflags=""
  if [[ $family == kubernetes ]]; then
    # Unstamped builds report v0.0.0; stamp the real version so /version and
    # version-gated behaviour in clients match a released binary.
    local minor=${want#v1.}
    minor=${minor%%.*}
    ldflags="-X k8s.io/component-base/version.gitVersion=$want"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  fi
  local stamp
  stamp=$({ cat "$moddir/go.mod" "$moddir/go.sum" 2>/dev/null; (cd "$moddir" && GOWORK=off go env GOVERSION); echo "$pkg $ldflags"; } | sha256sum)
  stamp=${stamp%% *}
  if [[ -x $out && $(cat "$out.stamp" 2>/dev/null) == "$stamp" ]]; then
    echo "$out"
    return 0
  fi
  mkdir -p "$root/bin"
  (
    flock 9
    # Another caller may have finished the build while we waited for the lock.
    if [[ ! -x $out || $(cat "$out.stamp" 2>/dev/null) != "$stamp" ]]; then
      echo "tools.sh: building $tool $want" >&2
      local start=$SECONDS
      (cd "$moddir" && GOWORK=off CGO_ENABLED=0 go build -trimpath \
        -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg")
      mv -f "$out.tmp.$$" "$out"
      echo "$stamp" >"$out.stamp"
      echo "tools.sh: built $out in $((SECONDS - start))s" >&2
    fi
  ) 9>"$root/bin/.lock-$tool-$want"
  echo "$out"
}

[[ $# -ge 1 ]] || die "usage: hack/tools.sh TOOL [VERSION] | all | list"

case $1 in
  list)
    for entry in "${catalog[@]}"; do
      IFS=: read -r _ tool versions _ <<<"$entry"
      for v in $versions; do echo "$tool $v"; done
    done
    ;;
  all)
    "$0" list | while read -r tool v; do build "$tool" "$v"; done
    ;;
  *)
    build "$1" "${2:-}"
    ;;
esac
