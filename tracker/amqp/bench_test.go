package amqp_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
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

// rawPublishRate publishes n persistent 600-byte messages to a fresh quorum
// queue with up to 1000 confirms in flight: the broker's own ceiling for
// what the worker does, measured in the same run for comparison.
func rawPublishRate(b *testing.B, n int) float64 {
	b.Helper()
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
	t0 := time.Now()
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
	return float64(n) / time.Since(t0).Seconds()
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
	raw := rawPublishRate(b, 100_000)
	q := queueName(b)
	e := newEdge(b, "edge-bench", q, 1, edgeOpts{interval: time.Second})
	e.proxy.Cut()
	t0 := time.Now()
	preload(b, e, n)
	b.Logf("preloaded %d events in %s", n, time.Since(t0).Round(time.Millisecond))
	h := newHub(b, q)
	b.ResetTimer()
	t0 = time.Now()
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
