package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetrace/edgetrace/tracker"
)

// link is what a Worker and a Consumer share: the state of their broker
// session and the loop that keeps one up for as long as they run.
type link struct {
	mu         sync.Mutex // guards these fields and the owner's own state
	connected  bool
	standby    bool // the last session found another node doing the work
	lastErr    string
	reconnects uint64
}

// errStandby ends a session that found another node doing the work (a
// second hub on the queue): retrying is the plan, not a fault to warn about.
var errStandby = errors.New("standing by")

// keepUp runs session until ctx is done, reconnecting with a backoff capped
// at maxBackoff for as long as it takes (there is no retry limit: an edge
// may be offline for days). A session that came up and lasted maxBackoff
// resets the backoff, so a connection dropped after a while is retried soon;
// one that fails as soon as it is up (a broker refusing every publish) backs
// off like a failed dial instead of reconnecting ten times a second. Only a
// closed store (EUNAVAILABLE) ends the loop with an error, named after role.
func (l *link) keepUp(ctx context.Context, role string, maxBackoff time.Duration, log *slog.Logger,
	reconnects prometheus.Counter, session func(context.Context) (bool, error)) error {
	bo := backoff{max: max(maxBackoff, minBackoff)}
	for {
		start := time.Now()
		connected, err := session(ctx)
		standby := errors.Is(err, errStandby)
		l.mu.Lock()
		l.connected, l.standby = false, standby
		if err != nil {
			l.lastErr = err.Error()
		}
		l.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if tracker.ErrorCode(err) == tracker.EUNAVAILABLE {
			return fmt.Errorf("%s: %w", role, err) // the store closed under us
		}
		if connected && time.Since(start) >= bo.max {
			bo.reset()
		}
		d := bo.next()
		if standby {
			log.Info("standing by; retrying", "err", err, "retry_in", d.String())
		} else {
			log.Warn("broker session ended; reconnecting", "err", err, "retry_in", d.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		if standby {
			continue // polling for the work, not recovering from a fault
		}
		reconnects.Inc()
		l.mu.Lock()
		l.reconnects++
		l.mu.Unlock()
	}
}
