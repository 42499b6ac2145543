package amqp

import (
	"context"
	"fmt"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// HeaderReplays counts how often a message was moved back from the rejected
// queue, so a message that keeps failing is recognisable.
const HeaderReplays = "replays"

// replayBatch is how many messages are in flight between the two queues.
const replayBatch = 256

// Replay moves the messages waiting in queue's rejected queue back to
// queue, for the hub to try again once what made it reject them is fixed (a
// hub upgraded to the schema a newer edge publishes, say). Each message keeps
// its body, ID and headers, less the broker's dead-letter history. A message
// leaves the rejected queue only after the broker confirmed its copy in
// queue, so a replay cut short loses nothing; at worst a message is then in
// both queues, which the hub's idempotent store absorbs.
//
// Replay moves at most the messages present when it starts, and at most
// limit if limit > 0: one that the hub rejects again while the replay runs
// is not moved a second time. It returns how many it moved.
func Replay(ctx context.Context, url, queue string, limit int) (int, error) {
	if queue == "" {
		queue = DefaultQueue
	}
	conn, err := dial(url, "tracker-replay", DefaultHeartbeat)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	if err := declare(ch, queue); err != nil {
		return 0, err
	}
	rejected := RejectedQueue(queue)
	q, err := ch.QueueDeclarePassive(rejected, true, false, false, false, amqp091.Table{"x-queue-type": "quorum"})
	if err != nil {
		return 0, fmt.Errorf("inspect %s: %w", rejected, err)
	}
	todo := q.Messages
	if limit > 0 {
		todo = min(todo, limit)
	}
	if err := ch.Confirm(false); err != nil {
		return 0, fmt.Errorf("confirm mode: %w", err)
	}
	// Mandatory publishes come back if queue vanished meanwhile; without
	// that, the broker would confirm a message it dropped.
	returns := ch.NotifyReturn(make(chan amqp091.Return, replayBatch))
	moved := 0
	for moved < todo {
		n, err := replayOnce(ctx, ch, returns, rejected, queue, min(replayBatch, todo-moved))
		moved += n
		if err != nil {
			return moved, err
		}
		if n == 0 {
			break // emptied meanwhile (another replay, or a consumer)
		}
	}
	return moved, nil
}

// replayOnce moves up to n messages and returns how many it moved. The
// batch is taken unacked, published with confirms, and acked in the
// rejected queue only when every copy is confirmed; otherwise it is
// returned to the rejected queue whole.
func replayOnce(ctx context.Context, ch *amqp091.Channel, returns <-chan amqp091.Return, from, to string, n int) (int, error) {
	var got []amqp091.Delivery
	for len(got) < n {
		d, ok, err := ch.Get(from, false)
		if err != nil {
			return 0, fmt.Errorf("get from %s: %w", from, err)
		}
		if !ok {
			break
		}
		got = append(got, d)
	}
	if len(got) == 0 {
		return 0, nil
	}
	giveBack := func(cause error) (int, error) {
		if err := ch.Nack(got[len(got)-1].DeliveryTag, true, true); err != nil {
			return 0, fmt.Errorf("%w (and returning the batch to %s: %v)", cause, from, err)
		}
		return 0, cause
	}
	confirms := make([]*amqp091.DeferredConfirmation, 0, len(got))
	for _, d := range got {
		c, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", to, true, false, replayed(d))
		if err != nil {
			return giveBack(fmt.Errorf("publish %s to %s: %w", d.MessageId, to, err))
		}
		confirms = append(confirms, c)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, c := range confirms {
		ok, err := c.WaitContext(wctx)
		if err != nil {
			return giveBack(fmt.Errorf("confirm of %s: %w", got[i].MessageId, err))
		}
		if !ok {
			return giveBack(fmt.Errorf("broker refused %s in %s", got[i].MessageId, to))
		}
	}
	// The broker sends a return before the confirm of the same message.
	select {
	case r := <-returns:
		return giveBack(fmt.Errorf("%s returned by the broker: %s", r.MessageId, r.ReplyText))
	default:
	}
	if err := ch.Ack(got[len(got)-1].DeliveryTag, true); err != nil {
		// The copies are in place; the originals come back to the rejected
		// queue when the channel closes. Replaying them again is harmless.
		return 0, fmt.Errorf("ack in %s: %w", from, err)
	}
	return len(got), nil
}

// replayed is d as it is published again.
func replayed(d amqp091.Delivery) amqp091.Publishing {
	h := amqp091.Table{}
	for k, v := range d.Headers {
		// x-death and x-first/last-death-*: the broker's record of the
		// rejection, which it writes afresh if the message dies again.
		if k == "x-death" || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-") {
			continue
		}
		h[k] = v
	}
	n, _ := h[HeaderReplays].(int32)
	h[HeaderReplays] = n + 1
	return amqp091.Publishing{
		Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: amqp091.Persistent, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Type: d.Type, AppId: d.AppId, Body: d.Body,
	}
}
