package amqp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// DefaultQueue is the queue edges publish to and the hub consumes from.
const DefaultQueue = "tracker.events"

// Message headers. The body is the event's JSON; MessageId is its eventID.
const (
	HeaderSite      = "site_id"        // the edge site that captured the event
	HeaderSchema    = "schema_version" // EPCIS schema version of the body
	HeaderDedupeKey = "dedupe_key"     // eventID, suffixed for an error declaration
	SchemaVersion   = "2.0"
)

const (
	// DefaultHeartbeat bounds how long a silent partition (packets dropped,
	// no RST) goes unnoticed: amqp091-go closes the connection when nothing
	// arrived for 1.5 heartbeat intervals.
	DefaultHeartbeat = 5 * time.Second
	minBackoff       = 100 * time.Millisecond
)

// RejectedQueue is where the hub dead-letters deliveries it can never store
// (undecodable, or an eventID stored with other content), so that a poison
// message is kept for inspection instead of being redelivered forever.
func RejectedQueue(queue string) string { return queue + ".rejected" }

// activeHubQueue is the exclusive queue that the hub consuming queue holds
// (see Consumer); it never carries a message.
func activeHubQueue(queue string) string { return queue + ".active-hub" }

// declare declares the queues both sides use, with identical arguments (a
// mismatch would fail with PRECONDITION_FAILED). Quorum queues replicate
// and fsync before confirming; durable and non-exclusive so messages wait
// for a hub that is down.
func declare(ch *amqp091.Channel, queue string) error {
	if _, err := ch.QueueDeclare(RejectedQueue(queue), true, false, false, false,
		amqp091.Table{"x-queue-type": "quorum"}); err != nil {
		return fmt.Errorf("declare queue %s: %w", RejectedQueue(queue), err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp091.Table{
		"x-queue-type":              "quorum",
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": RejectedQueue(queue),
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	return nil
}

// dial opens a connection whose handshake cannot hang on a dead link
// (DefaultDial's deadline) and whose heartbeats detect a silent one later.
func dial(rawURL, name string, heartbeat time.Duration) (*amqp091.Connection, error) {
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp091.DialConfig(rawURL, amqp091.Config{
		Heartbeat:  heartbeat,
		Dial:       amqp091.DefaultDial(dialTimeout(heartbeat)),
		Properties: props,
		Locale:     "en_US",
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", Redact(rawURL), err)
	}
	return conn, nil
}

// dialTimeout bounds TCP connect plus the AMQP handshake. Before the
// handshake there are no heartbeats, so on a link that swallows packets this
// deadline is the only thing that ends the attempt; it scales with the
// heartbeat (the operator's statement of how slow the link may be).
func dialTimeout(heartbeat time.Duration) time.Duration {
	return min(max(2*heartbeat, 2*time.Second), 30*time.Second)
}

// CheckURL refuses a broker URL that no dial can succeed with (unparseable,
// a scheme other than amqp or amqps, a port out of range), naming it without
// its password: start-up fails at once instead of a worker retrying for ever.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return errors.New("unparseable URL (percent-encode @, #, / and : in the user name and password)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s: port %q out of range", Redact(rawURL), p)
		}
	}
	if _, err := amqp091.ParseURI(rawURL); err != nil {
		return fmt.Errorf("%s: %v", Redact(rawURL), strings.ReplaceAll(err.Error(), rawURL, Redact(rawURL)))
	}
	return nil
}

// Redact returns the broker URL without its password, for logs and health.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// backoff is capped exponential backoff with jitter, so a fleet of edges
// that lost the broker together does not reconnect in lockstep.
type backoff struct {
	max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = minBackoff
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	// ±25 % jitter, but never past the cap, which the configuration
	// documents as the longest wait.
	return min(b.cur*3/4+rand.N(b.cur/2+1), b.max)
}

func (b *backoff) reset() { b.cur = 0 }
