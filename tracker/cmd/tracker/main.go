// Command tracker is edgetrace's supply-chain tracker: an EPCIS 2.0 capture
// and traceability service over SQLite.
//
//	tracker serve [--listen ADDR] [--db PATH] [--site ID] [--amqp URL]
//	tracker hub --amqp URL [--db PATH] [--listen ADDR]
//	tracker replay-rejected --amqp URL [--amqp-queue QUEUE] [--limit N]
//
// Configuration comes from the environment exactly as the case study's
// manifests name it (TRACKING_ENABLED, sync_enabled, sync_interval,
// cache_enabled, cache_ttl) plus TRACKER_LISTEN, TRACKER_DB and TRACKER_SITE,
// which the flags override. Invalid values stop start-up with a message
// naming the variable and the value.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is the Go heap's soft limit when GOMEMLIMIT is unset.
// The pod requests 128 MiB; left alone, the heap grows to twice its live
// size before collecting, and with a full tracking cache that took the
// process to 130 MiB. SQLite's own memory (its page caches, ~20 MiB) comes
// on top of this limit.
const defaultMemoryLimit = 96 << 20

const usage = `usage: tracker <command> [flags]

commands:
  serve   serve the EPCIS capture and query API
  hub     consume every edge's synced events and serve the query API across sites
  replay-rejected
          move the events the hub dead-lettered back to the sync queue

Run "tracker serve -h" for the flags and environment variables.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:], os.LookupEnv)
	case "hub":
		err = hub(os.Args[2:], os.Getenv)
	case "replay-rejected":
		err = replayRejected(os.Args[2:], os.Getenv)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "tracker: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracker:", err)
		os.Exit(1)
	}
}
