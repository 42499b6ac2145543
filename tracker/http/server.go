package http

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetrace/edgetrace/tracker"
)

// DefaultMaxBody is the default request body limit.
const DefaultMaxBody = 16 << 20

// Options configure a Server.
type Options struct {
	Capture  tracker.CaptureService
	Events   tracker.EventService
	Tracking tracker.TrackingService
	// TrackingEnabled=false (TRACKING_ENABLED=false) switches the location
	// endpoint off: it answers 503. Capture and event queries still work, and
	// the store keeps maintaining current state, so switching tracking back on
	// needs no rebuild.
	TrackingEnabled bool
	// Ready backs /readyz (store open and migrated).
	Ready func(context.Context) error
	// MaxBody limits request bodies; default DefaultMaxBody.
	MaxBody int64
	// MaxEvent, when set, limits one event's JSON: a synced event is one
	// broker message, and a message over the broker's max_message_size is
	// refused by it for ever, holding up its edge's sync behind it.
	MaxEvent int
	// Registry receives the metrics; default a fresh registry.
	Registry *prometheus.Registry
	// StoreSize and CacheStats, when set, are exported as metrics.
	StoreSize  func() int64
	WriterBusy func() time.Duration
	CacheStats func() (hits, misses uint64)
	// HealthDetail, when set, is served as JSON under "sync" by /healthz
	// (the sync worker's or hub consumer's state). It is information only:
	// /healthz stays 200 and /readyz ignores it, because a node without its
	// broker must keep capturing and answering.
	HealthDetail func() any
	Log          *slog.Logger
}

// Server is the tracker's HTTP API.
type Server struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
}

// New returns a Server; Handler serves it.
func New(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{opts: o, log: o.Log}
	if s.log == nil {
		s.log = discardLogger
	}
	s.metrics = newMetrics(o.Registry, o)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /capture", s.handleCapture)
	mux.HandleFunc("GET /capture/{id}", s.handleCaptureJob)
	mux.HandleFunc("POST /events", s.handlePostEvent)
	mux.HandleFunc("GET /events", s.handleEvents)
	mux.HandleFunc("GET /events/{eventID}", s.handleEvent)
	mux.HandleFunc("GET /epcs/{epc}/events", s.handleHistory)
	mux.HandleFunc("GET /epcs/{epc}/location", s.handleLocation)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if o.HealthDetail == nil {
			io.WriteString(w, "ok\n")
			return
		}
		writeJSON(w, "application/json", map[string]any{"status": "ok", "sync": o.HealthDetail()})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	// Unknown paths and wrong methods get problem documents, not text/plain
	// (this catch-all also keeps the mux from answering 405 itself).
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		allow := allowedMethods(mux, r)
		switch {
		case len(allow) == 0 && unescapedEPC(r.URL.Path):
			s.writeError(w, r, tracker.Errorf(tracker.ENOTFOUND, "no route for %s %s: %s", r.Method, r.URL.Path, escapeEPCHint))
		case len(allow) == 0:
			s.writeError(w, r, tracker.Errorf(tracker.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
		case r.Method == http.MethodOptions:
			w.Header().Set("Allow", strings.Join(append(allow, http.MethodOptions), ", "))
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeProblem(w, r, Problem{Type: problemBase + "method_not_allowed", Status: http.StatusMethodNotAllowed,
				Detail: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		}
	})
	s.handler = s.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect a path with "//" to its cleaned form, which
		// for an unescaped Digital Link EPC ("https://id.gs1.org/...") is a
		// path with no route: answer with how to send it instead.
		if strings.HasPrefix(r.URL.Path, "/epcs/") && strings.Contains(r.URL.Path, "//") {
			s.writeError(w, r, tracker.Errorf(tracker.ENOTFOUND, "no route for %s %s: %s", r.Method, r.URL.Path, escapeEPCHint))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	return s
}

const escapeEPCHint = "if the EPC has a / in it (a GS1 Digital Link URI), send it percent-escaped, / as %2F"

// unescapedEPC reports a path under /epcs/ with more segments than any
// route there has: most likely an EPC with slashes in it, sent unescaped.
func unescapedEPC(path string) bool {
	rest, ok := strings.CutPrefix(path, "/epcs/")
	return ok && strings.Count(rest, "/") > 1
}

// allowedMethods lists the methods with a route for r's path other than the
// catch-all.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// bufPool recycles request body buffers: capture bodies are up to MaxBody and
// allocating them per request dominates GC under load.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody enforces content type and size and returns the body. The returned
// release func gives the buffer back; the bytes are invalid afterwards.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && mt != "application/ld+json") {
		return nil, nil, &tracker.Error{Code: tracker.EUNSUPPORTED, Message: "unsupported content type",
			Fields: []tracker.FieldError{{Pointer: "Content-Type", Value: ct, Detail: "must be application/json or application/ld+json"}}}
	}
	// JSON is UTF-8 (RFC 8259 §8.1); a body declared in another charset
	// would be stored as bytes its sender did not mean.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, nil, &tracker.Error{Code: tracker.EUNSUPPORTED, Message: "unsupported charset",
			Fields: []tracker.FieldError{{Pointer: "Content-Type", Value: ct, Detail: "charset must be utf-8 (or left out)"}}}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	release := func() {
		if buf.Cap() <= 1<<20 { // don't pin huge buffers
			bufPool.Put(buf)
		}
	}
	_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			size := "more than " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
			if r.ContentLength > 0 {
				size = strconv.FormatInt(r.ContentLength, 10) + " bytes"
			}
			return nil, nil, &tracker.Error{Code: tracker.ETOOLARGE, Message: "request body too large",
				Fields: []tracker.FieldError{{Pointer: "/", Value: size,
					Detail: fmt.Sprintf("the body may be at most %d bytes (TRACKER_MAX_BODY)", mbe.Limit)}}}
		}
		return nil, nil, tracker.Errorf(tracker.EINVALID, "reading request body: %v", err)
	}
	return buf.Bytes(), release, nil
}

