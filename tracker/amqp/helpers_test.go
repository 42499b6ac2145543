package amqp_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgetrace/edgetrace/tracker"
	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/internal/brokertest"
	"github.com/edgetrace/edgetrace/tracker/sqlite"
)

// Aliases for brevity: the helpers live in brokertest, shared with
// cmd/tracker's tests.
var (
	brokerAddr         = brokertest.Addr
	amqpURL            = brokertest.URL
	requireBroker      = brokertest.Require
	requireBrokerAlone = brokertest.RequireAlone
	seed               = brokertest.Seed
	newProxy           = brokertest.NewProxy
)

type proxy = brokertest.Proxy

// brokerChannel opens a channel straight to the broker (no proxy), closed
// with the test.
func brokerChannel(t testing.TB) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL(brokerAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// queueName is unique per test so tests (and engineers) sharing the broker
// never see each other's messages; the queues are deleted afterwards.
func queueName(t testing.TB) string {
	var b [4]byte
	crand.Read(b[:])
	q := "test." + strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + "." + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := amqp091.Dial(amqpURL(brokerAddr()))
		if err != nil {
			t.Logf("delete queue %s: %v", q, err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		for _, name := range []string{q, trackeramqp.RejectedQueue(q)} {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Logf("delete queue %s: %v", name, err)
				return
			}
		}
	})
	return q
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("TRACKER_SYNC_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	return quiet
}

// edge is one site: a store, its sync worker and a proxy to the broker.
type edge struct {
	name   string
	store  *sqlite.Store
	worker *trackeramqp.Worker
	proxy  *proxy
	reg    *prometheus.Registry // the worker's metrics
	mu     sync.Mutex
	gen    *epcisgen.Generator
	runner
	// What starts a worker again (restart): its options, and where the
	// store's commit hook finds it.
	opts    trackeramqp.WorkerOptions
	current *atomic.Pointer[trackeramqp.Worker]
}

type edgeOpts struct {
	interval, heartbeat time.Duration
}

func newEdge(t testing.TB, name, queue string, seed uint64, o edgeOpts) *edge {
	t.Helper()
	if o.interval == 0 {
		o.interval = 500 * time.Millisecond
	}
	if o.heartbeat == 0 {
		o.heartbeat = time.Second
	}
	e := &edge{name: name, proxy: newProxy(t, name), gen: epcisgen.New(epcisgen.Config{Seed: seed})}
	// The worker wants the store and the store wants the worker's Notify:
	// the pointer breaks the cycle (captures before Run just wait for it).
	var w atomic.Pointer[trackeramqp.Worker]
	st, err := sqlite.Open(context.Background(), sqlite.Options{
		Path: filepath.Join(t.TempDir(), name+".db"),
		OnCommit: func() {
			if p := w.Load(); p != nil {
				p.Notify()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.current = st, &w
	e.opts = trackeramqp.WorkerOptions{
		URL: e.proxy.URL(), Queue: queue, Site: name, Outbox: st,
		Interval: o.interval, Heartbeat: o.heartbeat, Log: testLog(t).With("edge", name),
	}
	e.start()
	t.Cleanup(func() {
		e.shutdown(t)
		st.Close()
	})
	return e
}

// start runs a new worker on the edge's store, its metrics in a registry
// of its own (a second worker could not register them beside the first's).
func (e *edge) start() {
	e.reg = prometheus.NewRegistry()
	e.opts.Registerer = e.reg
	e.worker = trackeramqp.NewWorker(e.opts)
	e.current.Store(e.worker)
	e.run("edge "+e.name+" worker", e.worker.Run)
}

// crash stops the worker as a killed process would leave the broker: the
// connection drops first, with publishes awaiting confirms, then the worker
// ends. A restart (start) finds unconfirmed rows unsent and publishes them
// again, which the hub must take once.
func (e *edge) crash(t testing.TB) { e.runner.crash(t, e.proxy) }

// metric reads one of the worker's metrics: a counter's or gauge's value,
// or how many observations a histogram holds. E.g.
// tracker_sync_nacked_total, which State does not show.
func (e *edge) metric(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		switch m := mf.GetMetric()[0]; {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("edge %s has no metric %s", e.name, name)
	return 0
}

// inflight is how many publishes await a confirm the worker has not yet
// recorded, counting those of sessions that ended without one.
func (e *edge) inflight(t testing.TB) float64 {
	t.Helper()
	return e.metric(t, "tracker_sync_published_total") - e.metric(t, "tracker_sync_confirmed_total")
}

// capture stores n generated events in documents of 1–50 events.
func (e *edge) capture(t testing.TB, rng *rand.Rand, n int) {
	t.Helper()
	if err := e.tryCapture(rng, n); err != nil {
		t.Fatal(err)
	}
}

func (e *edge) tryCapture(rng *rand.Rand, n int) error {
	e.mu.Lock() // the generator is not safe for concurrent use
	defer e.mu.Unlock()
	for n > 0 {
		k := min(n, 1+rng.IntN(50))
		evs, err := tracker.DecodeDocument(epcisgen.Document(e.gen.Events(k)))
		if err != nil {
			return fmt.Errorf("decode generated document: %w", err)
		}
		if _, err := e.store.Capture(context.Background(), evs); err != nil {
			return fmt.Errorf("capture on %s: %w", e.name, err)
		}
		n -= k
	}
	return nil
}

// declareError captures an error declaration for one of the edge's stored
// events: same eventID, so only the dedupe key keeps it apart at the hub.
func (e *edge) declareError(t testing.TB) {
	t.Helper()
	var raw []byte
	if err := e.store.QueryRowForTest(`SELECT payload FROM events WHERE is_declaration = 0 ORDER BY seq LIMIT 1`, &raw); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["errorDeclaration"] = map[string]any{"declarationTime": "2026-02-01T00:00:00Z", "reason": "urn:epcglobal:cbv:er:incorrect_data"}
	b, _ := json.Marshal(m)
	ev, err := tracker.DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Capture(context.Background(), []*tracker.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

// hub is the central store and its consumer.
type hub struct {
	store    *sqlite.Store
	consumer *trackeramqp.Consumer
	opts     trackeramqp.ConsumerOptions
	proxy    *proxy
	runner
}

// newHub starts a hub; a test may start two on one queue.
func newHub(t testing.TB, queue string) *hub {
	t.Helper()
	h := &hub{proxy: newProxy(t, "hub")}
	// As the real hub (cmd/tracker hub): it forwards nothing, so no outbox.
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "hub.db"), NoOutbox: true})
	if err != nil {
		t.Fatal(err)
	}
	h.store = st
	h.opts = trackeramqp.ConsumerOptions{
		URL: h.proxy.URL(), Queue: queue, Store: st, Heartbeat: time.Second, MaxBackoff: time.Second,
		Log: testLog(t).With("hub", true),
	}
	h.start()
	t.Cleanup(func() {
		h.shutdown(t)
		st.Close()
	})
	return h
}

// start runs a new consumer on the hub's store.
func (h *hub) start() {
	h.consumer = trackeramqp.NewConsumer(h.opts)
	h.run("hub consumer", h.consumer.Run)
}

// crash drops the hub's connection with deliveries unacked, as a killed
// hub would, and stops its consumer; the broker redelivers them to the
// next (start), which must not store any twice.
func (h *hub) crash(t testing.TB) { h.runner.crash(t, h.proxy) }

// runner runs a worker's or consumer's Run until shutdown; the store
// stays open for checks.
type runner struct {
	what string
	stop context.CancelFunc
	done chan error
}

func (r *runner) run(what string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	r.what, r.stop, r.done = what, cancel, make(chan error, 1)
	go func() { r.done <- run(ctx) }()
}

// shutdown stops the run, if one is going, and reports its error.
func (r *runner) shutdown(t testing.TB) {
	if r.stop == nil {
		return
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Errorf("%s: %v", r.what, err)
	}
	r.stop = nil
}

// crash cuts p, the node's link to the broker, stops the run and restores
// the link: what the broker sees when a process is killed.
func (r *runner) crash(t testing.TB, p *proxy) {
	p.Cut()
	r.shutdown(t)
	p.Restore()
}

// eventSet lists a store's events as "eventID#declaration" keys.
func eventSet(t testing.TB, s *sqlite.Store) (keys []string, rows int) {
	t.Helper()
	var all string
	if err := s.QueryRowForTest(`SELECT count(*), coalesce(group_concat(event_id || '#' || is_declaration, char(10)), '') FROM events`, &rows, &all); err != nil {
		t.Fatal(err)
	}
	if all != "" {
		keys = strings.Split(all, "\n")
	}
	sort.Strings(keys)
	return keys, rows
}

// waitSynced waits until every edge's outbox is empty and the hub holds as
// many events as the edges together, then checks the sets: the hub's event
// set equals the union of the edges' sets, with zero duplicates. It fails
// when sync makes no progress for stall: a large backlog on a busy machine
// may take long, a stuck one never finishes.
func waitSynced(t testing.TB, h *hub, edges []*edge, stall time.Duration) {
	t.Helper()
	want := map[string]bool{}
	for _, e := range edges {
		keys, _ := eventSet(t, e.store)
		for _, k := range keys {
			if want[k] {
				t.Fatalf("test bug: %s captured on two edges", k)
			}
			want[k] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("no events captured: the test proves nothing")
	}
	deadline := time.Now().Add(stall)
	lastN, lastDepth := -1, int64(-1)
	for {
		depth := int64(0)
		for _, e := range edges {
			st, err := e.store.OutboxStats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			depth += st.Depth
		}
		var n int
		if err := h.store.QueryRowForTest(`SELECT count(*) FROM events`, &n); err != nil {
			t.Fatal(err)
		}
		if depth == 0 && n >= len(want) {
			break
		}
		if n != lastN || depth != lastDepth {
			lastN, lastDepth, deadline = n, depth, time.Now().Add(stall)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync stalled for %s: hub has %d of %d events, %d unsent at the edges", stall, n, len(want), depth)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, rows := eventSet(t, h.store)
	if rows != len(got) {
		t.Errorf("hub has %d rows for %d keys: duplicates", rows, len(got))
	}
	seen := map[string]int{}
	for _, k := range got {
		seen[k]++
	}
	var missing, extra, dup []string
	for k := range want {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, c := range seen {
		if !want[k] {
			extra = append(extra, k)
		}
		if c > 1 {
			dup = append(dup, k)
		}
	}
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Fatalf("hub set != union of edge sets: %d missing (%.3v), %d extra (%.3v), %d duplicated (%.3v)",
			len(missing), missing, len(extra), extra, len(dup), dup)
	}
	t.Logf("hub holds exactly the %d events of %d edge(s), no duplicates", len(want), len(edges))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rabbitmqctl runs a broker control command (broker restarts, policies).
func rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	if err := tryRabbitmqctl(args...); err != nil {
		t.Fatal(err)
	}
}

func tryRabbitmqctl(args ...string) error {
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// queueInfo reads a queue's ready messages and consumers, on a connection
// of its own: a missing queue closes the channel that asked.
func queueInfo(t testing.TB, q string) (messages, consumers int, err error) {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL(brokerAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	qi, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	return qi.Messages, qi.Consumers, err
}

// background captures on the edges until stopped, at a modest rate so the
// faults hit a stream of small batches rather than one big one.
func background(t testing.TB, rng *rand.Rand, edges ...*edge) (stop func()) {
	return backgroundEvery(t, rng, 20*time.Millisecond, edges...)
}

func backgroundEvery(t testing.TB, rng *rand.Rand, every time.Duration, edges ...*edge) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, e := range edges {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if err := e.tryCapture(r, 1+r.IntN(10)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}
