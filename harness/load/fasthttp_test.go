package load

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFastTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" && string(body) == `{"a":1}`:
			w.Header().Set("Location", "/capture/42")
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "got "+r.Header.Get("Content-Type")+" "+string(body))
		case r.RequestURI == "/epcs/a%2Fb/location":
			io.WriteString(w, "{}")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tr := newFastTransport(4, 5*time.Second)

	do := func(method, path string, body []byte, hdr http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if hdr != nil {
			req.Header = hdr
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	if resp, _ := do(http.MethodGet, "/epcs/a%2Fb/location", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with an escaped path: %d, want 200 (the path must go out as given)", resp.StatusCode)
	}
	resp, _ := do(http.MethodPost, "/capture", []byte(`{"a":1}`), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") != "/capture/42" {
		t.Errorf("POST: %d Location %q, want 202 /capture/42", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := do(http.MethodPost, "/capture", []byte(`{"b":2}`), http.Header{"Content-Type": {"text/plain"}})
	if resp.StatusCode != http.StatusBadRequest || string(body) != `got text/plain {"b":2}` {
		t.Errorf("error answer: %d %q, want 400 with the server's body", resp.StatusCode, body)
	}

	// A refused connection is an error, not a response.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Error("request to a closed port succeeded")
	}
}
