# Sourced by the hack/*.sh scripts: strict mode, repository root, helpers.
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# harness runs the harness CLI, built once per script run so that it always
# matches the working tree.
harness() {
  if [[ -z ${_harness_built:-} ]]; then
    mkdir -p bin
    go build -o bin/harness ./harness/cmd/harness
    _harness_built=1
  fi
  bin/harness "$@"
}
