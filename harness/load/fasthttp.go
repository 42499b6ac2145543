package load

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// fastTransport carries vegeta's requests over fasthttp; vegeta still keeps
// the schedule and the metrics. With net/http's client (two goroutines per
// connection, channel hand-offs on every request) the generator took 1.4 of
// the machine's two cores to offer 20,000 req/s to a bare handler, whose
// P50 then read 15-90 ms; over fasthttp it takes ~0.75 and the P50 reads
// 0.1 ms. Of the answer only the status, Location and error bodies are
// kept (vegeta's metrics read only the status).
type fastTransport struct {
	c *fasthttp.Client
}

func newFastTransport(conns int, timeout time.Duration) *fastTransport {
	return &fastTransport{c: &fasthttp.Client{
		MaxConnsPerHost:               conns,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxConnWaitTimeout:            timeout,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}}
}

func (t *fastTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.URL.String())
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		req.SetBodyRaw(body)
	}
	if err := t.c.Do(req, resp); err != nil {
		return nil, err
	}
	out := &http.Response{
		StatusCode: resp.StatusCode(),
		Status:     fmt.Sprintf("%d %s", resp.StatusCode(), http.StatusText(resp.StatusCode())),
		Header:     http.Header{},
		Body:       io.NopCloser(bytes.NewReader(nil)),
		Request:    r,
	}
	if loc := resp.Header.Peek("Location"); len(loc) > 0 {
		out.Header.Set("Location", string(loc))
	}
	if out.StatusCode >= 400 {
		// Keep error bodies: they name what went wrong.
		out.Body = io.NopCloser(bytes.NewReader(append([]byte(nil), resp.Body()...)))
	}
	return out, nil
}
