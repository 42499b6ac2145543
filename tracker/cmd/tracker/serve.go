package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetrace/edgetrace/tracker"
	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
	"github.com/edgetrace/edgetrace/tracker/cache"
	trackerhttp "github.com/edgetrace/edgetrace/tracker/http"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func serve(args []string, lookupenv func(string) (string, bool)) error {
	cfg, err := loadConfig(args, lookupenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("site", cfg.Site)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// Listen before opening the store: a port clash should fail fast and
	// leave the database untouched.
	ln, err := listen(cfg.Listen)
	if err != nil {
		return err
	}

	gen := new(cache.Generation)
	// The store signals the sync worker after each commit (prompt push);
	// the worker needs the store, hence the pointer set once both exist.
	var worker atomic.Pointer[trackeramqp.Worker]
	onCommit := func() {
		gen.Bump()
		if w := worker.Load(); w != nil {
			w.Notify()
		}
	}
	store, err := openStore(ctx, sqlite.Options{Path: cfg.DB, OnCommit: onCommit})
	if err != nil {
		ln.Close()
		return err
	}
	var tracking tracker.TrackingService = store
	var cacheStats func() (uint64, uint64)
	if cfg.CacheEnabled {
		c := cache.New(store, gen, cfg.CacheTTL, 0)
		tracking, cacheStats = c, c.Stats
	}
	reg := prometheus.NewRegistry()
	var healthDetail func() any
	syncDone := make(chan error, 1)
	syncCtx, stopSync := context.WithCancel(context.Background())
	defer stopSync()
	switch {
	case cfg.SyncEnabled && cfg.AMQP == "":
		// Not fatal: the edge must keep capturing; the outbox holds the
		// events until a broker is configured.
		log.Warn("sync_enabled=true but no broker URL (--amqp / TRACKER_AMQP_URL); events wait in the outbox")
		// A worker that never runs still reports the outbox, so the backlog
		// shows in /healthz and /metrics as it does with a broker down.
		w := trackeramqp.NewWorker(trackeramqp.WorkerOptions{
			Queue: cfg.AMQPQueue, Site: cfg.Site, Outbox: store, Interval: cfg.SyncInterval, Registerer: reg, Log: log,
		})
		healthDetail = func() any {
			return struct {
				State string `json:"state"`
				trackeramqp.SyncState
			}{"no broker configured", w.State()}
		}
		syncDone <- nil
	case cfg.SyncEnabled:
		w := trackeramqp.NewWorker(trackeramqp.WorkerOptions{
			URL: cfg.AMQP, Queue: cfg.AMQPQueue, Site: cfg.Site, Outbox: store, Interval: cfg.SyncInterval, Registerer: reg, Log: log,
		})
		worker.Store(w)
		healthDetail = func() any { return w.State() }
		go func() { syncDone <- w.Run(syncCtx) }()
	default:
		syncDone <- nil
	}
	api := trackerhttp.New(trackerhttp.Options{
		Capture: store, Events: store, Tracking: tracking,
		TrackingEnabled: cfg.TrackingEnabled,
		Ready:           store.Ready,
		MaxBody:         cfg.MaxBody,
		MaxEvent:        cfg.maxSyncedEvent(),
		Registry:        reg,
		HealthDetail:    healthDetail,
		StoreSize:       store.Size,
		WriterBusy:      store.WriterBusy,
		CacheStats:      cacheStats,
		Log:             log,
	})
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "db", cfg.DB, "tracking_enabled", cfg.TrackingEnabled,
		"cache_enabled", cfg.CacheEnabled, "cache_ttl", cfg.CacheTTL.String(), "sync_enabled", cfg.SyncEnabled,
		"sync_interval", cfg.SyncInterval.String())

	select {
	case err = <-served:
		// Serve failed on its own; still close the store cleanly.
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx) // waits for in-flight requests, captures included
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// Stop the worker before the store: it reads and marks the outbox.
	stopSync()
	if serr := <-syncDone; serr != nil {
		err = errors.Join(err, serr)
	}
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}
