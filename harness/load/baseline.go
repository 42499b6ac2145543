package load

import (
	"net/http"
)

// baselineBody is shaped like a tracking answer (about the same size), so the
// baseline differs from the tracker only in the work behind the response.
var baselineBody = []byte(`{"epc":"urn:epc:id:sgtin:4012345.100001.1","bizLocation":"urn:epc:id:sgln:4012345.00003.0","readPoint":"urn:epc:id:sgln:4012345.00003.7","disposition":"retail_sold","bizStep":"retail_selling","eventTime":"2026-01-01T00:10:00Z","eventID":"urn:uuid:00000001-0000-4000-8000-000000000010","source":"urn:epc:id:sgtin:4012345.100001.1","parents":[]}` + "\n")

// BaselineHandler is a bare net/http handler: the ceiling any Go HTTP
// service on this machine can reach, measured in the same run as the tracker
// so figures are reported as a ratio to it.
func BaselineHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(baselineBody)
	})
}
