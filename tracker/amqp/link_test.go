package amqp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestKeepUpBacksOffFromSessionsThatFailAtOnce: a session that connects and
// fails at once (a broker refusing every publish) must not reset the
// backoff, or keepUp reconnects about ten times a second for ever; one that
// lasted the backoff cap does reset it, so a long session's drop is retried
// soon.
func TestKeepUpBacksOffFromSessionsThatFailAtOnce(t *testing.T) {
	const maxBackoff = 400 * time.Millisecond
	run := func(sessionLength time.Duration, window time.Duration) (starts []time.Time) {
		var l link
		ctx, cancel := context.WithTimeout(context.Background(), window)
		defer cancel()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		err := l.keepUp(ctx, "test", maxBackoff, quiet, prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}),
			func(ctx context.Context) (bool, error) {
				starts = append(starts, time.Now())
				select {
				case <-time.After(sessionLength):
				case <-ctx.Done():
				}
				return true, errors.New("broker nacked a publish")
			})
		if err != nil {
			t.Fatal(err)
		}
		return starts
	}
	// Waits 100, 200, 400, 400 ms (±25 %): about 5 sessions in 1.5 s;
	// resetting after each, 12 or more.
	if n := len(run(0, 1500*time.Millisecond)); n > 7 {
		t.Errorf("%d sessions in 1.5 s from a broker failing each at once, want at most 7 (backing off)", n)
	}
	// Sessions lasting the cap: every retry comes after the first step (≤ 125 ms).
	starts := run(maxBackoff, 2500*time.Millisecond)
	if len(starts) < 3 {
		t.Fatalf("%d sessions, want ≥ 3", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]) - maxBackoff; gap > 200*time.Millisecond {
			t.Errorf("retry %d after a session that lasted the cap waited %s, want ≤ 125 ms", i, gap.Round(time.Millisecond))
		}
	}
}

// TestBackoffStaysWithinItsCap: sync_interval is documented as the longest
// wait between reconnects, jitter included.
func TestBackoffStaysWithinItsCap(t *testing.T) {
	const limit = 10 * time.Second
	b := backoff{max: limit}
	var longest time.Duration
	for range 10_000 {
		longest = max(longest, b.next())
	}
	if longest > limit {
		t.Errorf("longest wait %s, above the cap %s", longest, limit)
	}
	if longest < limit*3/4 {
		t.Errorf("longest wait %s: the backoff never grew to near its cap %s", longest, limit)
	}
}
