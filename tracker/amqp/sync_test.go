package amqp_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetrace/edgetrace/tracker"
)

// Every scenario runs against the real broker with an in-process Toxiproxy
// in front of each node, and ends with the same check: the hub's event set
// equals the union of the edges' sets, with zero duplicates.

func TestSyncDeliversEverythingPromptly(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	h := newHub(t, q)
	// A long interval: delivery must come from the capture signal, not polling.
	e := newEdge(t, "edge-a", q, 1, edgeOpts{interval: 10 * time.Second})
	e.capture(t, rng, 500)
	e.declareError(t) // same eventID as a stored event; must arrive as its own row
	waitSynced(t, h, []*edge{e}, 15*time.Second)

	for range 5 {
		_, before := eventSet(t, h.store)
		t0 := time.Now()
		e.capture(t, rng, 1)
		waitFor(t, 10*time.Second, "one event at the hub", func() bool {
			_, n := eventSet(t, h.store)
			return n == before+1
		})
		if d := time.Since(t0); d > time.Second {
			t.Errorf("capture → hub took %s; want well under sync_interval (10s)", d)
		}
	}
	var decl int
	if err := h.store.QueryRowForTest(`SELECT count(*) FROM events WHERE is_declaration = 1`, &decl); err != nil || decl != 1 {
		t.Errorf("hub has %d error declarations (err %v), want 1 kept apart from the event it corrects", decl, err)
	}
	if st := e.worker.State(); !st.Connected || st.OutboxDepth != 0 || st.LastSuccessfulSync.IsZero() {
		t.Errorf("worker state %+v: want connected, empty outbox, a last sync time", st)
	}
}

// TestSyncConnectionCutMidBatch cuts the link while a backlog drains, so the
// cut lands with a window of publishes awaiting confirms, and restores it
// after seconds and after minutes: long enough for the worker's backoff to
// reach its cap and for captures to go on piling up in the outbox meanwhile.
// Confirms come back through a slow link, so that publishes are always
// awaiting theirs when the cut falls (checked, not assumed).
func TestSyncConnectionCutMidBatch(t *testing.T) {
	requireBroker(t)
	for i, tc := range []struct {
		name    string
		outage  [2]time.Duration // drawn between these
		edgeArg uint64
	}{
		{"seconds", [2]time.Duration{time.Second, 3 * time.Second}, 2},
		{"minutes", [2]time.Duration{2 * time.Minute, 150 * time.Second}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the long outage is mostly waiting
			rng := seed(t)
			q := queueName(t)
			h := newHub(t, q)
			e := newEdge(t, "edge-"+strconv.Itoa(i), q, tc.edgeArg, edgeOpts{})
			e.proxy.Cut()
			e.capture(t, rng, 2000)
			stop := background(t, rng, e)
			// Every confirm lags 250 ms, so the publishes of the last 250 ms
			// (the backlog's, then the stream's) await theirs at any moment:
			// the cut cannot fall in a gap between windows. (It caps the
			// drain at MaxInFlight per 250 ms, 4,000 events/s: enough.)
			e.proxy.AddToxic("slow-confirms", "latency", "downstream", map[string]any{"latency": 250})
			e.proxy.Restore()
			waitFor(t, 20*time.Second, "the first confirms", func() bool { return e.metric(t, "tracker_sync_confirmed_total") > 0 })
			time.Sleep(jitter(rng, 0, 300*time.Millisecond)) // random point in the drain
			waitFor(t, 10*time.Second, "publishes awaiting confirms", func() bool { return e.inflight(t) > 0 })
			before := e.worker.State()
			e.proxy.Cut()
			// Captures began while the link was down, so every publish so
			// far was in the session the cut ends: those it never recorded
			// as confirmed were in flight when it fell.
			waitFor(t, 10*time.Second, "the worker to see the cut", func() bool { return !e.worker.State().Connected })
			lost := e.inflight(t)
			_, total := eventSet(t, e.store) // before the depth: captures go on
			st, err := e.store.OutboxStats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("cut with %.0f publishes awaiting confirms; %d of %d events unsent", lost, st.Depth, total)
			if !before.Connected {
				t.Errorf("worker not connected just before the cut: %+v", before)
			}
			if lost < 1 {
				t.Error("no publish awaited a confirm when the link was cut: the cut missed the batch")
			}
			// The confirms the closing channel settles as not acked are a
			// lost session, not the broker refusing anything.
			if n := e.metric(t, "tracker_sync_nacked_total"); n != 0 {
				t.Errorf("tracker_sync_nacked_total = %.0f after a cut, want 0: nothing was nacked", n)
			}
			if st.Depth < 1 || st.Depth > int64(total)-1 {
				t.Errorf("%d of %d events unsent at the cut, want some sent and some not", st.Depth, total)
			}
			// The slow confirms stay: removing a toxic while the proxy tears
			// down its links can hang Toxiproxy, and they only slow the drain.
			time.Sleep(jitter(rng, tc.outage[0], tc.outage[1]))
			e.proxy.Restore()
			stop()
			waitSynced(t, h, []*edge{e}, 60*time.Second)
			if r := e.worker.State().Reconnects; r <= before.Reconnects {
				t.Errorf("worker reconnects %d before the cut, %d after: the cut did not end its session", before.Reconnects, r)
			}
		})
	}
}

