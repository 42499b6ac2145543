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

// ConsumerOptions configure a Consumer. URL and Store are required.
type ConsumerOptions struct {
	URL   string
	Queue string // default DefaultQueue
	// Store receives the events. It must be idempotent on the dedupe key
	// (tracker.CaptureService's contract): redeliveries and re-publishes
	// are normal and must not become second rows.
	Store tracker.CaptureService
	// Prefetch is the window of unacked deliveries. Default 4000.
	Prefetch int
	// BatchSize bounds the events stored in one commit. Default 2000.
	BatchSize int
	// Heartbeat is the AMQP heartbeat; default DefaultHeartbeat.
	Heartbeat time.Duration
	// MaxBackoff caps the reconnect backoff, and so bounds how long a hub
	// standing by (another consumes the queue) takes to notice that the
	// active one is gone. Default 10s.
	MaxBackoff time.Duration
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Consumer stores deliveries from the sync queue, acking each only after the
// store committed it.
type Consumer struct {
	o   ConsumerOptions
	log *slog.Logger
	m   consumerMetrics

	link         // guarded by link.mu, with:
	lastConsumed time.Time
	lockLost     time.Time // when this hub's last session, holding the active-hub queue, ended
}

type consumerMetrics struct {
	events      *prometheus.CounterVec
	sites       *prometheus.CounterVec
	batch       prometheus.Histogram
	redelivered prometheus.Counter
	reconnects  prometheus.Counter
}

// HubState is the consumer's state as /healthz shows it.
type HubState struct {
	Broker    string `json:"broker"`
	Queue     string `json:"queue"`
	Connected bool   `json:"connected"`
	// Standby: another hub consumes the queue; this one takes over when
	// that one's connection goes.
	Standby      bool      `json:"standby,omitempty"`
	LastConsumed time.Time `json:"lastConsumed,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
	Reconnects   uint64    `json:"reconnects"`
}

// NewConsumer returns a Consumer; it does not connect until Run.
func NewConsumer(o ConsumerOptions) *Consumer {
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 4000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2000
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{o: o, log: o.Log.With("component", "hub")}
	c.m = consumerMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tracker_hub_events_total",
			Help: "Deliveries by outcome: stored (new), duplicate (already stored) or rejected (dead-lettered)."}, []string{"result"}),
		sites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tracker_hub_site_deliveries_total",
			Help: "Deliveries committed, by the edge site that captured them."}, []string{"site"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tracker_hub_commit_duration_seconds",
			Help: "Time to store one batch of deliveries durably.", Buckets: syncBuckets}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_hub_redelivered_total", Help: "Deliveries the broker flagged as redelivered."}),
		reconnects:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tracker_hub_reconnects_total", Help: "Broker sessions started after a failed or lost one."}),
	}
	if r := o.Registerer; r != nil {
		r.MustRegister(c.m.events, c.m.sites, c.m.batch, c.m.redelivered, c.m.reconnects,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_hub_connected", Help: "1 while a broker session is up."},
				func() float64 {
					if c.State().Connected {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_hub_standby", Help: "1 while another hub consumes the queue and this one waits to take over."},
				func() float64 {
					if c.State().Standby {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tracker_hub_last_consumed_timestamp_seconds", Help: "Unix time of the last committed batch."},
				func() float64 {
					c.mu.Lock()
					defer c.mu.Unlock()
					if c.lastConsumed.IsZero() {
						return 0
					}
					return float64(c.lastConsumed.UnixNano()) / 1e9
				}))
	}
	return c
}

// State returns the consumer's current state.
func (c *Consumer) State() HubState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return HubState{Broker: Redact(c.o.URL), Queue: c.o.Queue, Connected: c.connected, Standby: c.standby,
		LastConsumed: c.lastConsumed, LastError: c.lastErr, Reconnects: c.reconnects}
}

// Run consumes until ctx is done, reconnecting for as long as it takes.
// Deliveries not yet acked when it returns are redelivered to the next run.
func (c *Consumer) Run(ctx context.Context) error {
	return c.keepUp(ctx, "hub", c.o.MaxBackoff, c.log, c.m.reconnects, c.session)
}

func (c *Consumer) session(ctx context.Context) (bool, error) {
	conn, err := dial(c.o.URL, "tracker-hub", c.o.Heartbeat)
	if err != nil {
		return false, err
	}
	defer conn.CloseDeadline(time.Now().Add(2 * time.Second))
	connClosed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	// One hub consumes the queue at a time: a second would take every
	// other delivery into a store of its own, each hub then missing part of
	// every site. basic.consume's exclusive flag cannot ensure it (quorum
	// queues ignore it), nor single active consumer (a queue argument, which
	// an existing queue refuses to change), so the hubs elect the active one
	// with an exclusive queue: one connection at a time may hold it, and the
	// broker deletes it when that connection closes or its heartbeats stop.
	// The others stand by, retrying with the reconnect backoff.
	lock := activeHubQueue(c.o.Queue)
	if _, err := ch.QueueDeclare(lock, false, false, true, false, amqp091.Table{"x-queue-type": "classic"}); err != nil {
		var e *amqp091.Error
		switch {
		case errors.As(err, &e) && e.Code == amqp091.ResourceLocked:
			c.mu.Lock()
			lost := c.lockLost
			c.mu.Unlock()
			if !lost.IsZero() && time.Since(lost) < 3*c.o.Heartbeat {
				// Likely our own lost connection, which the broker drops
				// once it misses its heartbeats: recovering, not standing by.
				return false, fmt.Errorf("%s still held, likely by this hub's lost connection: %w", lock, err)
			}
			return false, fmt.Errorf("%s is held by another connection (another hub, or this one's previous), %w: %w", lock, errStandby, err)
		case errors.As(err, &e) && e.Code == amqp091.AccessRefused:
			return false, fmt.Errorf("the hub's broker user may not declare %s, which elects the one hub that consumes: grant it configure permission on that queue: %w", lock, err)
		}
		return false, fmt.Errorf("declare queue %s: %w", lock, err)
	}
	if err := declare(ch, c.o.Queue); err != nil {
		return false, err
	}
	if err := ch.Qos(c.o.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.Consume(c.o.Queue, "", false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", c.o.Queue, err)
	}
	c.mu.Lock()
	c.connected, c.standby, c.lastErr = true, false, ""
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.lockLost = time.Now()
		c.mu.Unlock()
	}()
	c.log.Info("broker session up", "broker", Redact(c.o.URL), "queue", c.o.Queue)

	batch := make([]amqp091.Delivery, 0, c.o.BatchSize)
	gap := time.NewTimer(batchGap)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case e := <-connClosed:
			if e == nil {
				return true, errors.New("broker connection closed")
			}
			return true, fmt.Errorf("broker connection lost: %w", e)
		case d, ok := <-deliveries:
			if !ok {
				return true, errors.New("delivery channel closed")
			}
			// Take whatever else arrives without a pause: batches grow with
			// the load (one commit, one fsync, for up to BatchSize events),
			// and an idle hub waits at most batchGap before storing.
			batch = append(batch[:0], d)
		fill:
			for len(batch) < c.o.BatchSize {
				select {
				case d, ok := <-deliveries:
					if !ok {
						break fill
					}
					batch = append(batch, d)
					continue
				default:
				}
				// amqp091-go hands deliveries over one at a time through an
				// unbuffered channel, so "none ready this instant" often
				// means "the next is a few microseconds away".
				gap.Reset(batchGap)
				select {
				case d, ok := <-deliveries:
					if !ok {
						break fill
					}
					batch = append(batch, d)
				case <-gap.C:
					break fill
				}
			}
			if err := c.store(ch, batch); err != nil {
				return true, err
			}
		}
	}
}

// batchGap is how long a batch waits for one more delivery.
const batchGap = 2 * time.Millisecond

// store commits a batch and then settles every delivery in it. A batch the
// store cannot take for a transient reason is left unacked and the session
// ends, so the broker redelivers it.
func (c *Consumer) store(ch *amqp091.Channel, batch []amqp091.Delivery) error {
	events := make([]*tracker.Event, 0, len(batch))
	good := make([]amqp091.Delivery, 0, len(batch))
	for _, d := range batch {
		if d.Redelivered {
			c.m.redelivered.Inc()
		}
		ev, err := decodeDelivery(d)
		if err != nil {
			if err := c.reject(ch, d, err); err != nil {
				return err
			}
			continue
		}
		events = append(events, ev)
		good = append(good, d)
	}
	if len(events) == 0 {
		return nil
	}
	// The commit must finish once begun even if the hub is stopping: the
	// acks after it are what make the work count.
	ctx := context.Background()
	t0 := time.Now()
	job, err := c.o.Store.Capture(ctx, events)
	switch tracker.ErrorCode(err) {
	case "":
		c.m.batch.Observe(time.Since(t0).Seconds())
		c.count(good, job.StoredCount)
		if err := ch.Ack(good[len(good)-1].DeliveryTag, true); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	case tracker.ECONFLICT, tracker.EINVALID:
		// One event poisons the all-or-nothing batch: store one by one so
		// only the culprit is dead-lettered.
		for i, ev := range events {
			job, err := c.o.Store.Capture(ctx, []*tracker.Event{ev})
			switch tracker.ErrorCode(err) {
			case "":
				c.count(good[i:i+1], job.StoredCount)
				if err := ch.Ack(good[i].DeliveryTag, false); err != nil {
					return fmt.Errorf("ack: %w", err)
				}
			case tracker.ECONFLICT, tracker.EINVALID:
				if err := c.reject(ch, good[i], err); err != nil {
					return err
				}
			default:
				return fmt.Errorf("store event %s: %w", ev.ID, err)
			}
		}
	default:
		return fmt.Errorf("store batch: %w", err)
	}
	c.mu.Lock()
	c.lastConsumed = time.Now()
	c.mu.Unlock()
	return nil
}

func (c *Consumer) count(ds []amqp091.Delivery, stored int) {
	c.m.events.WithLabelValues("stored").Add(float64(stored))
	c.m.events.WithLabelValues("duplicate").Add(float64(len(ds) - stored))
	for _, d := range ds {
		// Sites are few (one per edge), so the label stays bounded.
		c.m.sites.WithLabelValues(site(d)).Inc()
	}
}

func (c *Consumer) reject(ch *amqp091.Channel, d amqp091.Delivery, why error) error {
	c.log.Error("dead-lettering a delivery the hub cannot store", "message_id", d.MessageId,
		"site", site(d), "err", why, "queue", RejectedQueue(c.o.Queue))
	c.m.events.WithLabelValues("rejected").Inc()
	if err := ch.Nack(d.DeliveryTag, false, false); err != nil {
		return fmt.Errorf("nack: %w", err)
	}
	return nil
}

func site(d amqp091.Delivery) string {
	s, _ := d.Headers[HeaderSite].(string)
	return s
}

// decodeDelivery validates a delivery as the edge's API validated the
// event, and checks that its ID and dedupe key agree with the headers, so a
// body that was altered or mislabelled is caught rather than stored.
func decodeDelivery(d amqp091.Delivery) (*tracker.Event, error) {
	if v, _ := d.Headers[HeaderSchema].(string); v != SchemaVersion {
		return nil, fmt.Errorf("schema version %q, want %q", v, SchemaVersion)
	}
	ev, err := tracker.DecodeEvent(d.Body)
	if err != nil {
		return nil, err
	}
	if ev.ID != d.MessageId {
		return nil, fmt.Errorf("body eventID %q differs from message ID %q", ev.ID, d.MessageId)
	}
	if k, _ := d.Headers[HeaderDedupeKey].(string); k != ev.DedupeKey() {
		return nil, fmt.Errorf("body dedupe key %q differs from header %q", ev.DedupeKey(), k)
	}
	return ev, nil
}
