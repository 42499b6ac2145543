package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// config is everything serve needs, validated.
type config struct {
	Listen          string
	DB              string
	Site            string
	MaxBody         int64
	ShutdownTimeout time.Duration
	TrackingEnabled bool
	SyncEnabled     bool
	SyncInterval    time.Duration
	AMQP            string // broker URL for the sync worker
	AMQPQueue       string
	AMQPMaxMessage  int64 // the broker's max_message_size
	CacheEnabled    bool
	CacheTTL        time.Duration
}

// loadConfig reads flags over environment over defaults. Every problem is
// reported, each naming the variable (or flag) and its value, so one failed
// start shows everything to fix. An empty string setting (TRACKER_DB="")
// counts as unset, as is usual; an empty boolean, duration or size is
// refused like any other bad value: a blank ConfigMap key is a mistake, and
// running on the default would hide it.
func loadConfig(args []string, lookupenv func(string) (string, bool)) (config, error) {
	getenv := func(name string) string { v, _ := lookupenv(name); return v }
	host, _ := os.Hostname()
	c := config{
		Listen:          ":8080",
		DB:              "tracker.db",
		Site:            host,
		MaxBody:         16 << 20,
		AMQPMaxMessage:  16 << 20,         // RabbitMQ 4's default max_message_size (3.x: 128 MiB)
		ShutdownTimeout: 25 * time.Second, // inside the pod's default 30 s grace period
		TrackingEnabled: true,
		SyncInterval:    10 * time.Second,
		CacheEnabled:    true,
		CacheTTL:        300 * time.Second,
	}
	var errs []error
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) {
		v, ok := lookupenv(name)
		if !ok {
			return
		}
		// Exactly the two words the ConfigMap policy admits: a value such as
		// "1" or "TRUE" that strconv.ParseBool takes would start here and be
		// refused at admission, or the other way round.
		switch v {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
		}
	}
	duration := func(name string, dst *time.Duration, least time.Duration) {
		v, ok := lookupenv(name)
		if !ok {
			return
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < least {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration of at least %s, such as 10s or 5m", name, v, least))
			return
		}
		*dst = d
	}
	str("TRACKER_LISTEN", &c.Listen)
	str("TRACKER_DB", &c.DB)
	str("TRACKER_SITE", &c.Site)
	str("TRACKER_AMQP_URL", &c.AMQP)
	str("TRACKER_AMQP_QUEUE", &c.AMQPQueue)
	size := func(name string, dst *int64) {
		if v, ok := lookupenv(name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive number of bytes", name, v))
			} else {
				*dst = n
			}
		}
	}
	size("TRACKER_MAX_BODY", &c.MaxBody)
	size("TRACKER_AMQP_MAX_MESSAGE", &c.AMQPMaxMessage)
	boolean("TRACKING_ENABLED", &c.TrackingEnabled)
	boolean("sync_enabled", &c.SyncEnabled)
	// An idle worker polls the outbox every sync_interval: below
	// minSyncInterval that is a busy loop on the store.
	duration("sync_interval", &c.SyncInterval, minSyncInterval)
	boolean("cache_enabled", &c.CacheEnabled)
	duration("cache_ttl", &c.CacheTTL, time.Nanosecond)

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (env TRACKER_LISTEN)")
	fs.StringVar(&c.DB, "db", c.DB, "SQLite database file, created if missing (env TRACKER_DB)")
	fs.StringVar(&c.Site, "site", c.Site, "site ID of this edge node (env TRACKER_SITE; default the hostname)")
	fs.Int64Var(&c.MaxBody, "max-body", c.MaxBody, "request body limit in bytes (env TRACKER_MAX_BODY)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&c.AMQPQueue, "amqp-queue", c.AMQPQueue, "queue the sync worker publishes to (env TRACKER_AMQP_QUEUE; default tracker.events)")
	fs.Int64Var(&c.AMQPMaxMessage, "amqp-max-message", c.AMQPMaxMessage,
		"the broker's max_message_size in bytes (env TRACKER_AMQP_MAX_MESSAGE): with sync on, larger events are refused at capture")
	fs.StringVar(&c.AMQP, "amqp", c.AMQP, "RabbitMQ URL the sync worker publishes to (env TRACKER_AMQP_URL); ?heartbeat=N sets the heartbeat")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: tracker serve [flags]

flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), `
environment (as in the supply-chain-config ConfigMap and the Deployment):
  TRACKING_ENABLED  true|false  false: GET /epcs/{epc}/location answers 503; capture and queries continue
  cache_enabled     true|false  in-memory cache of tracking answers (default true)
  cache_ttl         duration    cache entry lifetime (default 300s); writes invalidate at once
  sync_enabled      true|false  publish captured events to the hub through the broker (--amqp); without a
                                broker URL the events wait in the outbox and /healthz says so
  sync_interval     duration    sync poll and reconnect-backoff cap (default 10s); new captures sync at once
`)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.MaxBody <= 0 {
		errs = append(errs, fmt.Errorf("--max-body=%d: want a positive number of bytes", c.MaxBody))
	}
	if c.AMQPMaxMessage <= syncHeaderRoom {
		errs = append(errs, fmt.Errorf("--amqp-max-message=%d: want more than %d bytes", c.AMQPMaxMessage, syncHeaderRoom))
	}
	if c.DB == "" {
		errs = append(errs, errors.New("--db: empty path"))
	}
	if err := checkListen(c.Listen); err != nil {
		errs = append(errs, err)
	}
	if err := checkBrokerURL(c.AMQP); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(c.Site) == "" {
		// The site ID goes into every synced message's headers.
		errs = append(errs, fmt.Errorf("--site (TRACKER_SITE) %q: want a site ID, not blanks", c.Site))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout=%s: want a positive duration", c.ShutdownTimeout))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil && port != "" {
		_, err = net.LookupPort("tcp", port) // a number in range, or a service name
	}
	if err != nil || port == "" {
		return fmt.Errorf("--listen (TRACKER_LISTEN) %q: want host:port, such as :8080 or 127.0.0.1:8080", addr)
	}
	return nil
}

// listen and openStore name the setting behind what start-up could not
// use, as configuration errors do: a host that does not resolve or a port
// in use, a database directory that does not exist.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen (TRACKER_LISTEN) %q: %w", addr, err)
	}
	return ln, nil
}

func openStore(ctx context.Context, o sqlite.Options) (*sqlite.Store, error) {
	st, err := sqlite.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("--db (TRACKER_DB) %q: %w", o.Path, err)
	}
	return st, nil
}

// checkBrokerURL accepts no URL (sync has nowhere to go; /healthz says so)
// or one that can be dialled.
func checkBrokerURL(url string) error {
	if url == "" {
		return nil
	}
	if err := trackeramqp.CheckURL(url); err != nil {
		return fmt.Errorf("--amqp (TRACKER_AMQP_URL) %w", err)
	}
	return nil
}

const minSyncInterval = 100 * time.Millisecond

// syncHeaderRoom is what a synced message carries besides the event: AMQP
// properties and headers (site, schema, dedupe key), well under 4 KiB.
const syncHeaderRoom = 4 << 10

// maxSyncedEvent is the largest event capture takes while sync is on: one
// that fits a broker message.
func (c config) maxSyncedEvent() int {
	if !c.SyncEnabled {
		return 0
	}
	return int(c.AMQPMaxMessage - syncHeaderRoom)
}
