package amqp_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgetrace/edgetrace/tracker"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// These benchmarks measure fixed workloads and report custom metrics; run
// them with -benchtime=1x (hack/bench-sync.sh does).

func benchEvents(b *testing.B, def int) int {
	if v := os.Getenv("TRACKER_SYNC_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("TRACKER_SYNC_BENCH_EVENTS=%q", v)
		}
		return n
	}
	return def
}

// cpuMeter reads the CPU time (user + system) this process and the local
// RabbitMQ node have used, so a benchmark can report what each event cost
// in CPU as well as in wall time: on a machine of two cores, the broker,
// the edge and the hub share one budget, and the sum of their costs per
// event bounds the rate more firmly than any one wall-clock figure.
type cpuMeter struct{ brokerPID string }

// newCPUMeter finds the broker's Erlang VM among local processes. The
// broker's share is reported only when it runs on this machine.
func newCPUMeter() cpuMeter {
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		if b, err := os.ReadFile(c); err == nil && strings.TrimSpace(string(b)) == "beam.smp" {
			return cpuMeter{brokerPID: filepath.Base(filepath.Dir(c))}
		}
	}
	return cpuMeter{}
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

type cpuSample struct{ self, broker time.Duration }

func (m cpuMeter) sample() cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.brokerPID == "" {
		return s
	}
	b, err := os.ReadFile("/proc/" + m.brokerPID + "/stat")
	if err != nil {
		return s
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th of the whole line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) > 12 {
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.broker = time.Duration(ut+st) * clockTick
	}
	return s
}

// cpuCost is the CPU microseconds per item each side spent over a phase.
type cpuCost struct {
	self, broker float64
	withBroker   bool
}

func (m cpuMeter) since(from cpuSample, n int) cpuCost {
	now := m.sample()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return cpuCost{self: per(now.self - from.self), broker: per(now.broker - from.broker), withBroker: m.brokerPID != ""}
}

// report adds the cost as metrics; call it after the last ResetTimer,
// which drops metrics reported before it.
func (c cpuCost) report(b *testing.B, prefix string) {
	b.ReportMetric(c.self, prefix+"_self_cpu_us/op")
	if c.withBroker {
		b.ReportMetric(c.broker, prefix+"_broker_cpu_us/op")
	}
}