func TestSyncSilentPartitionDetectedByHeartbeats(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	h := newHub(t, q)
	e := newEdge(t, "edge-a", q, 3, edgeOpts{heartbeat: time.Second})
	e.capture(t, rng, 200)
	waitFor(t, 15*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	stop := background(t, rng, e)
	time.Sleep(jitter(rng, 0, 300*time.Millisecond))
	e.proxy.Partition()
	t0 := time.Now()
	// No RST, no FIN: the connection looks healthy to the OS. Only the
	// missed heartbeats (1.5 intervals) can end the session.
	waitFor(t, 10*time.Second, "the worker to notice the partition", func() bool { return !e.worker.State().Connected })
	t.Logf("partition detected after %s", time.Since(t0).Round(10*time.Millisecond))
	time.Sleep(jitter(rng, 0, time.Second))
	e.proxy.Heal()
	stop()
	waitSynced(t, h, []*edge{e}, 60*time.Second)
}

func TestSyncHighLatencyLowBandwidth(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	h := newHub(t, q)
	e := newEdge(t, "edge-a", q, 4, edgeOpts{heartbeat: 2 * time.Second})
	for _, p := range []*proxy{e.proxy, h.proxy} {
		for _, s := range []string{"upstream", "downstream"} {
			p.AddToxic("latency-"+s, "latency", s, map[string]any{"latency": 150, "jitter": 50})
			p.AddToxic("bandwidth-"+s, "bandwidth", s, map[string]any{"rate": 128}) // KB/s
		}
	}
	e.capture(t, rng, 1000)
	waitSynced(t, h, []*edge{e}, 90*time.Second)
}

func TestSyncBrokerRestart(t *testing.T) {
	requireBrokerAlone(t) // stopping the broker would fail other packages' tests
	rng := seed(t)
	q := queueName(t)
	h := newHub(t, q)
	e := newEdge(t, "edge-a", q, 5, edgeOpts{})
	e.capture(t, rng, 500)
	stop := background(t, rng, e)
	time.Sleep(jitter(rng, 0, 500*time.Millisecond))
	rabbitmqctl(t, "stop_app")
	restarted := false
	defer func() {
		if !restarted { // never leave the shared broker down
			rabbitmqctl(t, "start_app")
		}
	}()
	time.Sleep(jitter(rng, 500*time.Millisecond, 2*time.Second))
	rabbitmqctl(t, "start_app")
	restarted = true
	rabbitmqctl(t, "await_startup")
	stop()
	waitSynced(t, h, []*edge{e}, 90*time.Second)
}

func TestSyncThreeEdgesOnePartitioned(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	h := newHub(t, q)
	edges := []*edge{
		newEdge(t, "edge-a", q, 6, edgeOpts{heartbeat: time.Second}),
		newEdge(t, "edge-b", q, 7, edgeOpts{heartbeat: time.Second}),
		newEdge(t, "edge-c", q, 8, edgeOpts{heartbeat: time.Second}),
	}
	stop := background(t, rng, edges...)
	for _, e := range edges {
		waitFor(t, 15*time.Second, e.name+" connected", func() bool { return e.worker.State().Connected })
	}
	// One site's link goes silent while all three are syncing: packets are
	// dropped, nothing is refused, so only its heartbeats can tell.
	cut := rng.IntN(len(edges))
	time.Sleep(jitter(rng, 0, 500*time.Millisecond))
	edges[cut].proxy.Partition()
	waitFor(t, 10*time.Second, "the partitioned edge to notice", func() bool { return !edges[cut].worker.State().Connected })
	time.Sleep(jitter(rng, time.Second, 2*time.Second))
	stop()
	// The two connected sites sync fully while the third is away (the hub
	// also holds what the third sent before its link went silent)...
	waitFor(t, 30*time.Second, "the connected edges to sync", func() bool {
		at := map[string]bool{}
		keys, _ := eventSet(t, h.store)
		for _, k := range keys {
			at[k] = true
		}
		for i, e := range edges {
			if i == cut {
				continue
			}
			keys, _ := eventSet(t, e.store)
			for _, k := range keys {
				if !at[k] {
					return false
				}
			}
		}
		return true
	})
	if st := edges[cut].worker.State(); st.Connected || st.OutboxDepth == 0 {
		t.Fatalf("partitioned edge state %+v: want disconnected with a backlog", st)
	}
	// ...and the third catches up once its link returns.
	edges[cut].proxy.Heal()
	waitSynced(t, h, edges, 60*time.Second)
}

// TestSyncRandomFaults injects a random sequence of faults on two edges and
// the hub while they capture: cuts (edge or hub, so also mid-consume),
// silent partitions, slow links, and an edge's worker or the hub's consumer
// crashing (connection dropped with publishes unconfirmed or deliveries
// unacked) and starting again on the same store; the processes' SIGKILLs
// are cmd/tracker's TestSyncSurvivesSIGKILL. TRACKER_SYNC_FAULTS sets the count
// (hack/soak.sh runs ≥ 100, with broker restarts and minutes-long outages).
func TestSyncRandomFaults(t *testing.T) {
	soak := os.Getenv("TRACKER_SYNC_SOAK") != ""
	if soak {
		requireBrokerAlone(t) // it restarts the broker
	} else {
		requireBroker(t)
	}
	rng := seed(t)
	faults := 6
	if v := os.Getenv("TRACKER_SYNC_FAULTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TRACKER_SYNC_FAULTS=%q: want a positive count", v)
		}
		faults = n
	}
	q := queueName(t)
	h := newHub(t, q)
	edges := []*edge{newEdge(t, "edge-a", q, 9, edgeOpts{}), newEdge(t, "edge-b", q, 10, edgeOpts{})}
	every := 20 * time.Millisecond
	if soak {
		// A soak lasts many minutes: a gentler stream keeps the backlog to
		// what the hub drains on a shared 2-core machine.
		every = 100 * time.Millisecond
	}
	stop := backgroundEvery(t, rng, every, edges...)
	kinds := []string{"cut", "partition", "slow", "crash-edge", "crash-hub"}
	if soak {
		kinds = append(kinds, "restart", "long-cut")
	}
	counts := map[string]int{}
	for i := range faults {
		kind := kinds[rng.IntN(len(kinds))]
		if kind == "long-cut" && counts[kind] > 0 {
			kind = "cut" // one outage of minutes per soak is enough
		}
		nodes := []*proxy{h.proxy}
		for _, e := range edges {
			nodes = append(nodes, e.proxy)
		}
		p := nodes[rng.IntN(len(nodes))]
		hold := jitter(rng, 200*time.Millisecond, 2*time.Second)
		counts[kind]++
		switch kind {
		case "cut":
			p.Cut()
			time.Sleep(hold)
			p.Restore()
		case "long-cut":
			p.Cut()
			time.Sleep(jitter(rng, 60*time.Second, 150*time.Second))
			p.Restore()
		case "partition":
			p.Partition()
			time.Sleep(hold + 2*time.Second) // past heartbeat detection, sometimes
			p.Heal()
		case "slow":
			p.AddToxic("slow", "latency", "downstream", map[string]any{"latency": 300, "jitter": 200})
			time.Sleep(hold)
			p.RemoveToxic("slow")
		case "crash-edge":
			e := edges[rng.IntN(len(edges))]
			e.crash(t)
			time.Sleep(hold)
			e.start()
		case "crash-hub":
			h.crash(t)
			time.Sleep(hold)
			h.start()
		case "restart":
			rabbitmqctl(t, "stop_app")
			time.Sleep(hold)
			rabbitmqctl(t, "start_app")
			rabbitmqctl(t, "await_startup")
		}
		time.Sleep(jitter(rng, 0, 500*time.Millisecond)) // let some traffic through
		if t.Failed() {
			t.Fatalf("failed during fault %d (%s)", i, kind)
		}
	}
	stop()
	t.Logf("faults injected: %v", counts)
	waitSynced(t, h, edges, 120*time.Second)
}

