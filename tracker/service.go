package tracker

import (
	"context"
	"encoding/json"
	"time"
)

// CaptureJob reports one accepted capture (EPCIS "capture job"). Captures are
// synchronous: a job exists only once its events are durably committed, so
// every job a client can see has Running=false and Success=true.
type CaptureJob struct {
	ID          string    `json:"captureID"`
	CreatedAt   time.Time `json:"createdAt"`
	FinishedAt  time.Time `json:"finishedAt"`
	Running     bool      `json:"running"`
	Success     bool      `json:"success"`
	Behaviour   string    `json:"captureErrorBehaviour"`
	EventCount  int       `json:"eventCount"`  // events in the request
	StoredCount int       `json:"storedCount"` // events newly stored; the rest were identical resends
	Errors      []string  `json:"errors"`
}

// CaptureService stores events.
type CaptureService interface {
	// Capture stores every event atomically and durably: when it returns nil
	// the events (and their outbox rows) survive a crash; when it returns an
	// error nothing of the request was stored. An event whose dedupe key is
	// already stored with the same content is skipped (idempotent resend).
	//
	// Returns ECONFLICT if an eventID is already stored (or repeated in the
	// request) with different content, EUNAVAILABLE if the store is closing.
	Capture(ctx context.Context, events []*Event) (*CaptureJob, error)

	// CaptureJob returns the job with the given ID, or ENOTFOUND.
	CaptureJob(ctx context.Context, id string) (*CaptureJob, error)
}

// StoredEvent is an event as a query returns it: the raw JSON with eventID
// and recordTime filled in.
type StoredEvent struct {
	ID         string
	RecordTime time.Time
	JSON       json.RawMessage
}

// EventPage is one page of query results.
type EventPage struct {
	Events []StoredEvent
	// NextPageToken continues the query; empty on the last page.
	NextPageToken string
}

// EventService answers event queries.
type EventService interface {
	// Event returns the event with the given eventID. When an error
	// declaration for it exists, the declaration (which carries the corrected
	// event's content plus errorDeclaration) is returned. Returns ENOTFOUND.
	Event(ctx context.Context, id string) (*StoredEvent, error)

	// Events returns the events matching q, one page at a time. Returns
	// EINVALID for a bad page token.
	Events(ctx context.Context, q EventQuery) (*EventPage, error)
}

// Placement is what the tracker knows about one EPC from its own events.
type Placement struct {
	EPC         string    `json:"epc"`
	BizLocation string    `json:"bizLocation,omitempty"`
	ReadPoint   string    `json:"readPoint,omitempty"`
	Disposition string    `json:"disposition,omitempty"`
	BizStep     string    `json:"bizStep,omitempty"`
	EventTime   time.Time `json:"eventTime"`
	EventID     string    `json:"eventID"`
	// The times of the events that set each field, which may be older than
	// EventTime: a later event that does not say leaves the field as it was
	// (a later event without bizLocation does not move the EPC).
	BizLocationTime time.Time `json:"-"`
	ReadPointTime   time.Time `json:"-"`
	DispositionTime time.Time `json:"-"`
	BizStepTime     time.Time `json:"-"`
	Parent          string    `json:"-"`
}

// Location answers "where is this EPC now". The top-level fields are the
// effective answer: each one comes from the newest event among the EPC and
// the containers it is packed in (bizLocation holds until a newer event
// contradicts it). Parents lists the containment chain, innermost first.
type Location struct {
	EPC         string      `json:"epc"`
	BizLocation string      `json:"bizLocation,omitempty"`
	ReadPoint   string      `json:"readPoint,omitempty"`
	Disposition string      `json:"disposition,omitempty"`
	BizStep     string      `json:"bizStep,omitempty"`
	EventTime   time.Time   `json:"eventTime"`
	EventID     string      `json:"eventID"`
	Source      string      `json:"source"` // the EPC whose event gave bizLocation (the item or a parent)
	Parents     []Placement `json:"parents"`
}

// TrackingService answers current-state lookups.
type TrackingService interface {
	// Location returns where epc is now. Returns ENOTFOUND if no event names
	// it, EUNAVAILABLE when tracking is disabled.
	Location(ctx context.Context, epc string) (*Location, error)
}

// Resolve builds the effective Location from the EPC's own placement and its
// containment chain (innermost first). It is shared by stores so the
// "newest wins, fields hold until contradicted" rule lives in one place.
func Resolve(self Placement, parents []Placement) *Location {
	loc := &Location{EPC: self.EPC, Parents: parents}
	if loc.Parents == nil {
		loc.Parents = []Placement{}
	}
	// Newest event first; on equal times the innermost (the item itself) wins.
	chain := make([]Placement, 0, 1+len(parents))
	chain = append(chain, self)
	chain = append(chain, parents...)
	newest := func(get func(Placement) string, at func(Placement) time.Time) (string, Placement) {
		var best Placement
		found := false
		for _, p := range chain {
			if get(p) == "" {
				continue
			}
			if !found || at(p).After(at(best)) {
				best, found = p, true
			}
		}
		return get(best), best
	}
	var src Placement
	loc.BizLocation, src = newest(func(p Placement) string { return p.BizLocation },
		func(p Placement) time.Time { return p.BizLocationTime })
	loc.Source = src.EPC
	loc.ReadPoint, _ = newest(func(p Placement) string { return p.ReadPoint },
		func(p Placement) time.Time { return p.ReadPointTime })
	loc.Disposition, _ = newest(func(p Placement) string { return p.Disposition },
		func(p Placement) time.Time { return p.DispositionTime })
	loc.BizStep, _ = newest(func(p Placement) string { return p.BizStep },
		func(p Placement) time.Time { return p.BizStepTime })
	last := self
	for _, p := range parents {
		if p.EventTime.After(last.EventTime) {
			last = p
		}
	}
	loc.EventTime, loc.EventID = last.EventTime, last.EventID
	if loc.Source == "" {
		loc.Source = self.EPC
	}
	return loc
}
