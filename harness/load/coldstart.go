package load

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// ColdStart runs bin with args (plus --listen on a free port) runs times and
// returns, per run, the time from exec to the first 200 from /readyz. Each
// run is stopped with SIGTERM and awaited before the next, so the database is
// closed cleanly between runs, as after a pod restart.
func ColdStart(ctx context.Context, bin string, args []string, runs int) ([]time.Duration, error) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var out []time.Duration
	for i := range runs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.CommandContext(ctx, bin, append(slices.Clone(args), "--listen", addr)...)
		var logs bytes.Buffer
		cmd.Stderr = &logs // shown only if the run fails
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("cold start run %d: %w", i, err)
		}
		var ready time.Duration
		for ready == 0 {
			if time.Since(start) > 10*time.Second {
				cmd.Process.Kill()
				cmd.Wait()
				return nil, fmt.Errorf("cold start run %d: not ready after 10s:\n%s", i, logs.String())
			}
			resp, err := client.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = time.Since(start)
					break
				}
			}
			// Poll tightly: the figure is in milliseconds and a sleep would
			// dominate it. A refused connection costs microseconds.
			time.Sleep(200 * time.Microsecond)
		}
		out = append(out, ready)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("cold start run %d: exit after SIGTERM: %w\n%s", i, err, logs.String())
		}
	}
	return out, nil
}

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
