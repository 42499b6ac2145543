package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/cache"
	trackerhttp "github.com/edgetrace/edgetrace/tracker/http"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

func serve(args []string, getenv func(string) string) error {
	cfg, err := loadConfig(args, getenv)
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
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	gen := new(cache.Generation)
	store, err := sqlite.Open(ctx, sqlite.Options{Path: cfg.DB, OnCommit: gen.Bump})
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
	if cfg.SyncEnabled {
		log.Warn("sync_enabled=true but this build has no sync worker yet; events accumulate in the outbox")
	}
	api := trackerhttp.New(trackerhttp.Options{
		Capture: store, Events: store, Tracking: tracking,
		TrackingEnabled: cfg.TrackingEnabled,
		Ready:           store.Ready,
		MaxBody:         cfg.MaxBody,
		Registry:        prometheus.NewRegistry(),
		StoreSize:       store.Size,
		CacheStats:      cacheStats,
		Log:             log,
	})
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10e9,
		IdleTimeout:       120e9,
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
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}
