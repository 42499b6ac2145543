package sqlite

import (
	"fmt"
	"strings"

	"github.com/edgetrace/edgetrace/tracker"
)

// The write statements take their rows as one JSON array (jsonb_each), so a
// segment of events costs a handful of statements instead of several per
// event: per-statement overhead (cgo, database/sql, statement journal), not
// SQLite's B-tree work, dominated capture when every event ran its own.
// jsonb_each and jsonb_extract hand each row on in SQLite's binary JSON;
// json_each renders a row back to text, which every ->> then parses again
// (that round trip cost ~10% of BenchmarkCaptureDocuments).
const (
	storedHashesSQL = `SELECT event_id, is_declaration, content_hash FROM events
	WHERE event_id IN (SELECT value FROM json_each(?1))`
	// Rows: [seq, eventID, isDeclaration, superseded, type, eventTime,
	// action, bizStep, disposition, readPoint, bizLocation, contentHash,
	// payload offset (1-based), payload length, captureID]. The payloads
	// travel as one blob (?2): as JSON strings they would have to be escaped
	// and unescaped.
	insertEventsSQL = `INSERT INTO events (seq, event_id, is_declaration, superseded, type, event_time, record_time,
		action, biz_step, disposition, read_point, biz_location, content_hash, capture_id, payload)
	SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, ?3,
		value->>6, value->>7, value->>8, value->>9, value->>10, value->>11, value->>14, substr(?2, value->>12, value->>13)
	FROM jsonb_each(?1)`
	// Rows: [seq, role, [epc, ...]].
	insertEPCsSQL = `WITH g AS MATERIALIZED (SELECT value->>0 AS seq, value->>1 AS role, jsonb_extract(value, '$[2]') AS epcs FROM jsonb_each(?1))
	INSERT OR IGNORE INTO event_epcs (epc, seq, role) SELECT j.value, g.seq, g.role FROM g, jsonb_each(g.epcs) j`
	supersedeSQL  = `UPDATE events SET superseded = 1 WHERE event_id = ? AND is_declaration = 0`
	fillOutboxSQL = `INSERT INTO outbox (seq) SELECT seq FROM events WHERE seq >= ?`
	// unpackAllSQL empties containers. Rows: [parent, eventTime], parents
	// distinct (canUnpack). The children keep the time of the change that
	// put them in: emptied_time (emptiedSQL) is what refuses older packs
	// into the container, so a late move into another one that happened in
	// between still applies, whichever arrives first.
	unpackAllSQL = `UPDATE epc_state SET parent = NULL
	FROM (SELECT value->>0 AS parent, value->>1 AS t FROM jsonb_each(?1)) AS o
	WHERE epc_state.parent = o.parent AND (epc_state.parent_time IS NULL OR epc_state.parent_time <= o.t)`
	// emptiedSQL records when each container was emptied (same rows as
	// unpackAllSQL), for packs into it that arrive later but are older.
	emptiedSQL = `UPDATE epc_state SET emptied_time = o.t
	FROM (SELECT value->>0 AS parent, value->>1 AS t FROM jsonb_each(?1)) AS o
	WHERE epc_state.epc = o.parent AND (epc_state.emptied_time IS NULL OR epc_state.emptied_time < o.t)`
	// listedSQL applies pack, unpack and remove to listed EPCs, each EPC at
	// most once (a segment keeps only the change that wins, see list). A
	// change older than the EPC's last one is ignored, so the outcome does
	// not depend on the order events arrive in. Hence an unpack newer than
	// the EPC's last change leaves it in nothing whatever parent is on
	// record: it was in the parent named just before, so the pack into that
	// parent is one that has not arrived yet, and when it does it is older
	// and changes nothing. For the same reason a pack into a container
	// emptied since (emptiedSQL) leaves its EPCs in nothing. Rows: [change,
	// parent, eventTime, [epc, ...]].
	listedSQL = `WITH o AS MATERIALIZED (SELECT value->>0 AS op, value->>1 AS parent, value->>2 AS t, jsonb_extract(value, '$[3]') AS epcs,
			(SELECT emptied_time FROM epc_state WHERE epc = value->>1) AS emptied
		FROM jsonb_each(?1))
	UPDATE epc_state SET parent = CASE WHEN c.op = 1 AND (c.emptied IS NULL OR c.emptied <= c.t) THEN c.parent END, parent_time = c.t
	FROM (SELECT j.value AS epc, o.op, o.parent, o.t, o.emptied FROM o, jsonb_each(o.epcs) j) AS c
	WHERE epc_state.epc = c.epc AND (epc_state.parent_time IS NULL OR epc_state.parent_time <= c.t)`
	// childrenSQL reads a container's children (?1) and the state of the
	// EPCs pending packs put in it and of the container (?2, a JSON array)
	// for txWriter.children, in one row of words separated by ASCII spaces,
	// which checkURI refuses in EPCs ("-" is NULL): a row per EPC cost the
	// writer more than the unpack itself.
	childrenSQL = `SELECT (SELECT group_concat(epc, ' ') FROM epc_state WHERE parent = ?1),
		(SELECT group_concat(concat_ws(' ', epc, ifnull(parent, '-'), ifnull(parent_time, '-'), ifnull(emptied_time, '-')), ' ')
		FROM epc_state WHERE epc IN (SELECT value FROM json_each(?2)))`
	insertCaptureSQL = `INSERT INTO captures (id, created_at, finished_at, event_count, stored_count) VALUES (?, ?, ?, ?, ?)`
)