// TestSyncStopsWhileBrokerStopsReading: a broker that stops reading from
// publishers (a memory or disk alarm; here a proxy passing 1 KB/s) leaves a
// publish blocked writing to the socket, where it does not watch the
// context. Shutdown must still end within its drain window, not when the
// broker reads again; nothing unconfirmed is marked sent.
func TestSyncStopsWhileBrokerStopsReading(t *testing.T) {
	requireBroker(t)
	q := queueName(t)
	e := newEdge(t, "edge-a", q, 9, edgeOpts{heartbeat: time.Minute})
	e.proxy.AddToxic("trickle", "bandwidth", "upstream", map[string]any{"rate": 1}) // KB/s
	// 1,000 events of 32 KB, all in flight at once: more than the socket
	// buffers between the worker and the broker hold, so a publish blocks.
	blob := strings.Repeat("x", 32<<10)
	for i := range 1000 {
		body := fmt.Sprintf(`{"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[`+
			`{"type":"ObjectEvent","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE",`+
			`"epcList":["urn:epc:id:sgtin:1.1.%d"],"ext:blob":%q}]}}`, i, blob)
		evs, err := tracker.DecodeDocument([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Capture(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 15*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	time.Sleep(3 * time.Second) // the worker fills the link and blocks
	// Without a session up and a publish blocked, a quick stop proves nothing.
	published := e.metric(t, "tracker_sync_published_total")
	if st := e.worker.State(); !st.Connected {
		t.Fatalf("worker state %+v before shutdown: want connected", st)
	}
	if published < 1 || published >= 1000 {
		t.Fatalf("%.0f of 1000 events published before shutdown: want some, and a publish blocked on the link", published)
	}
	t.Logf("%.0f of 1000 events published, the next blocked on the link", published)
	start := time.Now()
	e.shutdown(t)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("worker took %s to stop, want the drain window (a few seconds)", took.Round(time.Millisecond))
	}
	st, err := e.store.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 1000 {
		t.Errorf("%d of 1000 events left unsent through a 1 KB/s link, want all", st.Depth)
	}
}

// TestSyncNackedPublishesStayUnsent: a broker that refuses a publish nacks
// it (here a length limit with overflow reject-publish, applied by policy
// since the worker declares the queue). The worker must leave a nacked
// record unsent and publish it again, session after session, until the
// broker takes it; what the broker did take is marked sent exactly once.
// A quorum queue applies the limit a little late (RabbitMQ 3.10 takes some
// publishes past it), so the check is against what the queue holds.
func TestSyncNackedPublishesStayUnsent(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	const limit, total = 50, 200
	// The pattern matches this test's queue alone (not even its .rejected).
	rabbitmqctl(t, "set_policy", "--apply-to", "queues", "--priority", "100",
		q, "^"+regexp.QuoteMeta(q)+"$", fmt.Sprintf(`{"max-length":%d,"overflow":"reject-publish"}`, limit))
	lifted := false
	lift := func() error {
		if lifted {
			return nil
		}
		lifted = true
		return tryRabbitmqctl("clear_policy", q)
	}
	t.Cleanup(func() {
		if err := lift(); err != nil {
			t.Error(err)
		}
	})
	e := newEdge(t, "edge-a", q, 13, edgeOpts{})
	waitFor(t, 15*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	e.capture(t, rng, total)
	// Two nacks: the first session's, then a later session's re-publish.
	waitFor(t, 30*time.Second, "publishes nacked twice", func() bool { return e.metric(t, "tracker_sync_nacked_total") >= 2 })
	queued, _, err := queueInfo(t, q)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.store.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("queue at its limit of %d holds %d; %d of %d events unsent; %.0f nacks", limit, queued, st.Depth, total, e.metric(t, "tracker_sync_nacked_total"))
	if queued < limit {
		t.Errorf("queue holds %d, want its limit %d before the broker nacks", queued, limit)
	}
	// Marked sent: never more than the broker took (a nacked record marked
	// sent would be lost), and at least what it took before the first nack
	// (the worker marks in publish order, up to the first refusal; the
	// queue does not shrink, so it should refuse everything after, but a
	// late acceptance would only be published again).
	if sent := int64(total) - st.Depth; st.Depth == 0 || sent > int64(queued) || sent < limit {
		t.Fatalf("%d of %d events marked sent, the queue holds %d: want between its limit %d and what it holds", sent, total, queued, limit)
	}
	if err := lift(); err != nil {
		t.Fatal(err)
	}
	h := newHub(t, q)
	waitSynced(t, h, []*edge{e}, 30*time.Second)
}

// TestSyncReturnedPublishesStayUnsent: a publish the broker cannot route
// (the queue was deleted under a connected worker) comes back as a return
// followed by a positive confirm. The confirm must not mark it sent: the
// worker ends the session, declares the queue again on the next one and
// publishes it again.
func TestSyncReturnedPublishesStayUnsent(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	const total = 100
	e := newEdge(t, "edge-a", q, 14, edgeOpts{})
	waitFor(t, 15*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	before := e.worker.State()
	// Nothing captured yet, so deleting the queue loses no message (quorum
	// queues do not take the if-empty flag: checked here instead).
	if n, _, err := queueInfo(t, q); err != nil || n != 0 {
		t.Fatalf("queue holds %d messages (%v) before any capture", n, err)
	}
	if _, err := brokerChannel(t).QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
	e.capture(t, rng, total)
	waitFor(t, 15*time.Second, "a publish returned", func() bool { return e.metric(t, "tracker_sync_nacked_total") >= 1 })
	waitFor(t, 30*time.Second, "the outbox to drain into the declared queue", func() bool {
		st, err := e.store.OutboxStats(context.Background())
		return err == nil && st.Depth == 0
	})
	// Had a returned publish been marked sent, it would be missing here;
	// had one been routed as well as returned, it would be here twice.
	queued, _, err := queueInfo(t, q)
	if err != nil {
		t.Fatalf("queue not declared again: %v", err)
	}
	if queued != total {
		t.Errorf("queue holds %d messages, want the %d captured, each once", queued, total)
	}
	if r := e.worker.State().Reconnects; r <= before.Reconnects {
		t.Errorf("worker reconnects %d before the return, %d after: want a new session", before.Reconnects, r)
	}
	h := newHub(t, q)
	waitSynced(t, h, []*edge{e}, 30*time.Second)
}

// TestHubConsumesExclusively: a second hub on the queue would split the
// stream between two stores. It must stand by (retrying, not failing) while
// the first consumes, and take over when the first stops.
func TestHubConsumesExclusively(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	first := newHub(t, q)
	waitFor(t, 15*time.Second, "the first hub to consume", func() bool { return first.consumer.State().Connected })
	second := newHub(t, q)
	waitFor(t, 15*time.Second, "the second hub to stand by", func() bool {
		st := second.consumer.State()
		return st.Standby && strings.Contains(st.LastError, "standing by")
	})
	e := newEdge(t, "edge-a", q, 15, edgeOpts{})
	e.capture(t, rng, 300)
	waitSynced(t, first, []*edge{e}, 30*time.Second)
	if _, consumers, err := queueInfo(t, q); err != nil || consumers != 1 {
		t.Errorf("queue has %d consumers (%v), want 1", consumers, err)
	}
	if _, n := eventSet(t, second.store); n != 0 || second.consumer.State().Connected {
		t.Fatalf("the standby hub stored %d events (state %+v): want none while the first consumes", n, second.consumer.State())
	}

	if st := second.consumer.State(); st.Reconnects != 0 {
		t.Errorf("the standby hub counts %d reconnects: waiting to take over is not a fault", st.Reconnects)
	}
	first.shutdown(t)
	waitFor(t, 15*time.Second, "the second hub to take over", func() bool { return second.consumer.State().Connected })
	if st := second.consumer.State(); st.Standby {
		t.Errorf("the hub that took over still reports standby: %+v", st)
	}
	firstKeys, _ := eventSet(t, first.store)
	e.capture(t, rng, 300)
	// The second hub holds what came after the first stopped: with the
	// first's, the edge's set, each event in one store once.
	waitFor(t, 30*time.Second, "the second hub to store the new events", func() bool {
		st, err := e.store.OutboxStats(context.Background())
		_, n := eventSet(t, second.store)
		return err == nil && st.Depth == 0 && n >= 300
	})
	edgeKeys, _ := eventSet(t, e.store)
	secondKeys, rows := eventSet(t, second.store)
	if rows != len(secondKeys) {
		t.Errorf("second hub has %d rows for %d keys: duplicates", rows, len(secondKeys))
	}
	union := append(slices.Clone(firstKeys), secondKeys...)
	slices.Sort(union)
	if !slices.Equal(union, edgeKeys) {
		t.Errorf("the hubs hold %d + %d events, the edge %d: want each edge event in exactly one hub", len(firstKeys), len(secondKeys), len(edgeKeys))
	}
}

// TestHubAnswersAcrossSites: one pallet seen at two sites, whose events
// reach the hub in the opposite order to their times (site B's edge syncs
// first). The hub answers with the pallet's whole history from both sites,
// and with its location by event time: the newest place said (site A's,
// the older event, since site B's says none) and the newest disposition
// (site B's).
func TestHubAnswersAcrossSites(t *testing.T) {
	requireBroker(t)
	q := queueName(t)
	h := newHub(t, q)
	const pallet = "urn:epc:id:sscc:4012345.0000077777"
	capture := func(e *edge, id, at, fields string) {
		t.Helper()
		doc := fmt.Sprintf(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"EPCISDocument",`+
			`"schemaVersion":"2.0","creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent",`+
			`"eventID":%q,"eventTime":%q,"eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":[%q]%s}]}}`, id, at, pallet, fields)
		evs, err := tracker.DecodeDocument([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Capture(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	b := newEdge(t, "site-b", q, 2, edgeOpts{})
	capture(b, "urn:uuid:at-b", "2026-07-01T12:00:00Z", `,"disposition":"in_transit"`)
	waitSynced(t, h, []*edge{b}, 15*time.Second)
	a := newEdge(t, "site-a", q, 1, edgeOpts{})
	capture(a, "urn:uuid:at-a", "2026-07-01T08:00:00Z", `,"bizLocation":{"id":"urn:epc:id:sgln:4012345.00001.0"},"disposition":"active"`)
	waitSynced(t, h, []*edge{a, b}, 15*time.Second)

	loc, err := h.store.Location(context.Background(), pallet)
	if err != nil {
		t.Fatal(err)
	}
	if loc.BizLocation != "urn:epc:id:sgln:4012345.00001.0" || loc.Disposition != "in_transit" || loc.EventID != "urn:uuid:at-b" {
		t.Errorf("hub location of %s: at %q, %q, last event %s; want site A's location, site B's in_transit, urn:uuid:at-b",
			pallet, loc.BizLocation, loc.Disposition, loc.EventID)
	}
	page, err := h.store.Events(context.Background(), tracker.EventQuery{
		Matches: []tracker.EPCMatch{{EPCs: []string{pallet}, Roles: []int{tracker.RoleEPC}}}, OrderBy: "eventTime", PerPage: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range page.Events {
		ids = append(ids, ev.ID)
	}
	if strings.Join(ids, " ") != "urn:uuid:at-a urn:uuid:at-b" {
		t.Errorf("hub history of %s = %v, want both sites' events in time order", pallet, ids)
	}
}

// TestSyncMetrics: what the worker exports says how far behind the edge is
// while the broker is unreachable, and that it caught up once it is back.
func TestSyncMetrics(t *testing.T) {
	requireBroker(t)
	rng := seed(t)
	q := queueName(t)
	e := newEdge(t, "edge-a", q, 16, edgeOpts{})
	waitFor(t, 15*time.Second, "a connected worker", func() bool { return e.worker.State().Connected })
	e.proxy.Cut()
	waitFor(t, 15*time.Second, "the worker to see the broker gone", func() bool { return e.metric(t, "tracker_sync_connected") == 0 })
	start := time.Now()
	e.capture(t, rng, 200)
	waitFor(t, 10*time.Second, "the backlog in tracker_sync_outbox_depth", func() bool { return e.metric(t, "tracker_sync_outbox_depth") == 200 })
	waitFor(t, 10*time.Second, "tracker_sync_oldest_unsent_age_seconds past 1 s", func() bool {
		return e.metric(t, "tracker_sync_oldest_unsent_age_seconds") >= 1
	})
	waitFor(t, 15*time.Second, "a reconnect attempt counted", func() bool { return e.metric(t, "tracker_sync_reconnects_total") >= 1 })

	e.proxy.Restore()
	h := newHub(t, q)
	waitSynced(t, h, []*edge{e}, 30*time.Second)
	waitFor(t, 10*time.Second, "an empty outbox in the metrics", func() bool {
		return e.metric(t, "tracker_sync_outbox_depth") == 0 && e.metric(t, "tracker_sync_oldest_unsent_age_seconds") == 0
	})
	for name, least := range map[string]float64{
		"tracker_sync_published_total": 200, "tracker_sync_confirmed_total": 200, "tracker_sync_connected": 1,
		"tracker_sync_publish_duration_seconds": 1, "tracker_sync_confirm_duration_seconds": 1,
		"tracker_sync_last_success_timestamp_seconds": float64(start.Unix()),
	} {
		if v := e.metric(t, name); v < least {
			t.Errorf("%s = %v after the backlog drained, want at least %v", name, v, least)
		}
	}
}
