package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	trackeramqp "github.com/edgetrace/edgetrace/tracker/amqp"
)

// replayRejected moves the hub's dead-lettered messages back to the sync
// queue once whatever made the hub reject them is fixed.
func replayRejected(args []string, getenv func(string) string) error {
	url, queue := getenv("TRACKER_AMQP_URL"), getenv("TRACKER_AMQP_QUEUE")
	if queue == "" {
		queue = trackeramqp.DefaultQueue
	}
	fs := flag.NewFlagSet("replay-rejected", flag.ContinueOnError)
	fs.StringVar(&url, "amqp", url, "RabbitMQ URL (env TRACKER_AMQP_URL); required")
	fs.StringVar(&queue, "amqp-queue", queue, "the sync queue; its rejected queue is <queue>.rejected (env TRACKER_AMQP_QUEUE)")
	limit := fs.Int("limit", 0, "move at most this many messages (0: all that are waiting)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: tracker replay-rejected --amqp URL [--amqp-queue QUEUE] [--limit N]

Moves the messages the hub dead-lettered (<queue>.rejected) back to the sync
queue, for the hub to try again: run it once the cause is fixed, e.g. after
upgrading a hub that rejected a newer edge's schema version. The hub logs why
it rejected each message. A message the hub rejects again returns to the
rejected queue with its "replays" header counted up.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("replay-rejected: unexpected arguments %q", fs.Args())
	case url == "":
		return errors.New("replay-rejected: --amqp (TRACKER_AMQP_URL): required")
	case *limit < 0:
		return fmt.Errorf("replay-rejected: --limit=%d: want 0 (all) or a positive count", *limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	moved, err := trackeramqp.Replay(ctx, url, queue, *limit)
	if err != nil {
		return fmt.Errorf("replay-rejected: %d moved before: %w", moved, err)
	}
	fmt.Printf("moved %d messages from %s back to %s\n", moved, trackeramqp.RejectedQueue(queue), queue)
	return nil
}
