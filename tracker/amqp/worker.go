package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgetrace/edgetrace/tracker"
)

// WorkerOptions configure a Worker. URL and Outbox are required.
type WorkerOptions struct {
	URL    string
	Queue  string // default DefaultQueue
	Site   string // sent in the site_id header
	Outbox tracker.Outbox
	// Interval is sync_interval: how often an idle worker polls the outbox
	// (new captures also wake it at once through Notify) and the cap on the
	// reconnect backoff. Default 10s.
	Interval time.Duration
	// Heartbeat is the AMQP heartbeat; default DefaultHeartbeat.
	Heartbeat time.Duration
	// BatchSize is how many outbox records one read takes. Default 500.
	BatchSize int
	// MaxInFlight bounds publishes awaiting a confirm. Default 1000.
	MaxInFlight int
	// Retention is how long sent records stay in the outbox (for audit and
	// resend by hand) before they are pruned. Default 24h.
	Retention  time.Duration
	Registerer prometheus.Registerer // default: no metrics registered
	Log        *slog.Logger
}

// Worker publishes the outbox to the broker. Create it with NewWorker, run
// it with Run, and call Notify after each capture commit.
type Worker struct {
	o      WorkerOptions
	log    *slog.Logger
	notify chan struct{}
	m      workerMetrics

	link            // guarded by link.mu, with:
	blocked  string // the broker's reason while it blocks publishing
	lastSync time.Time
	stats    tracker.OutboxStats
	statsAt  time.Time
}

// SyncState is the worker's state as /healthz shows it.
type SyncState struct {
	Broker             string    `json:"broker"`
	Queue              string    `json:"queue"`
	Connected          bool      `json:"connected"`
	Blocked            string    `json:"blocked,omitempty"` // why the broker blocks publishing (an alarm)
	OutboxDepth        int64     `json:"outboxDepth"`
	OldestUnsentAgeSec float64   `json:"oldestUnsentAgeSeconds"`
	LastSuccessfulSync time.Time `json:"lastSuccessfulSync,omitzero"`
	LastError          string    `json:"lastError,omitempty"`
	Reconnects         uint64    `json:"reconnects"`
}

type workerMetrics struct {
	publish, confirm     prometheus.Histogram
	published, confirmed prometheus.Counter
	nacked, reconnects   prometheus.Counter
}

