#!/usr/bin/env bash
# The main job: evaluate the bundled manifests (compliant corpus, the case
# study's Deployment as written, the evasion corpus) against the production
# bundle and print the verdicts. Denials in casestudy/ and evasion/ are expected;
# the script fails only if the compliant corpus is denied.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for dir in testdata/manifests/compliant testdata/manifests/casestudy testdata/manifests/evasion; do
  [[ -d $dir ]] || continue
  step "harness check $dir"
  rc=0
  harness check --engine both "$dir" || rc=$?
  if [[ $dir == */compliant && $rc -ne 0 ]]; then
    die "the compliant corpus must be allowed (exit $rc)"
  fi
  if [[ $dir != */compliant && $rc -ne 1 ]]; then
    die "$dir: want exit 1 (denied), got $rc"
  fi
done
