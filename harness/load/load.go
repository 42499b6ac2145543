// Package load drives a running tracker over HTTP and reports throughput and
// latency percentiles. It measures open loop with vegeta
// (github.com/tsenart/vegeta/v12): at a fixed rate, requests leave on
// schedule whether or not earlier ones have answered, so a slow server shows
// up as latency instead of silently lowering the offered load (coordinated
// omission). Rate 0 means flat out with a bounded number of workers.
//
// Scenarios:
//   - location: GET /epcs/{epc}/location for random EPCs of the preloaded flows
//   - capture:  POST /capture with EventsPerDoc-event documents of new flows
//   - event:    POST /events with single events of new flows
//
// The flows come from tracker/epcisgen with a seed, so "location" looks up
// EPCs that a "capture" run with the same seed stored.
package load

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/edgetrace/edgetrace/harness/cluster/proc"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// Config describes one run.
type Config struct {
	BaseURL  string // e.g. http://127.0.0.1:8080
	Scenario string // location, capture, event
	// Rate is requests per second; 0 drives flat out with Workers in flight.
	Rate     int
	Duration time.Duration
	Workers  int // in-flight bound for Rate 0 (default 32)
	// Events caps the events a capture/event run sends (0: until Duration).
	Events       int
	EventsPerDoc int    // capture: events per document (default 100)
	Seed         uint64 // generator seed; location uses the EPCs this seed produces
	// PreloadEvents is how many events of Seed's flows are stored; location
	// draws EPCs only from those (default 1,000,000).
	PreloadEvents int
	// EPCSeed seeds the random choice of EPCs.
	EPCSeed uint64
	// NoEventIDs leaves eventID out of captured events, so the tracker
	// assigns content hashes: random keys in its eventID index, where the
	// generator's own IDs are sequential.
	NoEventIDs bool
	// FirstFlow starts a capture/event run's flows past that many earlier
	// ones (see epcisgen.Config.FirstFlow): past the preload's, it captures
	// new items instead of moving the preloaded ones.
	FirstFlow int
	// ServerPID, if set, is the server's process: the run then reports the
	// CPU time it and this process (the load generator) spent, which on a
	// machine they share tells what a rate costs each of them.
	ServerPID int
}

// Result is a run's outcome.
type Result struct {
	Scenario   string
	Rate       int
	Requests   uint64
	Duration   time.Duration
	Throughput float64 // successful requests per second
	EventsPerS float64 // capture scenarios: events stored per second
	P50, P99   time.Duration
	P999, Max  time.Duration
	Success    float64
	Codes      map[string]int
	Errors     []string
	// ServerPID is Config.ServerPID. ServerCPU and ClientCPU are the CPU
	// time (user plus system) that process and this one spent during the
	// run, when ServerPID is set.
	ServerPID            int
	ServerCPU, ClientCPU time.Duration
}

func (r *Result) String() string {
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%d/s", r.Rate)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario=%s rate=%s requests=%d duration=%s throughput=%.0f/s", r.Scenario, rate, r.Requests, r.Duration.Round(time.Millisecond), r.Throughput)
	if r.EventsPerS > 0 {
		fmt.Fprintf(&b, " events=%.0f/s", r.EventsPerS)
	}
	fmt.Fprintf(&b, " p50=%s p99=%s p999=%s max=%s success=%.2f%% codes=%v",
		ms(r.P50), ms(r.P99), ms(r.P999), ms(r.Max), r.Success*100, r.Codes)
	if r.ServerPID > 0 && r.Requests > 0 {
		perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(r.Requests) }
		fmt.Fprintf(&b, " server_cpu=%.1fus/req (%.2f cores) client_cpu=%.1fus/req (%.2f cores)",
			perReq(r.ServerCPU), r.ServerCPU.Seconds()/r.Duration.Seconds(),
			perReq(r.ClientCPU), r.ClientCPU.Seconds()/r.Duration.Seconds())
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, " errors=%q", r.Errors[:min(3, len(r.Errors))])
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// LocationPaths returns n request paths /epcs/{epc}/location for EPCs drawn
// at random from the first preload events of seed's flows.
func LocationPaths(seed uint64, preload, n int, pick uint64) []string {
	g := epcisgen.New(epcisgen.Config{Seed: seed, KeepEPCs: true})
	// Generate exactly the preloaded events; EPCs leaves out the flow the
	// preload cut short.
	for range preload {
		g.Next()
	}
	epcs := g.EPCs()
	if len(epcs) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(pick, pick+1))
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/epcs/" + url.PathEscape(epcs[rng.IntN(len(epcs))]) + "/location"
	}
	return paths
}

