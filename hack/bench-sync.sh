#!/usr/bin/env bash
# Sync benchmarks against the real RabbitMQ on 127.0.0.1:5672, each figure
# beside a baseline from the same run:
#   - end-to-end edge → broker → hub events/s (both SQLite stores committed)
#     with the raw publish-with-confirms rate (600-byte persistent messages,
#     quorum queue, 1000 in flight) to the same broker;
#   - drain time of a 1,000,000-event backlog built while the edge was offline;
#   - capture P99 with the broker down vs up.
#
#   hack/bench-sync.sh                    # 200k e2e, then the 1M backlog
#   BACKLOG=100000 hack/bench-sync.sh     # quick look
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BACKLOG=${BACKLOG:-1000000}
export CI=${CI:-true}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
run() { go test -count=1 -timeout 2h -run '^$' -bench "$1" -benchtime 1x ./tracker/amqp | grep -E '^(Benchmark|    bench_test|ok|FAIL)'; }
echo "== end to end, 200,000 events, with raw publish rate"
TRACKER_SYNC_BENCH_EVENTS=200000 run '^BenchmarkSyncDrain$'
echo "== backlog drain, $BACKLOG events"
TRACKER_SYNC_BENCH_EVENTS=$BACKLOG run '^BenchmarkSyncDrain$'
echo "== capture P99, broker down vs up"
run '^BenchmarkCaptureP99BrokerDownVsUp$'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