func (s *Server) handleCapture(w http.ResponseWriter, r *http.Request) {
	if b := r.Header.Get("GS1-Capture-Error-Behaviour"); b != "" && b != "rollback" {
		s.captureFailed(w, r, &tracker.Error{Code: tracker.EINVALID, Message: "unsupported capture error behaviour",
			Fields: []tracker.FieldError{{Pointer: "GS1-Capture-Error-Behaviour", Value: b, Detail: "only rollback is supported: a capture is all-or-nothing"}}})
		return
	}
	body, release, err := s.readBody(w, r)
	if err != nil {
		s.captureFailed(w, r, err)
		return
	}
	events, err := tracker.DecodeDocument(body)
	if err == nil {
		err = s.checkEventSizes(events)
	}
	if err != nil {
		release()
		s.captureFailed(w, r, err)
		return
	}
	job, err := s.opts.Capture.Capture(r.Context(), events)
	release() // events hold slices of body until stored
	if err != nil {
		s.captureFailed(w, r, err)
		return
	}
	s.captured(job)
	w.Header().Set("Location", "/capture/"+job.ID)
	w.Header().Set("GS1-EPCIS-Version", "2.0.0")
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) handlePostEvent(w http.ResponseWriter, r *http.Request) {
	body, release, err := s.readBody(w, r)
	if err != nil {
		s.captureFailed(w, r, err)
		return
	}
	ev, err := tracker.DecodeEvent(body)
	if err == nil {
		err = s.checkEventSizes([]*tracker.Event{ev})
	}
	if err != nil {
		release()
		s.captureFailed(w, r, err)
		return
	}
	job, err := s.opts.Capture.Capture(r.Context(), []*tracker.Event{ev})
	release()
	if err != nil {
		s.captureFailed(w, r, err)
		return
	}
	s.captured(job)
	w.Header().Set("Location", "/events/"+url.PathEscape(ev.ID))
	w.Header().Set("GS1-EPCIS-Version", "2.0.0")
	w.WriteHeader(http.StatusCreated)
}

// checkEventSizes refuses (413) a capture with an event over MaxEvent,
// naming each one.
func (s *Server) checkEventSizes(events []*tracker.Event) error {
	if s.opts.MaxEvent <= 0 {
		return nil
	}
	var fields []tracker.FieldError
	for _, ev := range events {
		if n := len(ev.Raw); n > s.opts.MaxEvent {
			fields = append(fields, tracker.FieldError{Pointer: cmp.Or(ev.Pointer, "/"), Value: strconv.Itoa(n),
				Detail: fmt.Sprintf("the event is %d bytes of JSON; events synced to the hub may be at most %d (one broker message each)", n, s.opts.MaxEvent)})
		}
	}
	if fields != nil {
		return &tracker.Error{Code: tracker.ETOOLARGE, Message: "event too large to sync", Fields: fields}
	}
	return nil
}

func (s *Server) captureFailed(w http.ResponseWriter, r *http.Request, err error) {
	err = cancelled(err)
	s.metrics.captures.WithLabelValues(tracker.ErrorCode(err)).Inc()
	s.writeError(w, r, err)
}

