// Package baseline is the bare net/http handler every tracker figure is
// measured beside. It imports nothing outside the standard library, so a
// binary built from it (cmd/baseline-server) also gives the cold-start
// baseline: what exec to first answer costs any Go HTTP server on the
// machine.
package baseline

import (
	"context"
	"errors"
	"net/http"
	"os/signal"
	"syscall"
)

// body is shaped like a tracking answer (about the same size), so the
// baseline differs from the tracker only in the work behind the response.
var body = []byte(`{"epc":"urn:epc:id:sgtin:4012345.100001.1","bizLocation":"urn:epc:id:sgln:4012345.00003.0","readPoint":"urn:epc:id:sgln:4012345.00003.7","disposition":"retail_sold","bizStep":"retail_selling","eventTime":"2026-01-01T00:10:00Z","eventID":"urn:uuid:00000001-0000-4000-8000-000000000010","source":"urn:epc:id:sgtin:4012345.100001.1","parents":[]}` + "\n")

// Handler answers every request with 200 and a fixed tracking-shaped body:
// the ceiling any Go HTTP service on this machine can reach.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// Serve serves Handler on addr until SIGTERM or SIGINT, then shuts down
// cleanly and returns nil, as the tracker does, so that a cold-start
// measurement can stop both alike.
func Serve(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: Handler()}
	drained := make(chan error, 1)
	go func() {
		<-ctx.Done()
		drained <- srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// ListenAndServe returns as Shutdown starts; wait for it to finish.
	return <-drained
}
