package tracker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxFieldErrors bounds the problems reported for one request: enough to fix
// a document in one round trip, not so many that a hostile body amplifies.
const maxFieldErrors = 50

// maxURILen bounds identifiers (EPCs, event IDs, locations). GS1 identifiers
// are far shorter; the bound keeps a hostile body from bloating indexes.
const maxURILen = 2048

// tzOffset is the eventTimeZoneOffset pattern from the EPCIS 2.0 JSON schema.
var tzOffset = regexp.MustCompile(`^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$`)

// wireDocument is the part of an EPCISDocument the tracker reads; everything
// else (@context, sender, SBDH-like headers) is accepted and ignored.
type wireDocument struct {
	Type          *string `json:"type"`
	SchemaVersion *string `json:"schemaVersion"`
	EPCISBody     *struct {
		EventList *[]json.RawMessage `json:"eventList"`
	} `json:"epcisBody"`
}

type wireID struct {
	ID *string `json:"id"`
}

type wireQuantity struct {
	EPCClass *string         `json:"epcClass"`
	Quantity json.RawMessage `json:"quantity"`
	UOM      *string         `json:"uom"`
}

type wireErrorDeclaration struct {
	DeclarationTime    *string  `json:"declarationTime"`
	Reason             *string  `json:"reason"`
	CorrectiveEventIDs []string `json:"correctiveEventIDs"`
}

// wireEvent holds the members the tracker validates and indexes. Pointers
// tell "absent" from "empty" where the rules differ.
type wireEvent struct {
	Type                *string               `json:"type"`
	EventID             *string               `json:"eventID"`
	EventTime           *string               `json:"eventTime"`
	EventTimeZoneOffset *string               `json:"eventTimeZoneOffset"`
	Action              *string               `json:"action"`
	BizStep             *string               `json:"bizStep"`
	Disposition         *string               `json:"disposition"`
	ReadPoint           *wireID               `json:"readPoint"`
	BizLocation         *wireID               `json:"bizLocation"`
	ParentID            *string               `json:"parentID"`
	EPCList             []string              `json:"epcList"`
	ChildEPCs           []string              `json:"childEPCs"`
	InputEPCList        []string              `json:"inputEPCList"`
	OutputEPCList       []string              `json:"outputEPCList"`
	QuantityList        []wireQuantity        `json:"quantityList"`
	ChildQuantityList   []wireQuantity        `json:"childQuantityList"`
	InputQuantityList   []wireQuantity        `json:"inputQuantityList"`
	OutputQuantityList  []wireQuantity        `json:"outputQuantityList"`
	ErrorDeclaration    *wireErrorDeclaration `json:"errorDeclaration"`
	RecordTime          json.RawMessage       `json:"recordTime"`
}

// problems collects field errors up to maxFieldErrors and counts the rest.
type problems struct {
	list  []FieldError
	more  int      // found past maxFieldErrors
	muted []string // pointers already reported, with everything below them
}

// count is every problem found, listed or not.
func (p *problems) count() int { return len(p.list) + p.more }

// mute drops later problems at or below the pointers: members already
// named as being of the wrong type, and taken out before the rest of their
// object is checked.
func (p *problems) mute(pointers ...string) { p.muted = append(p.muted, pointers...) }

func (p *problems) add(pointer, value, format string, args ...any) {
	for _, m := range p.muted {
		// encoding/json matches member names regardless of case, so a
		// member "Type" taken out stands for "type" too.
		if len(pointer) >= len(m) && strings.EqualFold(pointer[:len(m)], m) && (len(pointer) == len(m) || pointer[len(m)] == '/') {
			return
		}
	}
	if len(p.list) >= maxFieldErrors {
		p.more++
		return
	}
	if len(value) > 200 {
		value = value[:200] + "…"
	}
	p.list = append(p.list, FieldError{Pointer: pointer, Value: value, Detail: fmt.Sprintf(format, args...)})
}

func (p *problems) err(msg string) error {
	if len(p.list) == 0 {
		return nil
	}
	if p.more > 0 {
		// Say so, or a client fixing what is listed would expect success.
		msg += fmt.Sprintf(" (the first %d problems are listed; %d more not listed)", len(p.list), p.more)
	}
	return &Error{Code: EINVALID, Message: msg, Fields: p.list}
}

