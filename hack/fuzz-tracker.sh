#!/usr/bin/env bash
# Runs the tracker's fuzz target (document decoding and validation through
# the real API and store) for a bounded number of executions.
#
# The budget is a count, not a duration: with a duration, Go's fuzz
# coordinator (1.26 and earlier) can report its own -fuzztime deadline as a
# failure when a busy worker answers late (go.dev/issue/75804, fixed in 1.27).
# A count has no deadline to race. FUZZEXECS=60000 takes ~15-30 s here.
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Minimising a new input replays it many times; cap that so a short CI run
# spends its budget exploring rather than shrinking one GS1 document.
go test ./tracker/internal/apitest -run '^$' -fuzz '^FuzzCapture$' \
  -fuzztime "${FUZZEXECS:-60000}x" -fuzzminimizetime 2000x -timeout 15m