// rawPublishRate publishes n persistent 600-byte messages to a fresh quorum
// queue with up to 1000 confirms in flight: the broker's own ceiling for
// what the worker does, measured in the same run for comparison.
func rawPublishRate(b *testing.B, n int) (float64, cpuCost) {
	b.Helper()
	cpu := newCPUMeter()
	q := queueName(b)
	ch := brokerChannel(b)
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp091.Table{"x-queue-type": "quorum"}); err != nil {
		b.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 600)
	window := make(chan *amqp091.DeferredConfirmation, 1000)
	done := make(chan error, 1)
	go func() {
		for dc := range window {
			if !dc.Wait() {
				done <- os.ErrInvalid
				return
			}
		}
		done <- nil
	}()
	t0, c0 := time.Now(), cpu.sample()
	for range n {
		dc, err := ch.PublishWithDeferredConfirm("", q, false, false, amqp091.Publishing{DeliveryMode: amqp091.Persistent, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		window <- dc
	}
	close(window)
	if err := <-done; err != nil {
		b.Fatal("raw publish nacked")
	}
	return float64(n) / time.Since(t0).Seconds(), cpu.since(c0, n)
}

// preload captures n generated events into the edge store in 1000-event
// captures, with the edge's link cut so nothing syncs yet.
func preload(b *testing.B, e *edge, n int) {
	b.Helper()
	g := epcisgen.New(epcisgen.Config{Seed: 99})
	const per = 1000
	var wg sync.WaitGroup
	work := make(chan []*tracker.Event, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for evs := range work {
				if _, err := e.store.Capture(context.Background(), evs); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for left := n; left > 0; left -= per {
		evs, err := tracker.DecodeDocument(epcisgen.Document(g.Events(min(left, per))))
		if err != nil {
			b.Fatal(err)
		}
		work <- evs
	}
	close(work)
	wg.Wait()
}

// BenchmarkSyncDrain is the end-to-end figure: a backlog of events (200,000,
// or TRACKER_SYNC_BENCH_EVENTS) built while the edge was offline drains
// edge → broker → hub, both SQLite stores committed, and the rate is
// reported beside the raw publish-with-confirms rate to the same broker.
func BenchmarkSyncDrain(b *testing.B) {
	requireBroker(b)
	n := benchEvents(b, 200_000)
	raw, rawCPU := rawPublishRate(b, 100_000)
	q := queueName(b)
	e := newEdge(b, "edge-bench", q, 1, edgeOpts{interval: time.Second})
	e.proxy.Cut()
	t0 := time.Now()
	preload(b, e, n)
	b.Logf("preloaded %d events in %s", n, time.Since(t0).Round(time.Millisecond))
	h := newHub(b, q)
	cpu := newCPUMeter()
	b.ResetTimer()
	t0, c0 := time.Now(), cpu.sample()
	e.proxy.Restore()
	var published time.Duration // when the edge's outbox emptied: edge → broker alone
	for {
		if published == 0 {
			if st, err := e.store.OutboxStats(context.Background()); err == nil && st.Depth == 0 {
				published = time.Since(t0)
			}
		}
		var top int
		if err := h.store.QueryRowForTest(`SELECT coalesce(max(seq), 0) FROM events`, &top); err != nil {
			b.Fatal(err)
		}
		if top >= n {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("hub has %d of %d events after 10 minutes", top, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := time.Since(t0)
	b.StopTimer()
	e2eCPU := cpu.since(c0, n)
	rawCPU.report(b, "raw")
	e2eCPU.report(b, "e2e")
	rate := float64(n) / d.Seconds()
	b.ReportMetric(rate, "e2e_events/s")
	b.ReportMetric(raw, "raw_publish/s")
	b.ReportMetric(rate/raw, "e2e/raw")
	b.ReportMetric(d.Seconds(), "drain_s")
	if published > 0 {
		b.ReportMetric(float64(n)/published.Seconds(), "edge_publish/s")
	}
	b.Logf("%d events drained edge → broker → hub in %s: %.0f events/s end to end; edge outbox empty after %s; raw publish with confirms %.0f msg/s (ratio %.2f)",
		n, d.Round(time.Millisecond), rate, published.Round(time.Millisecond), raw, rate/raw)
	if e2eCPU.withBroker {
		// The goal's rate priced at what each event cost here: more than the
		// machine's cores means no scheduling of these parts can reach it.
		const goal = 20_000
		b.Logf("CPU per event: edge and hub (this process) %.0f µs, broker %.0f µs; at %d events/s that is %.2f + %.2f cores of %d",
			e2eCPU.self, e2eCPU.broker, goal, e2eCPU.self*goal/1e6, e2eCPU.broker*goal/1e6, runtime.NumCPU())
	}
}

// BenchmarkCaptureP99BrokerDownVsUp measures capture latency (10-event
// documents, 4 concurrent clients) with the sync worker publishing to a
// live broker and with the broker unreachable behind a backlog of
// backlogDown events. No hub runs here: it lives at the centre, and on
// this machine it would take CPU from the edge only while the broker is up.
// (The broker still does, as it must to take the publishes.)
func BenchmarkCaptureP99BrokerDownVsUp(b *testing.B) {
	requireBroker(b)
	q := queueName(b)
	e := newEdge(b, "edge-p99", q, 2, edgeOpts{})
	waitFor(b, 10*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	const perClient = 500
	measure := func() (p50, p99 time.Duration) {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for c := range 4 {
			g := epcisgen.New(epcisgen.Config{Seed: rand.Uint64() | uint64(c)})
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, perClient)
				for range perClient {
					evs, err := tracker.DecodeDocument(epcisgen.Document(g.Events(10)))
					if err != nil {
						b.Error(err)
						return
					}
					t0 := time.Now()
					if _, err := e.store.Capture(context.Background(), evs); err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if b.Failed() || len(lat) == 0 {
			b.FailNow() // a client's error is already reported
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100]
	}
	b.ResetTimer()
	upP50, upP99 := measure()
	e.proxy.Cut()
	waitFor(b, 10*time.Second, "the worker to see the broker gone", func() bool { return !e.worker.State().Connected })
	// An outage of some length: the outbox holds what it could not send.
	const backlogDown = 100_000
	for range backlogDown / 1000 {
		evs, err := tracker.DecodeDocument(epcisgen.Document(e.gen.Events(1000)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.store.Capture(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	depth := e.worker.State().OutboxDepth
	downP50, downP99 := measure()
	e.proxy.Restore()
	b.StopTimer()
	b.ReportMetric(float64(upP99.Microseconds())/1000, "up_p99_ms")
	b.ReportMetric(float64(downP99.Microseconds())/1000, "down_p99_ms")
	b.ReportMetric(float64(downP99)/float64(upP99), "down/up_p99")
	b.Logf("capture of 10-event documents, 4 clients: broker up P50 %s P99 %s; broker down (outbox ≈ %d unsent) P50 %s P99 %s",
		upP50, upP99, depth, downP50, downP99)
}