// DecodeDocument parses and validates an EPCISDocument and returns its events
// with IDs assigned. It returns an EINVALID *Error listing every problem found
// (up to a bound) and never a partial result.
func DecodeDocument(body []byte) ([]*Event, error) {
	body = skipBOM(body)
	var p problems
	if checkUTF8(&p, body) {
		return nil, p.err("invalid EPCIS document")
	}
	var doc wireDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		rest, ok := typeProblems[wireDocument](body, "", err, &p)
		// Afresh: a failed decode leaves members half set.
		if doc = (wireDocument{}); !ok || json.Unmarshal(rest, &doc) != nil {
			return nil, p.err("invalid EPCIS document")
		}
		// The members of the wrong type are named and taken out; the rest
		// is checked below, events included, so that one answer names
		// every problem.
	}
	switch {
	case doc.Type == nil:
		p.add("/type", "", "required; must be \"EPCISDocument\"")
	case *doc.Type != "EPCISDocument":
		p.add("/type", *doc.Type, "must be \"EPCISDocument\"")
	}
	switch {
	case doc.SchemaVersion == nil:
		p.add("/schemaVersion", "", "required; must be \"2.0\"")
	case *doc.SchemaVersion != "2.0" && !strings.HasPrefix(*doc.SchemaVersion, "2.0."):
		p.add("/schemaVersion", *doc.SchemaVersion, "unsupported; must be \"2.0\"")
	}
	if doc.EPCISBody == nil || doc.EPCISBody.EventList == nil {
		p.add("/epcisBody/eventList", "", "required: an array of events")
		return nil, p.err("invalid EPCIS document")
	}
	list := *doc.EPCISBody.EventList
	if len(list) == 0 {
		p.add("/epcisBody/eventList", "[]", "must hold at least one event")
	}
	events := make([]*Event, 0, len(list))
	for i, raw := range list {
		ev := decodeEvent(raw, "/epcisBody/eventList/"+strconv.Itoa(i), &p)
		if ev != nil {
			events = append(events, ev)
		}
	}
	if err := p.err("invalid EPCIS document"); err != nil {
		return nil, err
	}
	return events, nil
}

// DecodeEvent parses and validates one event (the body of POST /events).
func DecodeEvent(body []byte) (*Event, error) {
	body = skipBOM(body)
	var p problems
	if checkUTF8(&p, body) {
		return nil, p.err("invalid EPCIS event")
	}
	// The event keeps its raw bytes; copy so the caller may reuse body.
	ev := decodeEvent(bytes.Clone(body), "", &p)
	if err := p.err("invalid EPCIS event"); err != nil {
		return nil, err
	}
	return ev, nil
}