// syncBuckets span a loopback confirm (sub-millisecond) to a slow WAN link.
var syncBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewWorker returns a Worker; it does not connect until Run.
func NewWorker(o WorkerOptions) *Worker {
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1000
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{o: o, log: o.Log.With("component", "sync"), notify: make(chan struct{}, 1)}
	w.m = workerMetrics{
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tracker_sync_publish_duration_seconds",
			Help: "Time to hand one event to the broker connection (publish call).", Buckets: syncBuckets}),
		confirm: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tracker_sync_confirm_duration_seconds",
			Help: "Time from publish until the broker's positive confirm is taken in, in publish order: it includes waiting behind earlier confirms being recorded in the outbox.", Buckets: syncBuckets}),
		published:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_sync_published_total", Help: "Events published (including re-publishes after a reconnect)."}),
		confirmed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_sync_confirmed_total", Help: "Events positively confirmed by the broker."}),
		nacked:     prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_sync_nacked_total", Help: "Publishes nacked or returned by the broker; they are re-published."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_sync_reconnects_total", Help: "Broker sessions started after a failed or lost one."}),
	}
	if r := o.Registerer; r != nil {
		r.MustRegister(w.m.publish, w.m.confirm, w.m.published, w.m.confirmed, w.m.nacked, w.m.reconnects,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_sync_outbox_depth", Help: "Captured events not yet confirmed by the broker."},
				func() float64 { return float64(w.outboxStats().Depth) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_sync_oldest_unsent_age_seconds", Help: "Age of the oldest event not yet confirmed by the broker; 0 when none."},
				func() float64 { return oldestAge(w.outboxStats()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_sync_connected", Help: "1 while a broker session is up."},
				func() float64 {
					if w.State().Connected {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_sync_last_success_timestamp_seconds", Help: "Unix time of the last batch the broker confirmed and the outbox recorded."},
				func() float64 {
					w.mu.Lock()
					defer w.mu.Unlock()
					if w.lastSync.IsZero() {
						return 0
					}
					return float64(w.lastSync.UnixNano()) / 1e9
				}),
		)
	}
	return w
}

func oldestAge(st tracker.OutboxStats) float64 {
	if st.Depth == 0 || st.OldestUnsent.IsZero() {
		return 0
	}
	return time.Since(st.OldestUnsent).Seconds()
}

// Notify tells the worker that new outbox records were committed. It never
// blocks: capture calls it on the store's writer goroutine.
func (w *Worker) Notify() {
	select {
	case w.notify <- struct{}{}:
	default: // a wake-up is already pending; it will see these records too
	}
}

// State returns the worker's current state.
func (w *Worker) State() SyncState {
	st := w.outboxStats()
	w.mu.Lock()
	defer w.mu.Unlock()
	return SyncState{
		Broker: Redact(w.o.URL), Queue: w.o.Queue, Connected: w.connected, Blocked: w.blocked,
		OutboxDepth: st.Depth, OldestUnsentAgeSec: oldestAge(st),
		LastSuccessfulSync: w.lastSync, LastError: w.lastErr, Reconnects: w.reconnects,
	}
}

// outboxStats counts the outbox at most once a second: the count is
// O(depth), and metrics scrapes and health checks may come often.
func (w *Worker) outboxStats() tracker.OutboxStats {
	w.mu.Lock()
	if time.Since(w.statsAt) < time.Second {
		st := w.stats
		w.mu.Unlock()
		return st
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := w.o.Outbox.OutboxStats(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.stats, w.statsAt = st, time.Now()
	}
	return w.stats
}

// Run syncs until ctx is done, reconnecting for as long as it takes. It
// returns nil after ctx is done; records published but not yet confirmed
// then stay unsent and are published again by the next run (the hub
// deduplicates them).
func (w *Worker) Run(ctx context.Context) error {
	go w.pruneLoop(ctx)
	return w.keepUp(ctx, "sync", w.o.Interval, w.log, w.m.reconnects, w.session)
}

// errStopped ends a session because Run's context is done.
var errStopped = errors.New("stopped")

type inflightMsg struct {
	seq  int64
	dc   *amqp091.DeferredConfirmation
	sent time.Time
}

// session runs one broker connection: it publishes every unsent record from
// the oldest on, then follows new captures, until the connection fails. It
// reports whether the connection came up.
func (w *Worker) session(ctx context.Context) (bool, error) {
	conn, err := dial(w.o.URL, "tracker-edge "+w.o.Site, w.o.Heartbeat)
	if err != nil {
		return false, err
	}
	// CloseDeadline, not Close: on a link that died silently Close would
	// wait for a close-ok that never comes.
	defer conn.CloseDeadline(time.Now().Add(2 * time.Second))
	// A broker under a memory or disk alarm stops reading from publishers,
	// and a publish blocked writing to the socket does not watch ctx: past
	// the shutdown's drain window, cut the connection under it, or SIGTERM
	// would wait for the alarm to clear.
	ended := make(chan struct{})
	defer close(ended)
	defer context.AfterFunc(ctx, func() {
		select {
		case <-ended:
		case <-time.After(shutdownDrain + time.Second):
			conn.CloseDeadline(time.Now())
		}
	})()
	go w.watchBlocked(conn.NotifyBlocked(make(chan amqp091.Blocking, 1)))
	connClosed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	if err := declare(ch, w.o.Queue); err != nil {
		return false, err
	}
	if err := ch.Confirm(false); err != nil {
		return false, fmt.Errorf("confirm mode: %w", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	// Returns come before the ack of the same message, and the reader
	// goroutine must never block on this channel (it would stop reading
	// acks), hence room for every message in flight.
	returns := ch.NotifyReturn(make(chan amqp091.Return, w.o.MaxInFlight+1))
	w.mu.Lock()
	w.connected, w.lastErr = true, ""
	w.mu.Unlock()
	w.log.Info("broker session up", "broker", Redact(w.o.URL), "queue", w.o.Queue)

	// drain ends the confirm loop's waiting: at once when the session
	// fails, shortly after a shutdown (to record confirms already on the way).
	drain, stopDrain := context.WithCancel(context.Background())
	defer stopDrain()
	inflight := make(chan inflightMsg, w.o.MaxInFlight)
	confirmDone := make(chan error, 1)
	go func() { confirmDone <- w.confirmLoop(drain, inflight, returns, ch.IsClosed) }()
	fail := func(err error) (bool, error) {
		close(inflight)
		stopDrain()
		if cerr := <-confirmDone; err == nil {
			err = cerr
		}
		return true, err
	}
	closedErr := func(e *amqp091.Error) error {
		if e == nil {
			return errors.New("broker connection closed")
		}
		return fmt.Errorf("broker connection lost: %w", e)
	}

	var after int64 // the highest seq handed to the broker this session
	timer := time.NewTimer(w.o.Interval)
	defer timer.Stop()
	for {
		recs, err := w.o.Outbox.PendingOutbox(ctx, after, w.o.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fail(err)
		}
		for _, r := range recs {
			t0 := time.Now()
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", w.o.Queue, true, false, amqp091.Publishing{
				ContentType:  "application/json",
				DeliveryMode: amqp091.Persistent,
				MessageId:    r.EventID,
				Timestamp:    r.CreatedAt,
				Type:         "epcis.event",
				Headers: amqp091.Table{
					HeaderSite: w.o.Site, HeaderSchema: SchemaVersion, HeaderDedupeKey: r.DedupeKey,
				},
				Body: r.Payload,
			})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fail(fmt.Errorf("publish event %s: %w", r.EventID, err))
			}
			w.m.publish.Observe(time.Since(t0).Seconds())
			w.m.published.Inc()
			select {
			case inflight <- inflightMsg{seq: r.Seq, dc: dc, sent: t0}:
			case err := <-confirmDone:
				confirmDone <- err // fail reads it again
				return fail(nil)
			case e := <-connClosed:
				return fail(closedErr(e))
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			after = r.Seq
		}
		if ctx.Err() != nil {
			break
		}
		if len(recs) == w.o.BatchSize {
			continue // more is waiting: keep the pipeline full
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(w.o.Interval)
		select {
		case <-w.notify:
		case <-timer.C:
		case err := <-confirmDone:
			confirmDone <- err
			return fail(nil)
		case e := <-connClosed:
			return fail(closedErr(e))
		case e := <-chClosed:
			return fail(closedErr(e))
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	// Shutting down: give confirms already on the way a moment to arrive so
	// their records are not published again by the next run.
	close(inflight)
	t := time.AfterFunc(shutdownDrain, stopDrain)
	defer t.Stop()
	if err := <-confirmDone; err != nil && !errors.Is(err, context.Canceled) {
		w.log.Warn("confirms after shutdown", "err", err)
	}
	return true, nil
}

// shutdownDrain is how long a session that is shutting down waits for the
// confirms of what it published.
const shutdownDrain = 2 * time.Second

// watchBlocked keeps the broker's flow-control state (connection.blocked:
// a memory or disk alarm) for /healthz until the connection closes.
func (w *Worker) watchBlocked(blocked <-chan amqp091.Blocking) {
	for b := range blocked {
		w.mu.Lock()
		w.blocked = ""
		if b.Active {
			w.blocked = b.Reason
		}
		w.mu.Unlock()
		if b.Active {
			w.log.Warn("broker blocks publishing", "reason", b.Reason)
		} else {
			w.log.Info("broker unblocked publishing")
		}
	}
	w.mu.Lock()
	w.blocked = ""
	w.mu.Unlock()
}

// confirmLoop waits for confirms in publish order and marks confirmed
// records sent, in batches. It stops at the first nack, return or error:
// everything after it is published again by the next session.
//
// closed reports whether the channel has shut down: amqp091-go settles
// every confirm still pending then as not acked, which is a lost session,
// not the broker refusing a message, and is counted as such.
func (w *Worker) confirmLoop(ctx context.Context, inflight <-chan inflightMsg, returns <-chan amqp091.Return, closed func() bool) error {
	const flushEvery = 500
	acked := make([]int64, 0, flushEvery)
	flush := func() error {
		if len(acked) == 0 {
			return nil
		}
		// Not ctx: confirms already received must be recorded even when the
		// session is being torn down, or they are sent twice.
		mctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.o.Outbox.MarkOutboxSent(mctx, acked); err != nil {
			return err
		}
		w.m.confirmed.Add(float64(len(acked)))
		w.mu.Lock()
		w.lastSync = time.Now()
		w.statsAt = time.Time{} // depth changed: recount on next read
		w.mu.Unlock()
		acked = acked[:0]
		return nil
	}
	for m := range inflight {
		ok, err := m.dc.WaitContext(ctx)
		if err != nil {
			return errors.Join(fmt.Errorf("wait for confirm: %w", err), flush())
		}
		select {
		case r, ok := <-returns:
			// Unroutable (the queue was deleted under us): the ack that
			// follows a return does not mean the message is stored. A
			// closed channel (the session ending) holds no return: one
			// comes before its ack and would have been read first.
			if ok {
				w.m.nacked.Inc()
				return errors.Join(fmt.Errorf("broker returned event %s: %d %s", r.MessageId, r.ReplyCode, r.ReplyText), flush())
			}
		default:
		}
		if !ok {
			if closed() {
				return errors.Join(fmt.Errorf("channel closed with publishes unconfirmed (outbox record %d and after)", m.seq), flush())
			}
			w.m.nacked.Inc()
			return errors.Join(errors.New("broker nacked a publish"), flush())
		}
		w.m.confirm.Observe(time.Since(m.sent).Seconds())
		acked = append(acked, m.seq)
		if len(acked) >= flushEvery || len(inflight) == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// pruneLoop deletes sent records past the retention, hourly.
func (w *Worker) pruneLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := w.o.Outbox.PruneOutbox(ctx, time.Now().Add(-w.o.Retention))
			if err != nil && ctx.Err() == nil {
				w.log.Warn("prune outbox", "err", err)
			} else if n > 0 {
				w.log.Info("pruned outbox", "records", n)
			}
		}
	}
}
