// Command baseline-server serves the bare net/http baseline handler. It is
// a binary of its own, with nothing but the standard library behind it, so
// that its start-up time is a fair baseline for the tracker's cold start as
// well as for its throughput. Like the tracker, it exits 0 on SIGTERM.
package main

import (
	"flag"
	"log"

	"github.com/edgetrace/edgetrace/harness/load/baseline"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to listen on")
	flag.Parse()
	if err := baseline.Serve(*listen); err != nil {
		log.Fatal(err)
	}
}