// The location fields of epc_state, each with its own time column
// (<field>_time): the time of the event that set it.
var stateFields = []string{"biz_location", "read_point", "disposition", "biz_step"}

// fieldRules renders the SET clause that, for each location field, takes
// the value val and time at (fmt patterns of the field's name) where cond
// (a pattern likewise) holds, and keeps the stored value and time otherwise.
func fieldRules(cond, val, at string) string {
	var sets []string
	for _, f := range stateFields {
		c := fmt.Sprintf(cond, f)
		sets = append(sets,
			fmt.Sprintf("%[1]s = CASE WHEN %[2]s THEN %[3]s ELSE %[1]s END", f, c, fmt.Sprintf(val, f)),
			fmt.Sprintf("%[1]s_time = CASE WHEN %[2]s THEN %[3]s ELSE %[1]s_time END", f, c, fmt.Sprintf(at, f)))
	}
	return strings.Join(sets, ",\n\t\t")
}

var (
	// upsertStateSQL sets each field of an EPC's state to the event's value
	// unless the stored one is newer: events arrive out of order across
	// sites, and a late event still says what nothing newer has. NULL means
	// "the event does not say", so the stored value holds (bizLocation holds
	// until contradicted). On equal times the event applied last wins. Rows:
	// [eventTime, eventID, bizLocation, readPoint, disposition, bizStep,
	// [epc, ...]], applied in array order: the outer loop scans the
	// materialized ev in insertion order and the inner json_each depends on
	// it, so it cannot be reordered, and an EPC named by two events ends as
	// the later one left it. ("WHERE true" is SQLite's required
	// disambiguation for an upsert whose rows come from a SELECT.)
	upsertStateSQL = `WITH ev AS MATERIALIZED (SELECT value->>0 AS t, value->>1 AS id, value->>2 AS bl, value->>3 AS rp,
		value->>4 AS disp, value->>5 AS bs, jsonb_extract(value, '$[6]') AS epcs FROM jsonb_each(?1))
	INSERT INTO epc_state (epc, biz_location, biz_location_time, read_point, read_point_time, disposition, disposition_time,
		biz_step, biz_step_time, event_time, event_id)
	SELECT j.value, ev.bl, CASE WHEN ev.bl IS NOT NULL THEN ev.t END, ev.rp, CASE WHEN ev.rp IS NOT NULL THEN ev.t END,
		ev.disp, CASE WHEN ev.disp IS NOT NULL THEN ev.t END, ev.bs, CASE WHEN ev.bs IS NOT NULL THEN ev.t END, ev.t, ev.id
	FROM ev, jsonb_each(ev.epcs) j WHERE true
	ON CONFLICT (epc) DO UPDATE SET
		` + fieldRules("excluded.%[1]s_time >= ifnull(%[1]s_time, excluded.%[1]s_time)", "excluded.%s", "excluded.%s_time") + `,
		event_id   = CASE WHEN excluded.event_time >= event_time THEN excluded.event_id ELSE event_id END,
		event_time = max(excluded.event_time, event_time)`
	// absorbSQL gives EPCs about to leave a container what they had through
	// it: per field, the container chain's value where it is newer than the
	// EPC's own (the rule of tracker.Resolve), so that an item unpacked by an
	// event that does not say where stays where its pallet was, rather than
	// going back to where it was last seen on its own. It takes the EPCs the
	// containment change (listedSQL's unpack, unpackAllSQL) will take out,
	// and runs before the segment's upserts (see segment). Rows: [parent,
	// eventTime, bizLocation, its time, readPoint, its time, disposition,
	// its time, bizStep, its time, [epc, ...] or null for all in parent].
	absorbSQL = `UPDATE epc_state SET ` + fieldRules("a.new_%[1]s IS NOT NULL AND (%[1]s_time IS NULL OR a.new_%[1]s_time > %[1]s_time)", "a.new_%s", "a.new_%s_time") + `
	FROM (SELECT value->>0 AS parent, value->>1 AS t, value->>2 AS new_biz_location, value->>3 AS new_biz_location_time,
		value->>4 AS new_read_point, value->>5 AS new_read_point_time, value->>6 AS new_disposition, value->>7 AS new_disposition_time,
		value->>8 AS new_biz_step, value->>9 AS new_biz_step_time, jsonb_extract(value, '$[10]') AS epcs
		FROM jsonb_each(?1)) AS a
	WHERE epc_state.parent = a.parent AND (epc_state.parent_time IS NULL OR epc_state.parent_time <= a.t)
		AND (a.epcs IS NULL OR epc_state.epc IN (SELECT value FROM jsonb_each(a.epcs)))`
)

