//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type latency struct {
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace"`
	N         int     `json:"n"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
}

// TestAdmissionLatency measures what the full bundle adds to admission: the
// same compliant Pods and Deployments are created server-side (dry run: the
// whole admission chain, webhook included, runs; storage does not) in a
// governed namespace and in an exempt one, interleaved so that drift in the
// machine's load hits both alike. The figures go to latency.json; with
// E2E_LATENCY_BUDGET_MS set, an added P99 above it fails the test.
func TestAdmissionLatency(t *testing.T) {
	ctx := context.Background()
	n := 300
	if v, err := strconv.Atoi(os.Getenv("E2E_LATENCY_N")); err == nil && v > 0 {
		n = v
	}
	gov := namespace(t, "e2e-latency", governed())
	exempt := namespace(t, "e2e-latency-exempt", nil)
	var results []latency
	for _, kind := range []string{"Pod", "Deployment"} {
		obj := compliantOf(t, kind, "e2e-latency")
		samples := map[string][]time.Duration{}
		for i := -n / 10; i < n; i++ { // the first tenth warms caches and connections
			for _, ns := range []string{gov, exempt} {
				o := obj.DeepCopy()
				o.SetNamespace(ns)
				r, err := env.client.Resource(o)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, err = r.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				d := time.Since(start)
				if err != nil {
					t.Fatalf("%s in %s: %v", kind, ns, err)
				}
				if i >= 0 {
					samples[ns] = append(samples[ns], d)
				}
			}
		}
		for _, ns := range []string{gov, exempt} {
			results = append(results, summarize(kind, ns, samples[ns]))
		}
	}
	raw, _ := json.MarshalIndent(results, "", "  ")
	_ = os.WriteFile(filepath.Join(env.artifacts, "latency.json"), raw, 0o644)
	budget, _ := strconv.ParseFloat(os.Getenv("E2E_LATENCY_BUDGET_MS"), 64)
	for i := 0; i < len(results); i += 2 {
		g, e := results[i], results[i+1]
		line := fmt.Sprintf("%s (n=%d): governed p50 %.2f ms p99 %.2f ms; exempt p50 %.2f ms p99 %.2f ms; added p50 %+.2f ms p99 %+.2f ms",
			g.Kind, g.N, g.P50ms, g.P99ms, e.P50ms, e.P99ms, g.P50ms-e.P50ms, g.P99ms-e.P99ms)
		t.Log(line)
		fmt.Fprintln(os.Stderr, "e2e: latency:", line)
		if budget > 0 && g.P99ms-e.P99ms > budget {
			t.Errorf("%s: bundle adds %.2f ms at P99, budget %.2f ms", g.Kind, g.P99ms-e.P99ms, budget)
		}
	}
}

func summarize(kind, ns string, d []time.Duration) latency {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) float64 {
		i := int(p*float64(len(d))+0.5) - 1
		i = max(0, min(i, len(d)-1))
		return float64(d[i].Microseconds()) / 1000
	}
	return latency{Kind: kind, Namespace: ns, N: len(d), P50ms: pct(0.50), P99ms: pct(0.99)}
}
