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

// ColdStart measures, runs times for each command, the time from exec to the
// first 200 from /readyz. A command is a binary and its arguments, to which
// --listen and a free loopback port are added. The commands take turns (one
// run of each per round), so a machine that slows down mid-measurement
// slows them alike and they can be compared. Each run is stopped with
// SIGTERM and awaited before the next, so a database is closed cleanly
// between runs, as after a pod restart. ColdStart returns one slice of
// durations per command, in order.
func ColdStart(ctx context.Context, runs int, cmds ...[]string) ([][]time.Duration, error) {
	if runs < 1 || len(cmds) == 0 {
		return nil, fmt.Errorf("cold start: want at least one run of at least one command, got %d runs of %d", runs, len(cmds))
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	out := make([][]time.Duration, len(cmds))
	for i := range runs {
		for j, argv := range cmds {
			d, err := startOnce(ctx, client, argv)
			if err != nil {
				return nil, fmt.Errorf("cold start of %s, run %d: %w", argv[0], i, err)
			}
			out[j] = append(out[j], d)
		}
	}
	return out, nil
}

func startOnce(ctx context.Context, client *http.Client, argv []string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, argv[0], append(slices.Clone(argv[1:]), "--listen", addr)...)
	var logs bytes.Buffer
	cmd.Stderr = &logs // shown only if the run fails
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			return 0, fmt.Errorf("exited before it was ready (%v):\n%s", err, logs.String())
		default:
		}
		if time.Since(start) > 10*time.Second {
			cmd.Process.Kill()
			<-exited
			return 0, fmt.Errorf("not ready after 10s:\n%s", logs.String())
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		// Poll tightly: the figure is in milliseconds and a sleep would
		// dominate it. A refused connection costs microseconds.
		time.Sleep(200 * time.Microsecond)
	}
	ready := time.Since(start)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return 0, fmt.Errorf("exit after SIGTERM: %w\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		return 0, fmt.Errorf("still running 30s after SIGTERM:\n%s", logs.String())
	}
	return ready, nil
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