// writeSQL lists the statements the writer prepares at Open.
var writeSQL = []string{storedHashesSQL, insertEventsSQL, insertEPCsSQL, supersedeSQL, fillOutboxSQL,
	upsertStateSQL, unpackAllSQL, emptiedSQL, listedSQL, absorbSQL, locationSQL, childrenSQL, insertCaptureSQL}

// The listed containment changes, as listedSQL codes them.
const (
	changePack   = 1 // AggregationEvent ADD/OBSERVE: the children are now in the parent
	changeUnpack = 2 // AggregationEvent DELETE with children: out of the parent
	changeRemove = 3 // ObjectEvent DELETE: decommissioned, in nothing any more
)

// listedChange is the containment change ev makes to the EPCs it lists, or
// 0. An error declaration changes nothing: the state is not recomputed
// (see the README's tracker section).
func listedChange(ev *tracker.Event) int {
	if ev.ErrorDeclaration != nil || len(ev.EPCs) == 0 {
		return 0
	}
	switch {
	case ev.Type == tracker.AggregationEvent && ev.ParentID != "":
		switch ev.Action {
		case tracker.ActionAdd, tracker.ActionObserve:
			return changePack
		case tracker.ActionDelete:
			return changeUnpack
		}
	case ev.Type == tracker.ObjectEvent && ev.Action == tracker.ActionDelete:
		return changeRemove
	}
	return 0
}

// unpacksAll reports an AggregationEvent DELETE that lists no children,
// neither childEPCs nor childQuantityList: it disaggregates whatever is in
// the parent, and those children were where the event happened, so they
// take its location like listed ones would. One that lists only quantities
// takes out no serialised child.
func unpacksAll(ev *tracker.Event) bool {
	return ev.ErrorDeclaration == nil && ev.Type == tracker.AggregationEvent &&
		ev.Action == tracker.ActionDelete && ev.ParentID != "" && len(ev.EPCs) == 0 && len(ev.Classes) == 0
}

