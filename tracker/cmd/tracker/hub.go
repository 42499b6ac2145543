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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
	"github.com/edgetrace/edgetrace/tracker/cache"
	trackerhttp "github.com/edgetrace/edgetrace/tracker/http"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// hubConfig is everything hub needs, validated.
type hubConfig struct {
	AMQP            string
	Queue           string
	Listen          string
	DB              string
	Prefetch        int
	ShutdownTimeout time.Duration
}

func loadHubConfig(args []string, getenv func(string) string) (hubConfig, error) {
	c := hubConfig{Listen: ":8080", DB: "hub.db", Queue: trackeramqp.DefaultQueue, Prefetch: 4000, ShutdownTimeout: 25 * time.Second}
	for name, dst := range map[string]*string{"TRACKER_AMQP_URL": &c.AMQP, "TRACKER_LISTEN": &c.Listen, "TRACKER_DB": &c.DB, "TRACKER_AMQP_QUEUE": &c.Queue} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	fs := flag.NewFlagSet("hub", flag.ContinueOnError)
	fs.StringVar(&c.AMQP, "amqp", c.AMQP, "RabbitMQ URL, e.g. amqp://user:pass@host:5672/ (env TRACKER_AMQP_URL); required")
	fs.StringVar(&c.Queue, "amqp-queue", c.Queue, "queue the edges publish to (env TRACKER_AMQP_QUEUE)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to serve the query API on (env TRACKER_LISTEN)")
	fs.StringVar(&c.DB, "db", c.DB, "hub SQLite database file, created if missing (env TRACKER_DB)")
	fs.IntVar(&c.Prefetch, "prefetch", c.Prefetch, "unacked deliveries in flight")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for in-flight requests")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: tracker hub --amqp URL [--db PATH] [--listen ADDR]\n\nConsumes every edge's events and serves the query API across all sites.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.AMQP == "" {
		errs = append(errs, errors.New("--amqp (TRACKER_AMQP_URL): required"))
	} else if err := checkBrokerURL(c.AMQP); err != nil {
		errs = append(errs, err)
	}
	if err := checkListen(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if c.DB == "" {
		errs = append(errs, errors.New("--db: empty path"))
	}
	if c.Prefetch <= 0 {
		errs = append(errs, fmt.Errorf("--prefetch=%d: want a positive count", c.Prefetch))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// hub runs the central tracker: the sync consumer feeding its own store,
// and the same query API as an edge, over every site's events.
func hub(args []string, getenv func(string) string) error {
	cfg, err := loadHubConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("role", "hub")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ln, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	gen := new(cache.Generation)
	// The hub forwards nothing, so its store keeps no outbox.
	store, err := openStore(ctx, sqlite.Options{Path: cfg.DB, OnCommit: gen.Bump, NoOutbox: true})
	if err != nil {
		ln.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	consumer := trackeramqp.NewConsumer(trackeramqp.ConsumerOptions{
		URL: cfg.AMQP, Queue: cfg.Queue, Store: store, Prefetch: cfg.Prefetch, Registerer: reg, Log: log,
	})
	c := cache.New(store, gen, 300*time.Second, 0)
	api := trackerhttp.New(trackerhttp.Options{
		Capture: store, Events: store, Tracking: c, TrackingEnabled: true,
		Ready: store.Ready, Registry: reg, StoreSize: store.Size, WriterBusy: store.WriterBusy, CacheStats: c.Stats,
		HealthDetail: func() any { return consumer.State() },
		Log:          log,
	})
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cctx, stopConsumer := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	go func() { consumed <- consumer.Run(cctx) }()
	log.Info("hub serving", "listen", ln.Addr().String(), "db", cfg.DB, "broker", trackeramqp.Redact(cfg.AMQP), "queue", cfg.Queue)

	consumerDone := false
	select {
	case err = <-served:
	case err = <-consumed: // only a closed store ends Run early
		consumerDone = true
		err = fmt.Errorf("consumer: %w", err)
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// The consumer stops before the store closes: a batch being committed
	// finishes and is acked; anything unacked is redelivered to the next run.
	stopConsumer()
	if !consumerDone {
		if cerr := <-consumed; cerr != nil && err == nil {
			err = fmt.Errorf("consumer: %w", cerr)
		}
	}
	srv.Close()
	if cerr := store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}
