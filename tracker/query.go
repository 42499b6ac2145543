package tracker

import (
	"errors"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query defaults and bounds.
const (
	DefaultPerPage = 100
	MaxPerPage     = 1000
	// MaxListValues bounds a "|"-separated parameter: each value is a bound
	// variable of one SQL statement, which SQLite caps.
	MaxListValues = 1000
)

// Event times are stored as Unix nanoseconds, so capture takes only these
// years (decodeEvent); query bounds outside them are moved onto them, which
// selects the same events.
var (
	minEventTime = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MatchAnyEPC is MATCH_anyEPC of exactly the EPCs given (no list parsing):
// what GET /epcs/{epc}/events filters on.
func MatchAnyEPC(epcs ...string) EPCMatch {
	return EPCMatch{EPCs: epcs, Roles: matchParams["MATCH_anyEPC"]}
}

// EPC roles: which member of an event named the EPC. MATCH_* parameters
// select on roles.
const (
	RoleEPC    = 1 // epcList, childEPCs
	RoleParent = 2 // parentID
	RoleInput  = 3 // inputEPCList
	RoleOutput = 4 // outputEPCList
	RoleClass  = 5 // epcClass of a quantity element
)

// EPCMatch selects events that name, in one of Roles, one of EPCs or an
// identifier starting with one of Prefixes (from EPC patterns).
type EPCMatch struct {
	EPCs     []string
	Prefixes []string `json:",omitempty"`
	Roles    []int
}

// patternPrefix reads a pure-identity EPC pattern whose wildcards all trail
// (urn:epc:idpat:sgtin:0614141.107346.* matches every serial of that item):
// the identifiers it matches are those starting with prefix, which then
// ends in '.' or ':', or, with no wildcard (exact), the one identifier
// prefix. isPattern is false for a value that is not a pattern; err names
// what is wrong with one that is.
func patternPrefix(v string) (prefix string, exact, isPattern bool, err error) {
	rest, isPattern := strings.CutPrefix(v, "urn:epc:idpat:")
	if !isPattern {
		return "", false, false, nil
	}
	scheme, body, found := strings.Cut(rest, ":")
	if !found || scheme == "" || body == "" {
		return "", false, true, errors.New("not an EPC pattern (urn:epc:idpat:<scheme>:<fields, * from some field on>)")
	}
	fields := strings.Split(body, ".")
	fixed := len(fields) // fields before the first *
	for i, f := range fields {
		switch {
		case f == "*" && fixed == len(fields):
			fixed = i
		case f == "" || (f == "*") != (i >= fixed):
			return "", false, true, errors.New("only trailing * is supported in EPC patterns")
		case f != "*" && strings.ContainsAny(f, "*[]"):
			return "", false, true, errors.New("only whole fields may be * (no partial wildcards or ranges)")
		}
	}
	prefix = "urn:epc:id:" + scheme + ":" + strings.Join(fields[:fixed], ".")
	if fixed == len(fields) {
		return prefix, true, true, nil
	}
	if fixed > 0 {
		prefix += "."
	}
	return prefix, false, true, nil
}

// EventQuery is a SimpleEventQuery subset. Empty fields do not filter; list
// fields match any of their values.
type EventQuery struct {
	EventTypes   []EventType
	GETime       *time.Time
	LTTime       *time.Time
	Actions      []Action
	BizSteps     []string
	Dispositions []string
	ReadPoints   []string
	BizLocations []string
	EventIDs     []string
	Matches      []EPCMatch // all must hold

	// OrderBy is "eventTime" or "recordTime" (the default, ascending when
	// orderBy is not given); a given order is descending unless
	// orderDirection=ASC.
	OrderBy    string
	Descending bool
	// EventCountLimit caps the number of events over all pages; 0 = no cap.
	EventCountLimit int
	PerPage         int
	PageToken       string
}

// matchParams maps MATCH_* parameters to the roles they select.
var matchParams = map[string][]int{
	"MATCH_epc":         {RoleEPC},
	"MATCH_parentID":    {RoleParent},
	"MATCH_inputEPC":    {RoleInput},
	"MATCH_outputEPC":   {RoleOutput},
	"MATCH_anyEPC":      {RoleEPC, RoleParent, RoleInput, RoleOutput},
	"MATCH_anyEPCClass": {RoleClass},
}

// ParseEventQuery reads the EPCIS query parameters of GET /events. Lists are
// "|"-separated. Unknown parameters are rejected rather than ignored, because
// a misspelt filter silently widening a query is worse than an error.
// Returns EINVALID naming each bad parameter and value.
func ParseEventQuery(v url.Values) (EventQuery, error) {
	var q EventQuery
	var p problems
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error order
	for _, k := range keys {
		vals := v[k]
		val := vals[len(vals)-1]
		ptr := "?" + k
		if len(vals) > 1 {
			// Taking one would drop the others' filter without a word.
			p.add(ptr, strings.Join(vals, ", "), "given %d times; give it once, alternatives separated by |", len(vals))
			continue
		}
		if _, isList := listParams[k]; isList || matchParams[k] != nil {
			if l := splitList(val); len(l) == 0 {
				p.add(ptr, val, "must name at least one value (alternatives separated by |)")
				continue
			} else if len(l) > MaxListValues {
				p.add(ptr, abbreviate([]byte(val)), "names %d values; at most %d", len(l), MaxListValues)
				continue
			}
		}
		list := func() []string { return splitList(val) }
		switch k {
		case "eventType":
			for _, s := range list() {
				if !EventType(s).Valid() {
					p.add(ptr, s, "unknown event type; one of ObjectEvent, AggregationEvent, TransformationEvent, AssociationEvent, TransactionEvent, alternatives separated by |")
					continue
				}
				q.EventTypes = append(q.EventTypes, EventType(s))
			}
		case "GE_eventTime", "LT_eventTime":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				p.add(ptr, val, "not an RFC 3339 date-time with offset")
				continue
			}
			if t.Before(minEventTime) {
				t = minEventTime
			} else if t.After(maxEventTime) {
				t = maxEventTime
			}
			if k == "GE_eventTime" {
				q.GETime = &t
			} else {
				q.LTTime = &t
			}
		case "EQ_action":
			for _, s := range list() {
				if !Action(s).Valid() {
					p.add(ptr, s, "must be ADD, OBSERVE or DELETE")
					continue
				}
				q.Actions = append(q.Actions, Action(s))
			}
		case "EQ_bizStep":
			q.BizSteps = normalizeAll(list())
		case "EQ_disposition":
			q.Dispositions = normalizeAll(list())
		case "EQ_readPoint":
			q.ReadPoints = list()
		case "EQ_bizLocation":
			q.BizLocations = list()
		case "EQ_eventID":
			q.EventIDs = list()
		case "orderBy":
			switch val {
			case "eventTime", "recordTime":
				q.OrderBy = val
			default:
				p.add(ptr, val, "must be eventTime or recordTime")
			}
		case "orderDirection":
			switch val {
			case "ASC":
			case "DESC":
				q.Descending = true
			default:
				p.add(ptr, val, "must be ASC or DESC")
			}
		case "eventCountLimit", "perPage":
			n, err := strconv.Atoi(val)
			switch {
			case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(val, "-"):
				bound := math.MaxInt
				if k == "perPage" {
					bound = MaxPerPage
				}
				p.add(ptr, val, "must be at most %d", bound)
				continue
			case err != nil || n < 1:
				p.add(ptr, val, "must be a positive integer")
				continue
			}
			if k == "perPage" {
				if n > MaxPerPage {
					p.add(ptr, val, "must be at most %d", MaxPerPage)
					continue
				}
				q.PerPage = n
			} else {
				q.EventCountLimit = n
			}
		case "nextPageToken":
			q.PageToken = val
		default:
			roles, ok := matchParams[k]
			if !ok {
				p.add(ptr, val, "unsupported query parameter")
				continue
			}
			m := EPCMatch{Roles: roles}
			for _, v := range list() {
				prefix, exact, isPattern, err := patternPrefix(v)
				switch {
				case err != nil:
					p.add(ptr, v, "%v", err)
				case isPattern && k == "MATCH_anyEPCClass":
					p.add(ptr, v, "EPC class patterns are not supported; give class URIs")
				case !isPattern:
					m.EPCs = append(m.EPCs, v)
				case exact:
					m.EPCs = append(m.EPCs, prefix)
				default:
					m.Prefixes = append(m.Prefixes, prefix)
				}
			}
			q.Matches = append(q.Matches, m)
		}
	}
	// As the standard's SimpleEventQuery has it: the count limit keeps the
	// first events of an order the client chose (orderBy=eventTime&
	// eventCountLimit=1 is "the latest event"), and that order is
	// descending unless it says otherwise.
	if _, ok := v["orderBy"]; !ok && q.EventCountLimit > 0 {
		p.add("?eventCountLimit", v.Get("eventCountLimit"), "requires orderBy (eventTime or recordTime)")
	}
	if _, ok := v["orderDirection"]; !ok && q.OrderBy != "" {
		q.Descending = true
	}
	if err := p.err("invalid event query"); err != nil {
		return EventQuery{}, err
	}
	if q.PerPage == 0 {
		q.PerPage = DefaultPerPage
	}
	if q.OrderBy == "" {
		q.OrderBy = "recordTime"
	}
	return q, nil
}

// listParams take "|"-separated values (as do the MATCH_ ones).
var listParams = map[string]struct{}{"eventType": {}, "EQ_action": {}, "EQ_bizStep": {}, "EQ_disposition": {},
	"EQ_readPoint": {}, "EQ_bizLocation": {}, "EQ_eventID": {}}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, "|") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func normalizeAll(list []string) []string {
	for i, s := range list {
		list[i] = NormalizeCBV(s)
	}
	return list
}