// segment is a run of a request's fresh events written with one statement
// per table, ending exactly as if they had been stored one by one in order.
// Storing an event inserts it, indexes its EPCs, and (unless it is an error
// declaration) upserts the location of every EPC it names and changes
// containment. The location upserts run in event order in one statement.
// Containment lives in other columns (parent, parent_time), which no upsert
// reads or writes, so containment changes can run after all the upserts,
// as long as their own order is equivalent to the events':
//   - Unpack-alls run first, then listed changes. Of an EPC's listed
//     changes only the one that wins reaches the UPDATE (see list).
//   - An unpack-all reads the parent's children when it joins the segment:
//     those in the store, and those pending packs put in it, whose packs it
//     turns into unpacks at the pack's time (add). canUnpack admits it
//     only if no pending change moves a child in the store elsewhere: then
//     it also commutes with the listed changes before it.
//
// Unpacking (absorbSQL) does read the location columns: what the EPCs
// leaving have through their container chain, as it stood just before the
// event. It is read from the store when the event joins the segment, so an
// unpack joins only if no pending event touches the chain or those EPCs
// (fits); then the store holds them as they were just before it, and its
// absorbSQL can run before all the segment's upserts.
type segment struct {
	n        int
	events   jsonArgs
	payloads []byte
	epcs     jsonArgs
	state    jsonArgs
	unpacks  jsonArgs
	absorbs  jsonArgs
	decls    []string // error declarations, whose originals to supersede

	touched [][]string // EPCs whose state a pending event changes (see touches)

	listed   map[string]listing  // the winning listed change of each EPC (see list)
	order    []string            // the keys of listed, first listed first
	packInto map[string][]string // parents pending packs fill, and the EPCs they list
	unpacked map[string]bool     // parents with a pending unpack-all
}

// listing is a listed change of one EPC.
type listing struct {
	change int
	parent string // the container packed into or unpacked from, if any
	t      int64  // event time, Unix nanoseconds
}

func newSegment() *segment {
	return &segment{events: jsonArgs(nil).begin(), epcs: jsonArgs(nil).begin(),
		state: jsonArgs(nil).begin(), unpacks: jsonArgs(nil).begin(), absorbs: jsonArgs(nil).begin(),
		listed: make(map[string]listing), packInto: make(map[string][]string), unpacked: make(map[string]bool)}
}

// list records a listed change of epc, keeping per EPC only the change
// that wins. Applied one by one in event order, each change applies only
// if its time is not older than the EPC's last change, and then becomes
// the last; so the EPC ends as the newest of them left it (the later one
// on equal times), or, if even that one is older than the stored change,
// as it was. One change per EPC, the newest, gives the same, so an EPC
// listed by several events of a segment needs no segment of its own.
func (g *segment) list(epc string, l listing) {
	if prev, ok := g.listed[epc]; !ok {
		g.order = append(g.order, epc)
	} else if prev.t > l.t {
		return
	}
	g.listed[epc] = l
}

// listedRows renders the winning changes as listedSQL's rows, EPCs with
// the same change together.
func (g *segment) listedRows() jsonArgs {
	rows := jsonArgs(nil).begin()
	for i := 0; i < len(g.order); {
		l := g.listed[g.order[i]]
		rows = rows.begin().int(int64(l.change)).strOrNull(l.parent).int(l.t).begin()
		for ; i < len(g.order) && g.listed[g.order[i]] == l; i++ {
			rows = rows.str(g.order[i])
		}
		rows = rows.end().end()
	}
	return rows
}

// canUnpack reports whether an unpack-all of parent, whose children in the
// store are kids, can join the segment: no pending change empties parent
// or moves one of those children elsewhere. Pending packs into parent do
// not keep it out: the writer reads which of them put their EPCs in it
// (txWriter.children), and add takes those out too.
func (g *segment) canUnpack(parent string, kids []string) bool {
	if g.unpacked[parent] {
		return false
	}
	for _, k := range kids {
		if l, ok := g.listed[k]; ok && !l.packs(parent) {
			return false
		}
	}
	return true
}

func (l listing) packs(parent string) bool { return l.change == changePack && l.parent == parent }

// packedInto returns the EPCs whose winning pending change is a pack into
// parent, each once, with that change's time.
func (g *segment) packedInto(parent string) (epcs []string, times []int64) {
	seen := make(map[string]bool)
	for _, epc := range g.packInto[parent] {
		if l := g.listed[epc]; l.packs(parent) && !seen[epc] {
			seen[epc] = true
			epcs, times = append(epcs, epc), append(times, l.t)
		}
	}
	return epcs, times
}

// fits reports whether ev can join the segment; kids are the children an
// unpack-all empties and ab what the EPCs it unpacks take over, if anything.
func (g *segment) fits(ev *tracker.Event, kids []string, ab *absorption) bool {
	if unpacksAll(ev) && !g.canUnpack(ev.ParentID, kids) {
		return false
	}
	if ab == nil {
		return true
	}
	// absorbSQL reaches only children in the store, not those of pending
	// packs (which are among the touched EPCs): an unpack-all that leaves a
	// field unsaid waits for any pending pack into its container to be
	// written.
	return !g.touches(ab.chain, ev.EPCs, kids, g.packInto[ev.ParentID])
}

