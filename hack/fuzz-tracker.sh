#!/usr/bin/env bash
# Runs the tracker's fuzz target (document decoding and validation through
# the real API and store) for a bounded time. CI: FUZZTIME=20s (default).
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Minimising a new input replays it many times; cap that so a short CI run
# spends its budget exploring rather than shrinking one GS1 document.
go test ./tracker/internal/apitest -run '^$' -fuzz '^FuzzCapture$' -fuzztime "${FUZZTIME:-20s}" -fuzzminimizetime 5s
