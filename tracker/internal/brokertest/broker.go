package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
)

// Addr is the RabbitMQ the tests use; TRACKER_TEST_AMQP_ADDR overrides.
func Addr() string {
	if a := os.Getenv("TRACKER_TEST_AMQP_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:5672"
}

// URL is the AMQP URL of the broker at addr, as the tests log in.
func URL(addr string) string { return "amqp://guest:guest@" + addr + "/" }

// Require fails (under CI=true) or skips (on a laptop without RabbitMQ)
// when the broker is not reachable: CI must never pass a sync test that did
// not run. It holds the broker lock shared for the test, taken before the
// dial, so that no test in another package stops the broker meanwhile.
func Require(tb testing.TB) {
	tb.Helper()
	Shared(tb)
	dialOrSkip(tb)
}

// RequireAlone is Require for a test that stops or restarts the broker: it
// waits until no other broker test runs, in any package.
func RequireAlone(tb testing.TB) {
	tb.Helper()
	Exclusive(tb)
	dialOrSkip(tb)
}

func dialOrSkip(tb testing.TB) {
	tb.Helper()
	conn, err := amqp091.Dial(URL(Addr()))
	if err == nil {
		conn.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("RabbitMQ at %s is required under CI=true: %v", Addr(), err)
	}
	tb.Skipf("RabbitMQ at %s not reachable (start it with `rabbitmq-server -detached`): %v", Addr(), err)
}

// Seed returns the fault-timing seed (TRACKER_SYNC_SEED to replay one). It
// prints it to stderr at once, so a test that hangs until -timeout panics
// still shows it, and in the test's log if the test fails.
func Seed(tb testing.TB) *rand.Rand {
	tb.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("TRACKER_SYNC_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			tb.Fatalf("TRACKER_SYNC_SEED=%q: %v", v, err)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: fault timing seed %d\n", tb.Name(), s)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("fault timing seed %d: rerun with TRACKER_SYNC_SEED=%d", s, s)
		}
	})
	return rand.New(rand.NewPCG(s, s>>1|1))
}

var toxi = sync.OnceValue(func() *toxiproxy.ApiServer {
	return toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
})

// Proxy is an in-process Toxiproxy between one node and the broker.
type Proxy struct {
	*toxiproxy.Proxy
	tb testing.TB
}

// NewProxy starts a proxy to the broker, stopped with the test.
func NewProxy(tb testing.TB, name string) *Proxy {
	tb.Helper()
	p := toxiproxy.NewProxy(toxi(), name, "127.0.0.1:0", Addr())
	if err := p.Start(); err != nil {
		tb.Fatalf("start proxy: %v", err)
	}
	tb.Cleanup(p.Stop)
	return &Proxy{Proxy: p, tb: tb}
}

// URL is the AMQP URL that reaches the broker through the proxy.
func (p *Proxy) URL() string { return URL(p.Listen) }

// Cut drops every connection and refuses new ones (a cable pulled).
func (p *Proxy) Cut() { p.Stop() }

// Restore lets connections through again, on the same address.
func (p *Proxy) Restore() {
	p.tb.Helper()
	if err := p.Start(); err != nil {
		p.tb.Fatalf("restart proxy on %s: %v", p.Listen, err)
	}
}

// AddToxic adds a toxic of Toxiproxy's type typ on stream ("upstream" or
// "downstream").
func (p *Proxy) AddToxic(name, typ, stream string, attrs map[string]any) {
	p.tb.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		p.tb.Fatalf("add toxic %s: %v", name, err)
	}
}

// RemoveToxic removes the toxic name.
func (p *Proxy) RemoveToxic(name string) {
	p.tb.Helper()
	if err := p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		p.tb.Fatalf("remove toxic %s: %v", name, err)
	}
}

// Partition makes the link swallow everything in both directions without
// closing it: only heartbeats can tell.
func (p *Proxy) Partition() {
	p.AddToxic("partition-up", "timeout", "upstream", map[string]any{"timeout": 0})
	p.AddToxic("partition-down", "timeout", "downstream", map[string]any{"timeout": 0})
}

// Heal ends a Partition.
func (p *Proxy) Heal() {
	p.RemoveToxic("partition-up")
	p.RemoveToxic("partition-down")
}