// touches reports whether a pending event changes the state of an EPC in
// lists. Only unpacks that leave a field unsaid ask, so the pending lists
// are scanned then rather than indexed for every event.
func (g *segment) touches(lists ...[]string) bool {
	want := make(map[string]bool)
	for _, l := range lists {
		for _, epc := range l {
			want[epc] = true
		}
	}
	for _, l := range g.touched {
		for _, epc := range l {
			if want[epc] {
				return true
			}
		}
	}
	return false
}

// add appends ev, stored under seq by the capture captureID; kids are the
// children an unpack-all empties, ab what unpacked EPCs take over.
func (g *segment) add(ev *tracker.Event, seq int64, superseded bool, kids []string, ab *absorption, captureID string) {
	g.n++
	t := ev.Time.UnixNano()
	g.events = g.events.begin().int(seq).str(ev.ID).bool(ev.ErrorDeclaration != nil).bool(superseded).
		str(string(ev.Type)).int(t).strOrNull(string(ev.Action)).strOrNull(ev.BizStep).strOrNull(ev.Disposition).
		strOrNull(ev.ReadPoint).strOrNull(ev.BizLocation).str(ev.ContentHash).
		int(int64(len(g.payloads) + 1)).int(int64(len(ev.Raw))).str(captureID).end()
	g.payloads = append(g.payloads, ev.Raw...)
	g.addEPCs(ev, seq)
	if ev.ErrorDeclaration != nil {
		g.decls = append(g.decls, ev.ID)
		return
	}
	if ab != nil && ab.carries() {
		g.absorbs = g.absorbs.begin().str(ev.ParentID).int(t)
		for i, v := range ab.fields {
			if v == "" {
				g.absorbs = append(g.absorbs, "null,null,"...)
			} else {
				g.absorbs = g.absorbs.str(v).int(ab.times[i])
			}
		}
		if unpacksAll(ev) {
			g.absorbs = append(g.absorbs, "null,"...)
		} else {
			g.absorbs = g.absorbs.strs(ev.EPCs)
		}
		g.absorbs = g.absorbs.end()
	}
	if epcs := append(ev.AllEPCs(), kids...); len(epcs) > 0 {
		g.touched = append(g.touched, epcs)
		g.state = g.state.begin().int(t).str(ev.ID).strOrNull(ev.BizLocation).strOrNull(ev.ReadPoint).
			strOrNull(ev.Disposition).strOrNull(ev.BizStep).strs(epcs).end()
	}
	if unpacksAll(ev) {
		g.unpacks = g.unpacks.begin().str(ev.ParentID).int(t).end()
		g.unpacked[ev.ParentID] = true
		// unpackAllSQL empties the container in the store before the listed
		// changes run; the EPCs a pending pack put in it are taken out here.
		// The change keeps the pack's time, as unpackAllSQL keeps a child's.
		// Listed as an unpack it applies exactly where the pack would have
		// (not older than the EPC's stored change), and leaves the EPC in
		// nothing, as the pack followed by this unpack-all would: the pack
		// into a container since emptied (emptiedSQL) leaves it in nothing.
		for _, k := range kids {
			if l := g.listed[k]; l.packs(ev.ParentID) && l.t <= t {
				g.listed[k] = listing{changeUnpack, "", l.t}
			}
		}
		return
	}
	change := listedChange(ev)
	if change == 0 {
		return
	}
	parent := ev.ParentID
	if change == changeRemove {
		parent = ""
	}
	for _, epc := range ev.EPCs {
		g.list(epc, listing{change, parent, t})
	}
	if change == changePack {
		g.packInto[parent] = append(g.packInto[parent], ev.EPCs...)
	}
}