func decodeEvent(raw json.RawMessage, ptr string, p *problems) *Event {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		p.add(ptrOrRoot(ptr), abbreviate(raw), "an event must be a JSON object")
		return nil
	}
	var w wireEvent
	before := p.count()
	// Mutes for this event's members end with it: kept for the whole
	// document, every later problem would scan every earlier event's.
	defer func(n int) { p.muted = p.muted[:n] }(len(p.muted))
	if err := json.Unmarshal(raw, &w); err != nil {
		// As in DecodeDocument: name the members of the wrong type, then
		// check the others.
		rest, ok := typeProblems[wireEvent](raw, ptr, err, p)
		if w = (wireEvent{}); !ok || json.Unmarshal(rest, &w) != nil {
			return nil
		}
	}
	ev := &Event{Pointer: ptr}

	switch {
	case w.Type == nil:
		p.add(ptr+"/type", "", "required; one of ObjectEvent, AggregationEvent, TransformationEvent, AssociationEvent, TransactionEvent")
	case !EventType(*w.Type).Valid():
		p.add(ptr+"/type", *w.Type, "unknown event type; one of ObjectEvent, AggregationEvent, TransformationEvent, AssociationEvent, TransactionEvent")
	default:
		ev.Type = EventType(*w.Type)
	}

	if w.EventTime == nil {
		p.add(ptr+"/eventTime", "", "required: an RFC 3339 date-time with offset")
	} else if t, err := time.Parse(time.RFC3339Nano, *w.EventTime); err != nil {
		p.add(ptr+"/eventTime", *w.EventTime, "not an RFC 3339 date-time with offset")
	} else if t.Year() < 1700 || t.Year() > 2200 {
		// Stored as Unix nanoseconds, which span 1678–2262.
		p.add(ptr+"/eventTime", *w.EventTime, "must be between the years 1700 and 2200")
	} else {
		ev.Time = t
	}
	if w.EventTimeZoneOffset == nil {
		p.add(ptr+"/eventTimeZoneOffset", "", "required: ±hh:mm between -14:00 and +14:00")
	} else if !tzOffset.MatchString(*w.EventTimeZoneOffset) {
		p.add(ptr+"/eventTimeZoneOffset", *w.EventTimeZoneOffset, "must be ±hh:mm between -14:00 and +14:00")
	} else {
		ev.TimeZoneOffset = *w.EventTimeZoneOffset
	}

	if w.EventID != nil {
		if checkURI(p, ptr+"/eventID", *w.EventID) {
			ev.ID = *w.EventID
		}
	}

	// Action: required on every type but TransformationEvent, which has none.
	if ev.Type == TransformationEvent {
		if w.Action != nil {
			p.add(ptr+"/action", *w.Action, "a TransformationEvent has no action")
		}
	} else if ev.Type != "" {
		switch {
		case w.Action == nil:
			p.add(ptr+"/action", "", "required: ADD, OBSERVE or DELETE")
		case !Action(*w.Action).Valid():
			p.add(ptr+"/action", *w.Action, "must be ADD, OBSERVE or DELETE")
		default:
			ev.Action = Action(*w.Action)
		}
	}

	if w.BizStep != nil {
		if checkNonEmpty(p, ptr+"/bizStep", *w.BizStep) {
			ev.BizStep = NormalizeCBV(*w.BizStep)
		}
	}
	if w.Disposition != nil {
		if checkNonEmpty(p, ptr+"/disposition", *w.Disposition) {
			ev.Disposition = NormalizeCBV(*w.Disposition)
		}
	}
	ev.ReadPoint = decodeLocation(p, ptr+"/readPoint", w.ReadPoint)
	ev.BizLocation = decodeLocation(p, ptr+"/bizLocation", w.BizLocation)

	if w.ParentID != nil && checkURI(p, ptr+"/parentID", *w.ParentID) {
		ev.ParentID = *w.ParentID
	}
	switch ev.Type {
	case AggregationEvent:
		if ev.ParentID == "" && w.ParentID == nil && ev.Action != ActionObserve && ev.Action != "" {
			p.add(ptr+"/parentID", "", "required for an AggregationEvent with action %s", ev.Action)
		}
		ev.EPCs = checkEPCs(p, ptr+"/childEPCs", w.ChildEPCs)
	case AssociationEvent:
		if ev.ParentID == "" && w.ParentID == nil && ev.Action != ActionObserve && ev.Action != "" {
			p.add(ptr+"/parentID", "", "required for an AssociationEvent with action %s", ev.Action)
		}
		ev.EPCs = checkEPCs(p, ptr+"/childEPCs", w.ChildEPCs)
	case TransactionEvent, ObjectEvent:
		ev.EPCs = checkEPCs(p, ptr+"/epcList", w.EPCList)
	case TransformationEvent:
		ev.InputEPCs = checkEPCs(p, ptr+"/inputEPCList", w.InputEPCList)
		ev.OutputEPCs = checkEPCs(p, ptr+"/outputEPCList", w.OutputEPCList)
	}
	for _, q := range []struct {
		name string
		list []wireQuantity
	}{
		{"quantityList", w.QuantityList}, {"childQuantityList", w.ChildQuantityList},
		{"inputQuantityList", w.InputQuantityList}, {"outputQuantityList", w.OutputQuantityList},
	} {
		for i, el := range q.list {
			ep := ptr + "/" + q.name + "/" + strconv.Itoa(i)
			if el.EPCClass == nil {
				p.add(ep+"/epcClass", "", "required")
			} else if checkURI(p, ep+"/epcClass", *el.EPCClass) {
				ev.Classes = append(ev.Classes, *el.EPCClass)
			}
			if len(el.Quantity) > 0 {
				if f, err := strconv.ParseFloat(string(el.Quantity), 64); err != nil || f < 0 {
					p.add(ep+"/quantity", string(el.Quantity), "must be a non-negative number")
				}
			}
		}
	}

	if d := w.ErrorDeclaration; d != nil {
		decl := &ErrorDeclaration{Reason: deref(d.Reason), CorrectiveEventIDs: d.CorrectiveEventIDs}
		dp := ptr + "/errorDeclaration"
		if d.DeclarationTime == nil {
			p.add(dp+"/declarationTime", "", "required in an error declaration")
		} else if t, err := time.Parse(time.RFC3339Nano, *d.DeclarationTime); err != nil {
			p.add(dp+"/declarationTime", *d.DeclarationTime, "not an RFC 3339 date-time with offset")
		} else {
			decl.DeclarationTime = t
		}
		for i, id := range d.CorrectiveEventIDs {
			checkURI(p, dp+"/correctiveEventIDs/"+strconv.Itoa(i), id)
		}
		ev.ErrorDeclaration = decl
	}

	if p.count() > before {
		return nil
	}
	if w.RecordTime != nil {
		// recordTime is the repository's to set (EPCIS 2.0 §7.4.1); a
		// client's value is dropped so queries report when we stored it.
		raw = withoutMember(raw, "recordTime")
	}
	if w.EventID == nil && bytes.Contains(raw, []byte(`"eventID"`)) {
		// "eventID": null is taken as absent, so the ID assigned below
		// replaces it rather than standing beside it, and is the one an
		// event without the member gets.
		raw = withoutMember(raw, "eventID")
	}
	hash, repeated, err := contentHash(raw)
	if err != nil { // unreachable: raw was just decoded
		p.add(ptrOrRoot(ptr), "", "cannot hash event: %v", err)
		return nil
	}
	if repeated != "" {
		// A name repeated within an object (GS1's own AssociationEvent-h
		// example repeats eventID): what was validated and indexed is the
		// last value, as encoding/json reads it, but another reader of the
		// stored payload could take the first. Store it without the earlier
		// ones, so it means one thing; the hash already ignores them.
		if raw, err = lastMembersOnly(raw); err != nil { // unreachable: raw was just decoded
			p.add(ptrOrRoot(ptr), "", "cannot rewrite event: %v", err)
			return nil
		}
	}
	ev.ContentHash = hash
	ev.Raw = raw
	if ev.ID == "" {
		ev.ID = "ni:///sha-256;" + hash + "?ver=CBV2.0"
		ev.Raw = withMember(raw, "eventID", ev.ID)
	}
	return ev
}