func (s *Server) captured(job *tracker.CaptureJob) {
	s.metrics.captures.WithLabelValues("ok").Inc()
	s.metrics.captured.WithLabelValues("stored").Add(float64(job.StoredCount))
	s.metrics.captured.WithLabelValues("duplicate").Add(float64(job.EventCount - job.StoredCount))
}

func (s *Server) handleCaptureJob(w http.ResponseWriter, r *http.Request) {
	job, err := s.opts.Capture.CaptureJob(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, "application/json", job)
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := s.opts.Events.Event(r.Context(), r.PathValue("eventID"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/ld+json")
	w.Write(ev.JSON)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := tracker.ParseEventQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.answerQuery(w, r, q)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	for _, k := range []string{"MATCH_anyEPC", "MATCH_epc", "MATCH_parentID"} {
		if v.Has(k) {
			s.writeError(w, r, &tracker.Error{Code: tracker.EINVALID, Message: "invalid event query",
				Fields: []tracker.FieldError{{Pointer: "?" + k, Value: v.Get(k), Detail: "not allowed here: the path names the EPC"}}})
			return
		}
	}
	if !v.Has("orderBy") {
		// A history reads oldest first unless the client chooses an order.
		v.Set("orderBy", "eventTime")
		if !v.Has("orderDirection") {
			v.Set("orderDirection", "ASC")
		}
	}
	q, err := tracker.ParseEventQuery(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The EPC as given: not split on "|" as a MATCH_anyEPC value would be.
	q.Matches = append(q.Matches, tracker.MatchAnyEPC(r.PathValue("epc")))
	s.answerQuery(w, r, q)
}

// queryDocument is the EPCISQueryDocument envelope GET /events answers with.
type queryDocument struct {
	Context       []any  `json:"@context"`
	Type          string `json:"type"`
	SchemaVersion string `json:"schemaVersion"`
	CreationDate  string `json:"creationDate"`
	EPCISBody     struct {
		QueryResults struct {
			QueryName   string `json:"queryName"`
			ResultsBody struct {
				EventList []json.RawMessage `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}

const epcisContext = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

func (s *Server) answerQuery(w http.ResponseWriter, r *http.Request, q tracker.EventQuery) {
	page, err := s.opts.Events.Events(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var doc queryDocument
	doc.Context = []any{epcisContext}
	doc.Type = "EPCISQueryDocument"
	doc.SchemaVersion = "2.0"
	doc.CreationDate = nowRFC3339()
	doc.EPCISBody.QueryResults.QueryName = "SimpleEventQuery"
	list := make([]json.RawMessage, len(page.Events))
	for i, e := range page.Events {
		list[i] = e.JSON
	}
	doc.EPCISBody.QueryResults.ResultsBody.EventList = list
	if page.NextPageToken != "" {
		// The REST binding passes the continuation in a Link header and the
		// header GS1-Next-Page-Token; both carry the same token.
		next := *r.URL
		qv := next.Query()
		qv.Set("nextPageToken", page.NextPageToken)
		next.RawQuery = qv.Encode()
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
		w.Header().Set("GS1-Next-Page-Token", page.NextPageToken)
	}
	writeJSON(w, "application/ld+json", doc)
}

func (s *Server) handleLocation(w http.ResponseWriter, r *http.Request) {
	if !s.opts.TrackingEnabled {
		s.writeError(w, r, tracker.Errorf(tracker.EUNAVAILABLE, "tracking is disabled (TRACKING_ENABLED=false)"))
		return
	}
	epc := r.PathValue("epc")
	if enc, ok := s.opts.Tracking.(locationEncoder); ok {
		b, err := enc.LocationJSON(r.Context(), epc)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	loc, err := s.opts.Tracking.Location(r.Context(), epc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, "application/json", loc)
}

// locationEncoder is a TrackingService that keeps its answers encoded (the
// cache does): a hit is then written as is, with no encoding per request.
type locationEncoder interface {
	LocationJSON(ctx context.Context, epc string) ([]byte, error)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(r.Context()); err != nil {
			s.writeError(w, r, tracker.Errorf(tracker.EUNAVAILABLE, "not ready: %v", tracker.ErrorMessage(err)))
			return
		}
	}
	io.WriteString(w, "ready\n")
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only unencodable types, which these are not
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(b)
}

// nowRFC3339 is a variable so tests can pin creationDate.
var nowRFC3339 = func() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00") }
