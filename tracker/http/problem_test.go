package http

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgetrace/edgetrace/tracker"
)

func TestEveryErrorCodeHasAStatus(t *testing.T) {
	want := map[string]int{
		tracker.EINVALID: 400, tracker.ENOTFOUND: 404, tracker.ECONFLICT: 409, tracker.ETOOLARGE: 413,
		tracker.EUNSUPPORTED: 415, tracker.EUNAVAILABLE: 503, tracker.EINTERNAL: 500,
	}
	if len(statusOf) != len(want) {
		t.Errorf("statusOf maps %d codes, want %d", len(statusOf), len(want))
	}
	s := New(Options{})
	for code, status := range want {
		w := httptest.NewRecorder()
		s.writeError(w, httptest.NewRequest("GET", "/x", nil), tracker.Errorf(code, "boom"))
		if w.Code != status {
			t.Errorf("%s → %d, want %d", code, w.Code, status)
		}
	}
	// Internal errors never leak their text.
	w := httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest("GET", "/x", nil), errors.New("open /secret/path.db: permission denied"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "/secret") {
		t.Errorf("internal error answered %d %s", w.Code, w.Body.String())
	}
}
