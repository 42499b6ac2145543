package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgetrace/edgetrace/tracker/epcisgen"
	"github.com/edgetrace/edgetrace/tracker/internal/brokertest"
)

// startNode runs `tracker <args>` and waits for /readyz.
func startNode(t *testing.T, args []string, env ...string) *proc {
	t.Helper()
	bin, err := buildTracker()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, append(args, "--listen", addr)...)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, logs: &logs}
	t.Cleanup(func() { // a test that failed before stopping it
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v not ready after 10s: %v\n%s", args, err, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func (p *proc) term(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("%v exit after SIGTERM: %v\n%s", p.cmd.Args, err, p.logs.String())
	}
}

// eventKeys reads a store's event keys through a read-only connection, which
// SQLite's WAL lets run beside the node's own writer.
func eventKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT event_id || '#' || is_declaration FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]int{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys[k]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSyncSurvivesSIGKILL kills the edge while it publishes and the hub
// while it consumes, at random moments, restarting each on the same store;
// then the hub's event set must equal the edge's, with zero duplicates.
// Each reaches the broker through a Toxiproxy whose latency keeps confirms
// and deliveries in flight, so that every kill lands mid-work (checked).
func TestSyncSurvivesSIGKILL(t *testing.T) {
	brokertest.Require(t)
	rng := brokertest.Seed(t)
	var b [4]byte
	rand.Read(b[:])
	queue := "test.sigkill." + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := amqp091.Dial(brokertest.URL(brokertest.Addr()))
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			ch.QueueDelete(queue, false, false, false)
			ch.QueueDelete(queue+".rejected", false, false, false)
		}
	})
	edgeLink, hubLink := brokertest.NewProxy(t, "edge-kill"), brokertest.NewProxy(t, "hub-kill")
	for _, p := range []*brokertest.Proxy{edgeLink, hubLink} {
		p.AddToxic("slow", "latency", "downstream", map[string]any{"latency": 100})
	}
	dir := t.TempDir()
	edgeDB, hubDB := filepath.Join(dir, "edge.db"), filepath.Join(dir, "hub.db")
	edgeArgs := []string{"serve", "--db", edgeDB, "--site", "edge-kill", "--amqp", edgeLink.URL(), "--amqp-queue", queue}
	hubArgs := []string{"hub", "--db", hubDB, "--amqp", hubLink.URL(), "--amqp-queue", queue}
	env := []string{"sync_enabled=true", "sync_interval=500ms"}

	hubP := startNode(t, hubArgs, env...)
	edgeP := startNode(t, edgeArgs, env...)
	var mu sync.Mutex // guards edgeP across restarts
	client := &http.Client{Timeout: 5 * time.Second}
	gen := epcisgen.New(epcisgen.Config{Seed: rng.Uint64()})
	// stream captures until stopped; a request cut by a kill is simply not
	// acknowledged (the edge store, not the client, is the truth checked).
	stream := func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			base := edgeP.base
			mu.Unlock()
			resp, err := client.Post(base+"/capture", "application/json", bytes.NewReader(gen.Document(100)))
			if err == nil {
				resp.Body.Close()
			}
		}
	}
	t0 := time.Now()
	midPublish, midConsume := 0, 0
	for round := range 4 {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); stream(stop) }()
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		// The kill must land mid-work: the edge with publishes awaiting
		// confirms, the hub with events the edge has sent that it has not
		// stored (in the queue or in its prefetch window). Sample until so.
		// (edgeP is read here without mu: this goroutine is its only writer.)
		var inflight float64
		var sent, atHub int
		var consuming, busy bool
		for deadline := time.Now().Add(5 * time.Second); !busy && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if round%2 == 0 {
				m := scrape(t, edgeP.base)
				inflight = max(m["tracker_sync_published_total"]-m["tracker_sync_confirmed_total"], 0)
				busy = inflight > 0
				continue
			}
			// The edge first: what it has sent only grows, so what the hub
			// lacks is not overstated by captures made in between.
			sent = countRows(t, edgeDB, `SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL`)
			atHub = countRows(t, hubDB, `SELECT count(*) FROM events`)
			consuming = scrape(t, hubP.base)["tracker_hub_connected"] == 1
			busy = consuming && sent > atHub
		}
		if round%2 == 0 {
			t.Logf("round %d at %s: killing the edge with %.0f publishes awaiting confirms",
				round, time.Since(t0).Round(time.Millisecond), inflight)
		} else {
			t.Logf("round %d at %s: killing the hub (consuming %v) with %d of the edge's %d sent events stored",
				round, time.Since(t0).Round(time.Millisecond), consuming, atHub, sent)
		}
		if round%2 == 0 {
			midPublish += min(int(inflight), 1)
			mu.Lock()
			edgeP.kill(t)
			edgeP = startNode(t, edgeArgs, env...)
			mu.Unlock()
		} else {
			if busy {
				midConsume++
			}
			hubP.kill(t)
			hubP = startNode(t, hubArgs, env...)
		}
		close(stop)
		<-done
	}
	if midPublish < 2 || midConsume < 2 {
		t.Errorf("not every kill landed mid-work (edge mid-publish %d of 2, hub mid-consume %d of 2)", midPublish, midConsume)
	}
	want := eventKeys(t, edgeDB)
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]int
	for {
		got = eventKeys(t, hubDB)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("synced at %s", time.Since(t0).Round(time.Millisecond))
	edgeP.term(t)
	hubP.term(t)
	got = eventKeys(t, hubDB)
	var missing, extra, dup int
	for k := range want {
		if got[k] == 0 {
			missing++
		}
	}
	for k, c := range got {
		if want[k] == 0 {
			extra++
		}
		if c > 1 {
			dup++
		}
	}
	if missing+extra+dup > 0 || len(want) == 0 {
		t.Fatalf("hub set != edge set: %d edge events, %d at hub, %d missing, %d extra, %d duplicated\nedge log tail:\n%s",
			len(want), len(got), missing, extra, dup, tail(edgeP.logs.String(), 2000))
	}
	t.Logf("4 SIGKILLs (%d of 2 edge kills mid-publish, %d of 2 hub kills mid-consume): hub holds exactly the edge's %d events, no duplicates",
		midPublish, midConsume, len(want))
}