// addEPCs indexes every identifier ev names, by role.
func (g *segment) addEPCs(ev *tracker.Event, seq int64) {
	if ev.ParentID != "" {
		g.epcs = g.epcs.begin().int(seq).int(tracker.RoleParent).strs([]string{ev.ParentID}).end()
	}
	for _, l := range []struct {
		list []string
		role int
	}{{ev.EPCs, tracker.RoleEPC}, {ev.InputEPCs, tracker.RoleInput}, {ev.OutputEPCs, tracker.RoleOutput}, {ev.Classes, tracker.RoleClass}} {
		if len(l.list) > 0 {
			g.epcs = g.epcs.begin().int(seq).int(int64(l.role)).strs(l.list).end()
		}
	}
}

// flush writes the segment's events; see segment for the order.
func (w *txWriter) flush(g *segment) error {
	if g.n == 0 {
		return nil
	}
	if err := w.exec(insertEventsSQL, g.events.end().String(), g.payloads, w.rt); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if err := w.execRows(insertEPCsSQL, g.epcs); err != nil {
		return fmt.Errorf("index events: %w", err)
	}
	for _, id := range g.decls {
		// The declaration replaces the original in query results. Current
		// state is not recomputed: see the README's tracker section.
		if err := w.exec(supersedeSQL, id); err != nil {
			return fmt.Errorf("supersede event %s: %w", id, err)
		}
	}
	if err := w.execRows(absorbSQL, g.absorbs); err != nil {
		return fmt.Errorf("hand over location to unpacked EPCs: %w", err)
	}
	if err := w.execRows(upsertStateSQL, g.state); err != nil {
		return fmt.Errorf("track events: %w", err)
	}
	if err := w.execRows(unpackAllSQL, g.unpacks); err != nil {
		return fmt.Errorf("unpack containers: %w", err)
	}
	if err := w.execRows(emptiedSQL, g.unpacks); err != nil {
		return fmt.Errorf("record emptied containers: %w", err)
	}
	if err := w.execRows(listedSQL, g.listedRows()); err != nil {
		return fmt.Errorf("pack or unpack: %w", err)
	}
	return nil
}

// execRows runs query over rows unless there are none.
func (w *txWriter) execRows(query string, rows jsonArgs) error {
	if len(rows) <= 1 { // just the opening bracket
		return nil
	}
	// Closed on a copy: end would write into rows' array, and the unpack-all
	// rows serve two statements.
	return w.exec(query, string(rows.trimComma())+"]")
}

// absorption is what the EPCs an event unpacks have through their container
// chain just before it: per field (bizLocation, readPoint, disposition,
// bizStep) the newest value of the chain not newer than the event, and its
// time; "" where the chain has none.
type absorption struct {
	chain  []string // the container and the containers it is in
	fields [4]string
	times  [4]int64
}

func (a *absorption) carries() bool { return a.fields != [4]string{} }

// absorption reads what ev, if it unpacks (an AggregationEvent DELETE) and
// leaves a field unsaid, hands over to the EPCs it takes out; else nil.
func (w *txWriter) absorption(ev *tracker.Event) (*absorption, error) {
	if !unpacksAll(ev) && listedChange(ev) != changeUnpack {
		return nil, nil
	}
	if ev.BizLocation != "" && ev.ReadPoint != "" && ev.Disposition != "" && ev.BizStep != "" {
		// The event says it all: its own upsert overwrites every field of
		// each EPC it applies to. (One it does not apply to, having newer
		// events of its own, keeps them as it keeps everything older.)
		return nil, nil
	}
	chain, err := readChain(w.ctx, w.stmt(locationSQL), ev.ParentID)
	if err != nil {
		return nil, fmt.Errorf("read containers of %s: %w", ev.ParentID, err)
	}
	a := &absorption{}
	limit := ev.Time.UnixNano() // a container's later moves are not the EPCs'
	for _, p := range chain {
		a.chain = append(a.chain, p.EPC)
		for i, f := range []struct {
			v string
			t int64
		}{{p.BizLocation, p.BizLocationTime.UnixNano()}, {p.ReadPoint, p.ReadPointTime.UnixNano()},
			{p.Disposition, p.DispositionTime.UnixNano()}, {p.BizStep, p.BizStepTime.UnixNano()}} {
			// Innermost first: on equal times the inner container wins, as in
			// tracker.Resolve.
			if f.v != "" && f.t <= limit && (a.fields[i] == "" || f.t > a.times[i]) {
				a.fields[i], a.times[i] = f.v, f.t
			}
		}
	}
	return a, nil
}