// Run performs the load described by cfg.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.EventsPerDoc <= 0 {
		cfg.EventsPerDoc = 100
	}
	if cfg.FirstFlow < 0 {
		return nil, fmt.Errorf("load: first flow %d: want 0 or more", cfg.FirstFlow)
	}
	if cfg.PreloadEvents <= 0 {
		cfg.PreloadEvents = 1_000_000
	}
	if cfg.ServerPID < 0 {
		return nil, fmt.Errorf("load: server PID %d: want a process ID", cfg.ServerPID)
	}
	if cfg.ServerPID > 0 { // fail before the paths take seconds to build
		if _, err := proc.CPUTime(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("load: server: %w", err)
		}
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if _, err := url.Parse(base); err != nil || base == "" {
		return nil, fmt.Errorf("load: base URL %q: want http://host:port", cfg.BaseURL)
	}
	var targeter vegeta.Targeter
	perRequest := 1
	switch cfg.Scenario {
	case "location":
		paths := LocationPaths(cfg.Seed, cfg.PreloadEvents, 200_000, cfg.EPCSeed+1)
		if len(paths) == 0 {
			return nil, fmt.Errorf("load: seed %d with %d preload events yields no EPCs", cfg.Seed, cfg.PreloadEvents)
		}
		var i uint64
		var mu sync.Mutex
		targeter = func(t *vegeta.Target) error {
			mu.Lock()
			p := paths[i%uint64(len(paths))]
			i++
			mu.Unlock()
			t.Method, t.URL, t.Body, t.Header = http.MethodGet, base+p, nil, nil
			return nil
		}
	case "capture", "event":
		g := epcisgen.New(epcisgen.Config{Seed: cfg.Seed, NoEventIDs: cfg.NoEventIDs, FirstFlow: cfg.FirstFlow})
		per := cfg.EventsPerDoc
		path := "/capture"
		if cfg.Scenario == "event" {
			per, path = 1, "/events"
		}
		perRequest = per
		sent := 0
		var mu sync.Mutex
		hdr := http.Header{"Content-Type": {"application/json"}}
		targeter = func(t *vegeta.Target) error {
			// Generation happens under the lock so documents leave in flow
			// order (the server tolerates reordering, but keep it realistic).
			mu.Lock()
			defer mu.Unlock()
			if cfg.Events > 0 && sent >= cfg.Events {
				return vegeta.ErrNoTargets
			}
			n := per
			if cfg.Events > 0 {
				n = min(n, cfg.Events-sent)
			}
			sent += n
			var body []byte
			if cfg.Scenario == "event" {
				body, _ = json.Marshal(g.Next()) // plain strings: cannot fail
			} else {
				body = g.Document(n)
			}
			t.Method, t.URL, t.Body, t.Header = http.MethodPost, base+path, body, hdr
			return nil
		}
	default:
		return nil, fmt.Errorf("load: unknown scenario %q (want location, capture or event)", cfg.Scenario)
	}

	// Connections are capped but never closed for being idle: with fewer
	// idle slots than open connections, every burst opened new ones and
	// closing the surplus left the kernel searching thousands of TIME_WAIT
	// ports on each bind.
	conns := cfg.Workers * 4
	opts := []func(*vegeta.Attacker){vegeta.MaxBody(0)}
	if cfg.Scenario == "location" {
		// Many small requests: fasthttp halves the generator's CPU (see
		// fastTransport).
		opts = append(opts, vegeta.Client(&http.Client{Transport: newFastTransport(conns, 30*time.Second)}))
	} else {
		// A hundred large documents a second: the transport's cost does
		// not matter, and the server kept up better with net/http's
		// (9.6-9.9k against 8.3-8.5k events/s over four interleaved runs,
		// for reasons not pinned down).
		opts = append(opts, vegeta.KeepAlive(true), vegeta.Connections(conns), vegeta.MaxConnections(conns), vegeta.Timeout(30*time.Second))
	}
	rate := vegeta.Rate{Freq: cfg.Rate, Per: time.Second}
	if cfg.Rate == 0 {
		opts = append(opts, vegeta.Workers(uint64(cfg.Workers)), vegeta.MaxWorkers(uint64(cfg.Workers)))
	} else {
		// Enough workers that the schedule never waits for a free one; the
		// bound only matters if the server stalls for seconds.
		opts = append(opts, vegeta.Workers(uint64(cfg.Workers)), vegeta.MaxWorkers(uint64(max(cfg.Workers, cfg.Rate/5))))
	}
	atk := vegeta.NewAttacker(opts...)
	dur := cfg.Duration
	if dur <= 0 && cfg.Events == 0 {
		return nil, fmt.Errorf("load: give a duration or an event count")
	}
	var cpu0 cpuTimes
	if cfg.ServerPID > 0 {
		var err error
		if cpu0, err = readCPU(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	var m vegeta.Metrics
	results := atk.Attack(targeter, rate, dur, cfg.Scenario)
	done := ctx.Done()
loop:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break loop
			}
			if r.Code == 0 && r.Error == vegeta.ErrNoTargets.Error() {
				continue // the event budget is spent: an end marker, not a request
			}
			m.Add(r)
		case <-done:
			atk.Stop()
			done = nil
		}
	}
	m.Close()
	res := &Result{
		Scenario: cfg.Scenario, Rate: cfg.Rate, Requests: m.Requests, Duration: m.Duration + m.Wait,
		Throughput: m.Throughput, P50: m.Latencies.P50, P99: m.Latencies.P99,
		P999: m.Latencies.Quantile(0.999), Max: m.Latencies.Max, Success: m.Success,
		Codes: m.StatusCodes, Errors: m.Errors,
	}
	if perRequest > 1 || cfg.Scenario == "event" {
		res.EventsPerS = m.Throughput * float64(perRequest)
	}
	if cfg.ServerPID > 0 {
		res.ServerPID = cfg.ServerPID
		// A server gone by now (it crashed under the load) loses the CPU
		// figures, not the latencies.
		if cpu1, err := readCPU(cfg.ServerPID); err != nil {
			res.Errors = append(res.Errors, err.Error())
		} else {
			res.ServerCPU, res.ClientCPU = cpu1.server-cpu0.server, cpu1.client-cpu0.client
		}
	}
	return res, nil
}

type cpuTimes struct{ server, client time.Duration }

// readCPU reads the CPU time so far of the server and of this process.
func readCPU(serverPID int) (cpuTimes, error) {
	server, err := proc.CPUTime(serverPID)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("server: %w", err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}, fmt.Errorf("own cpu time: %w", err)
	}
	return cpuTimes{server, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}, nil
}
