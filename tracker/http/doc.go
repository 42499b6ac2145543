// Package http serves the tracker's EPCIS 2.0 REST binding subset over
// net/http: capture, event queries, EPC histories, current location, health
// and Prometheus metrics. Errors are RFC 7807 problem documents whose
// "errors" member names each invalid field by JSON pointer (or "?param" for
// a query parameter) together with the offending value.
//
// Identifiers in paths (eventIDs, EPCs) must be percent-encoded as one path
// segment: GET /events/ni:%2F%2F%2Fsha-256%3B…%3Fver=CBV2.0.
package http
