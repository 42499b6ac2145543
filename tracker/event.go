package tracker

import (
	"encoding/json"
	"strings"
	"time"
)

// EventType is the EPCIS 2.0 event type, as it appears in the "type" member.
type EventType string

// The five EPCIS 2.0 event types.
const (
	ObjectEvent         EventType = "ObjectEvent"
	AggregationEvent    EventType = "AggregationEvent"
	TransformationEvent EventType = "TransformationEvent"
	AssociationEvent    EventType = "AssociationEvent"
	TransactionEvent    EventType = "TransactionEvent"
)

// Valid reports whether t is one of the five EPCIS event types.
func (t EventType) Valid() bool {
	switch t {
	case ObjectEvent, AggregationEvent, TransformationEvent, AssociationEvent, TransactionEvent:
		return true
	}
	return false
}

// Action is an event's action: what it means for the EPCs it names.
type Action string

// The EPCIS actions.
const (
	ActionAdd     Action = "ADD"
	ActionObserve Action = "OBSERVE"
	ActionDelete  Action = "DELETE"
)

// Valid reports whether a is ADD, OBSERVE or DELETE.
func (a Action) Valid() bool {
	return a == ActionAdd || a == ActionObserve || a == ActionDelete
}

// Event is one captured EPCIS event. The typed fields are the ones the tracker
// indexes and reasons about; Raw is the event exactly as received (plus the
// eventID when the server assigned it), so extensions, sensor data, ILMD and
// every field the tracker does not model come back unchanged.
type Event struct {
	ID             string
	Type           EventType
	Time           time.Time
	TimeZoneOffset string
	Action         Action // empty for TransformationEvent

	BizStep     string // CBV bare word when the input used a CBV URI
	Disposition string
	ReadPoint   string
	BizLocation string

	ParentID   string
	EPCs       []string // epcList, or childEPCs of aggregation/association/transaction events
	InputEPCs  []string
	OutputEPCs []string
	Classes    []string // epcClass of every quantity element, inputs and outputs included

	// ErrorDeclaration is set when the event declares an earlier event (with the
	// same eventID) erroneous. Such an event is stored next to the one it
	// corrects, never instead of it: see DedupeKey.
	ErrorDeclaration *ErrorDeclaration

	// ContentHash identifies the event's content, independent of its eventID and
	// recordTime; a resend with the same ID and hash is a duplicate, with the
	// same ID and another hash a conflict.
	ContentHash string

	// Pointer locates the event in the request it came from
	// ("/epcisBody/eventList/3" or ""), so store errors can name it.
	Pointer string

	Raw json.RawMessage
}

// ErrorDeclaration is the errorDeclaration member of an event.
type ErrorDeclaration struct {
	DeclarationTime    time.Time
	Reason             string
	CorrectiveEventIDs []string
}

// DedupeKey is the key under which the event is unique. An error declaration
// reuses the eventID of the event it corrects (EPCIS 2.0 §7.4.1.2), so it gets
// a distinct key; sync consumers must dedupe on this key, not on ID.
func (e *Event) DedupeKey() string {
	return DedupeKey(e.ID, e.ErrorDeclaration != nil)
}

// DedupeKey is Event.DedupeKey for a stored event known by its ID and
// whether it is an error declaration.
func DedupeKey(eventID string, declaration bool) string {
	if declaration {
		return eventID + "#errorDeclaration"
	}
	return eventID
}

// AllEPCs returns every instance-level identifier the event names: parent,
// EPCs, inputs and outputs (what MATCH_anyEPC matches), without duplicates.
func (e *Event) AllEPCs() []string {
	out := make([]string, 0, 1+len(e.EPCs)+len(e.InputEPCs)+len(e.OutputEPCs))
	seen := make(map[string]struct{}, cap(out))
	add := func(s string) {
		if s == "" {
			return
		}
		if _, ok := seen[s]; ok {
			return
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	add(e.ParentID)
	for _, l := range [][]string{e.EPCs, e.InputEPCs, e.OutputEPCs} {
		for _, s := range l {
			add(s)
		}
	}
	return out
}

// cbvPrefixes are the URI spellings of CBV vocabulary; the bare word after the
// prefix is what the tracker indexes, so EQ_bizStep=shipping matches an event
// that wrote "urn:epcglobal:cbv:bizstep:shipping" and vice versa.
var cbvPrefixes = []string{
	"urn:epcglobal:cbv:bizstep:",
	"urn:epcglobal:cbv:disp:",
	"https://ref.gs1.org/cbv/BizStep-",
	"https://ref.gs1.org/cbv/Disp-",
}

// NormalizeCBV returns the bare CBV word for a CBV URI and s unchanged
// otherwise (user vocabularies are URIs that must be compared whole).
func NormalizeCBV(s string) string {
	for _, p := range cbvPrefixes {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}
