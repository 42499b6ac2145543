#!/usr/bin/env bash
# Long randomized sync soak against the real RabbitMQ on 127.0.0.1:5672:
# FAULTS (default 120) faults — connection cuts of edges and hub, silent
# partitions, slow links, broker restarts (rabbitmqctl stop_app/start_app)
# and one outage of minutes — injected at random moments while two edges
# capture, then the hub's event set must equal the union of the edges' sets
# with zero duplicates. The seed is printed on failure; replay it with
# TRACKER_SYNC_SEED=<seed> hack/soak.sh.
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FAULTS=${FAULTS:-120}
export CI=${CI:-true} # a missing broker fails the soak, never skips it
TRACKER_SYNC_SOAK=1 TRACKER_SYNC_FAULTS=$FAULTS \
  go test -count=1 -timeout 3h -run '^TestSyncRandomFaults$' -v ./tracker/amqp