func countRows(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestServeWithBrokerUnreachable: an edge whose broker is down, or that has
// none configured, must start, be ready, capture and answer, and say in
// /healthz and /metrics that its events are not synced.
func TestServeWithBrokerUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// what /healthz says once the 20 events wait
		settled func(state, lastError string) bool
	}{
		{"broker down", []string{"--amqp", "amqp://guest:guest@" + freeAddr(t) + "/"}, // nothing listens there
			func(_, lastError string) bool { return lastError != "" }},
		{"no broker configured", nil,
			func(state, _ string) bool { return state == "no broker configured" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startNode(t, append([]string{"serve", "--db", filepath.Join(t.TempDir(), "e.db"), "--site", "offline"}, tc.args...),
				// An empty TRACKER_AMQP_URL overrides one the test runs with.
				"sync_enabled=true", "sync_interval=200ms", "TRACKER_AMQP_URL=")
			defer p.term(t)
			resp, err := http.Post(p.base+"/capture", "application/json", bytes.NewReader(epcisgen.New(epcisgen.Config{Seed: 3}).Document(20)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 202 {
				t.Fatalf("capture without a broker = %d, want 202", resp.StatusCode)
			}
			var health struct {
				Status string `json:"status"`
				Sync   struct {
					State       string `json:"state"`
					Connected   bool   `json:"connected"`
					OutboxDepth int64  `json:"outboxDepth"`
					LastError   string `json:"lastError"`
				} `json:"sync"`
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp, err := http.Get(p.base + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				err = json.NewDecoder(resp.Body).Decode(&health)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("/healthz = %d, %v; want 200 with JSON detail", resp.StatusCode, err)
				}
				if health.Sync.OutboxDepth == 20 && tc.settled(health.Sync.State, health.Sync.LastError) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/healthz sync detail %+v: want 20 unsent events and why", health.Sync)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if health.Sync.Connected {
				t.Errorf("/healthz says connected to a broker that does not exist")
			}
			resp, err = http.Get(p.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(metrics), "\ntracker_sync_outbox_depth 20\n") {
				t.Errorf("/metrics has no tracker_sync_outbox_depth 20")
			}
			resp, err = http.Get(p.base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("/readyz without a broker = %d; readiness must not depend on the broker", resp.StatusCode)
			}
		})
	}
}

// scrape reads the unlabelled samples of the node at base's /metrics.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			samples[name] = f
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	return samples
}