// lastMembersOnly re-encodes an event keeping, of each member name repeated
// in one object, only the last value; numbers stay as written.
func lastMembersOnly(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// utf8BOM is a byte order mark, which some Windows tools put before JSON.
// RFC 8259 §8.1 lets a parser ignore it; encoding/json refuses it as an
// invalid character.
var utf8BOM = []byte("\xef\xbb\xbf")

// skipBOM returns body with a leading byte order mark turned into
// whitespace, which JSON ignores; the bytes keep their offsets, so a problem
// "at byte N" counts bytes as the client sent them. body itself is not
// changed: a copy is made only when there is a mark.
func skipBOM(body []byte) []byte {
	if !bytes.HasPrefix(body, utf8BOM) {
		return body
	}
	return append([]byte("   "), body[len(utf8BOM):]...)
}

// checkUTF8 reports a body that is not UTF-8. encoding/json would take it,
// replacing bad bytes with U+FFFD in what it decodes while the stored payload
// kept them: the EPC indexed and the EPC stored would differ, and every
// answer holding the event would be invalid JSON.
func checkUTF8(p *problems, body []byte) bool {
	if utf8.Valid(body) {
		return false
	}
	at := 0
	for at < len(body) {
		r, n := utf8.DecodeRune(body[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	p.add("/", abbreviate(bytes.ToValidUTF8(body[max(at-20, 0):at], nil)),
		"not valid UTF-8 at byte %d (after the text shown): JSON must be UTF-8 (RFC 8259 §8.1)", at)
	return true
}

func decodeLocation(p *problems, ptr string, w *wireID) string {
	if w == nil {
		return ""
	}
	if w.ID == nil {
		p.add(ptr+"/id", "", "required when %s is present", ptr[strings.LastIndexByte(ptr, '/')+1:])
		return ""
	}
	if !checkURI(p, ptr+"/id", *w.ID) {
		return ""
	}
	return *w.ID
}

func checkEPCs(p *problems, ptr string, list []string) []string {
	ok := true
	for i, s := range list {
		ok = checkURI(p, ptr+"/"+strconv.Itoa(i), s) && ok
	}
	if !ok {
		return nil
	}
	return list
}

func checkNonEmpty(p *problems, ptr, s string) bool {
	if strings.TrimSpace(s) == "" {
		p.add(ptr, s, "must not be empty")
		return false
	}
	return true
}

// checkURI accepts what EPCIS calls a URI: EPC URNs, GS1 Digital Link and
// other absolute URIs. It is deliberately not a full RFC 3986 parser — it
// rejects what would break indexing and lookups (empty, whitespace, control
// characters, no scheme, absurd length).
func checkURI(p *problems, ptr, s string) bool {
	switch {
	case s == "":
		p.add(ptr, s, "must not be empty")
		return false
	case len(s) > maxURILen:
		p.add(ptr, s, "longer than %d bytes", maxURILen)
		return false
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		p.add(ptr, s, "must not contain whitespace or control characters")
		return false
	}
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !isScheme(s[:colon]) {
		p.add(ptr, s, "must be an absolute URI such as urn:epc:id:sgtin:0614141.107346.2017")
		return false
	}
	return true
}

func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// typeProblems reports err, the error of decoding the JSON object raw into a
// T. For a member of the wrong type encoding/json names only the first, by
// its kind ("number"), and stops; this decodes the members one by one to
// name each bad one, or each bad element of an array, with the value sent.
// When err was such a type error it returns raw without the bad members,
// for the caller to check the rest, and mutes further problems at those
// members (a "required" for one taken out would repeat what was said); ok
// is false for any other error. Only failed decodes pay.
func typeProblems[T any](raw json.RawMessage, ptr string, err error, p *problems) (rest json.RawMessage, ok bool) {
	var te *json.UnmarshalTypeError
	var members map[string]json.RawMessage
	if !errors.As(err, &te) || json.Unmarshal(raw, &members) != nil {
		jsonProblem(p, ptr, err)
		return nil, false
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// probe decodes {"k": v} into a T, which checks the member k alone.
	probe := func(k string, v []byte) *json.UnmarshalTypeError {
		obj, _ := json.Marshal(map[string]json.RawMessage{k: v})
		var t T
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal(obj, &t); errors.As(err, &te) {
			return te
		}
		return nil
	}
	// where is the pointer below member k at which te went wrong, from its
	// Go field path ("quantityList.quantity" names /quantity).
	where := func(k string, te *json.UnmarshalTypeError) string {
		if rest, ok := strings.CutPrefix(te.Field, k+"."); ok {
			return "/" + strings.ReplaceAll(rest, ".", "/")
		}
		return ""
	}
	var muted []string
	for _, k := range keys {
		v := members[k]
		te := probe(k, v)
		if te == nil {
			continue
		}
		kp := ptr + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		delete(members, k)
		muted = append(muted, kp)
		var elems []json.RawMessage
		if json.Unmarshal(v, &elems) == nil && len(elems) > 0 {
			for i, el := range elems {
				if ete := probe(k, append(append([]byte{'['}, el...), ']')); ete != nil {
					sub := where(k, ete)
					p.add(kp+"/"+strconv.Itoa(i)+sub, valueAt(el, sub), "must be a JSON %s", jsonKind(ete.Type.Kind().String()))
				}
			}
			continue
		}
		sub := where(k, te)
		p.add(kp+sub, valueAt(v, sub), "must be a JSON %s", jsonKind(te.Type.Kind().String()))
	}
	p.mute(muted...)
	rest, _ = json.Marshal(members)
	return rest, true
}

// valueAt returns, abbreviated, the value at the pointer sub (object members
// only) below raw.
func valueAt(raw json.RawMessage, sub string) string {
	for _, name := range strings.Split(sub, "/")[1:] {
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			break
		}
		raw = members[name]
	}
	return abbreviate(raw)
}

// jsonProblem turns an encoding/json error into a field error with a pointer.
func jsonProblem(p *problems, ptr string, err error) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		p.add(ptrOrRoot(ptr), "", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := ""
		if te.Field != "" {
			field = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		p.add(ptrOrRoot(ptr+field), te.Value, "must be a JSON %s", jsonKind(te.Type.Kind().String()))
	default:
		p.add(ptrOrRoot(ptr), "", "malformed JSON: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "float64", "int", "int64":
		return "number"
	}
	return goKind
}

func ptrOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func abbreviate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// withMember returns the object raw with "name": value added as its first
// member. Textual insertion keeps every other byte as the client sent it.
func withMember(raw json.RawMessage, name, value string) json.RawMessage {
	k, _ := json.Marshal(name)
	v, _ := json.Marshal(value)
	rest := bytes.TrimSpace(raw[1:])
	out := make([]byte, 0, len(raw)+len(k)+len(v)+3)
	out = append(out, '{')
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, v...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// withoutMember returns raw without the named top-level member. It re-encodes
// the object (member order changes), which only clients that send members
// the server owns pay for.
func withoutMember(raw json.RawMessage, name string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return raw
	}
	delete(m, name)
	b, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}

// WithMember is withMember for other packages (the store adds recordTime to
// query results this way).
func WithMember(raw json.RawMessage, name, value string) json.RawMessage {
	return withMember(raw, name, value)
}
