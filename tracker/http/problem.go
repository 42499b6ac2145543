package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/edgetrace/edgetrace/tracker"
)

// statusOf is the one place that maps domain error codes to HTTP status.
var statusOf = map[string]int{
	tracker.EINVALID:     http.StatusBadRequest,
	tracker.ENOTFOUND:    http.StatusNotFound,
	tracker.ECONFLICT:    http.StatusConflict,
	tracker.ETOOLARGE:    http.StatusRequestEntityTooLarge,
	tracker.EUNSUPPORTED: http.StatusUnsupportedMediaType,
	tracker.EUNAVAILABLE: http.StatusServiceUnavailable,
	tracker.EINTERNAL:    http.StatusInternalServerError,
}

// problemBase prefixes problem types; the fragment is the error code, so a
// client can branch on "type" without parsing prose.
const problemBase = "https://edgetrace.dev/problems/"

// Problem is an RFC 7807 problem document.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Errors   []tracker.FieldError `json:"errors,omitempty"`
}

// writeError answers with the problem document for err and logs internal
// errors (the only place they are logged).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	err = cancelled(err)
	code := tracker.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == tracker.EINTERNAL {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.writeProblem(w, r, Problem{Type: problemBase + code, Status: status,
		Detail: tracker.ErrorMessage(err), Errors: tracker.ErrorFields(err)})
}

// writeProblem answers with p, filling in its title and instance.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	status := p.Status
	p.Title, p.Instance = http.StatusText(status), r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(p); err != nil {
		s.log.Debug("write problem", "err", err)
	}
}

// discardLogger is the default: a library logs nothing unless asked.
var discardLogger = slog.New(slog.DiscardHandler)

// cancelled turns a cancelled request's error into EUNAVAILABLE: the client
// went away or the server is shutting down, which is not a fault to log or
// count as internal, and the answer is likely unread anyway.
func cancelled(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tracker.Errorf(tracker.EUNAVAILABLE, "request cancelled")
	}
	return err
}
