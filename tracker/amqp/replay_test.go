package amqp_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/edgetrace/edgetrace/tracker"
	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
	"github.com/edgetrace/edgetrace/tracker/epcisgen"
)

// TestReplayRejected follows a rejected message's whole path: the hub
// dead-letters what it cannot store, and Replay moves the rejected queue's
// messages back, after which the hub stores the good ones and dead-letters
// the bad one again, exactly once.
func TestReplayRejected(t *testing.T) {
	requireBroker(t)
	q := queueName(t)
	h := newHub(t, q)
	waitFor(t, 10*time.Second, "a connected hub (it declares the queues)", func() bool { return h.consumer.State().Connected })
	ch := brokerChannel(t)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	depth := func(name string) int {
		qi, err := ch.QueueDeclarePassive(name, true, false, false, false, amqp091.Table{"x-queue-type": "quorum"})
		if err != nil {
			t.Fatalf("inspect %s: %v", name, err)
		}
		return qi.Messages
	}
	publish := func(queue string, p amqp091.Publishing) {
		t.Helper()
		c, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, true, false, p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.WaitContext(context.Background()); !ok || err != nil {
			t.Fatalf("publish to %s: confirmed %v, %v", queue, ok, err)
		}
	}
	event := func(schema string) (amqp091.Publishing, string) {
		raw, err := json.Marshal(epcisgen.New(epcisgen.Config{Seed: uint64(len(schema))}).Next())
		if err != nil {
			t.Fatal(err)
		}
		ev, err := tracker.DecodeEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		return amqp091.Publishing{
			ContentType: "application/json", DeliveryMode: amqp091.Persistent, MessageId: ev.ID, Body: ev.Raw,
			Headers: amqp091.Table{trackeramqp.HeaderSite: "site-a", trackeramqp.HeaderSchema: schema, trackeramqp.HeaderDedupeKey: ev.DedupeKey()},
		}, ev.ID
	}
	rejected := trackeramqp.RejectedQueue(q)

	// A schema this hub does not know goes to the rejected queue, not to the
	// store, and is not redelivered forever.
	future, futureID := event("9.9")
	publish(q, future)
	waitFor(t, 10*time.Second, "the unknown schema dead-lettered", func() bool { return depth(rejected) == 1 })
	// An event an older hub rejected, which this one can store.
	good, goodID := event(trackeramqp.SchemaVersion)
	publish(rejected, good)

	moved, err := trackeramqp.Replay(context.Background(), amqpURL(brokerAddr()), q, 0)
	if err != nil {
		t.Fatal(err)
	}
	if moved != 2 {
		t.Fatalf("Replay moved %d messages, want 2", moved)
	}
	waitFor(t, 10*time.Second, "the good event stored", func() bool {
		keys, _ := eventSet(t, h.store)
		return len(keys) == 1 && keys[0] == goodID+"#0"
	})
	waitFor(t, 10*time.Second, "the unknown schema dead-lettered again", func() bool { return depth(rejected) == 1 })
	d, ok, err := ch.Get(rejected, true)
	if err != nil || !ok {
		t.Fatalf("get from %s: %v, %v", rejected, ok, err)
	}
	if d.MessageId != futureID || string(d.Body) != string(future.Body) {
		t.Errorf("rejected queue holds %s, want %s unchanged", d.MessageId, futureID)
	}
	if n, _ := d.Headers[trackeramqp.HeaderReplays].(int32); n != 1 {
		t.Errorf("%s header = %v, want 1", trackeramqp.HeaderReplays, d.Headers[trackeramqp.HeaderReplays])
	}
	if site, _ := d.Headers[trackeramqp.HeaderSite].(string); site != "site-a" {
		t.Errorf("site header = %q after the replay, want site-a", site)
	}

	// Nothing left: a second replay moves nothing, and a limit is a limit.
	if moved, err := trackeramqp.Replay(context.Background(), amqpURL(brokerAddr()), q, 0); err != nil || moved != 0 {
		t.Errorf("replay of an empty rejected queue: moved %d, %v", moved, err)
	}
	for range 3 {
		publish(rejected, future)
	}
	if moved, err := trackeramqp.Replay(context.Background(), amqpURL(brokerAddr()), q, 2); err != nil || moved != 2 {
		t.Errorf("replay with limit 2: moved %d, %v", moved, err)
	}
}
