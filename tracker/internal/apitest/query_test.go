package apitest

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

// TestEventQueryParameters runs each query parameter the tracker supports
// against five known events and checks exactly which come back, in which
// order.
func TestEventQueryParameters(t *testing.T) {
	const (
		a, b, c, d = "urn:epc:id:sgtin:4012345.098765.1", "urn:epc:id:sgtin:4012345.098765.2",
			"urn:epc:id:sgtin:4012345.098765.3", "urn:epc:id:sgtin:4012345.098765.4"
		pallet   = "urn:epc:id:sscc:4012345.0000000077"
		class    = "urn:epc:class:lgtin:4012345.012345.998877"
		rp1, rp2 = "urn:epc:id:sgln:4012345.00011.1", "urn:epc:id:sgln:4012345.00011.2"
		l1, l2   = "urn:epc:id:sgln:4012345.00012.0", "urn:epc:id:sgln:4012345.00013.0"
	)
	common := func(id, typ, at, rp, loc string) string {
		return `{"eventID":"` + id + `","type":"` + typ + `","eventTime":"2026-01-01T` + at + `:00:00Z","eventTimeZoneOffset":"+00:00",` +
			`"readPoint":{"id":"` + rp + `"},"bizLocation":{"id":"` + loc + `"},`
	}
	// Captured in this order, one request each: record order e1…e5; event
	// time order e1, e3, e2, e5, e4.
	events := []string{
		common("urn:uuid:e1", "ObjectEvent", "01", rp1, l1) +
			`"action":"ADD","epcList":["` + a + `"],"bizStep":"commissioning","disposition":"active"}`,
		common("urn:uuid:e2", "ObjectEvent", "03", rp2, l2) +
			`"action":"OBSERVE","epcList":["` + a + `","` + b + `"],"bizStep":"shipping","disposition":"in_transit"}`,
		common("urn:uuid:e3", "AggregationEvent", "02", rp1, l1) +
			`"action":"ADD","parentID":"` + pallet + `","childEPCs":["` + b + `"],"bizStep":"packing"}`,
		common("urn:uuid:e4", "ObjectEvent", "05", rp2, l2) +
			`"action":"DELETE","epcList":["` + c + `"],"bizStep":"decommissioning","disposition":"inactive"}`,
		common("urn:uuid:e5", "TransformationEvent", "04", rp1, l2) +
			`"inputEPCList":["` + c + `"],"outputEPCList":["` + d + `"],"outputQuantityList":[{"epcClass":"` + class + `","quantity":3}]}`,
	}
	e := newEnv(t, envOpts{noSync: true})
	for _, ev := range events {
		if r := e.capture(doc(ev)); r.code != 202 {
			t.Fatalf("capture = %d %s", r.code, r.body)
		}
	}
	q := url.QueryEscape
	for _, tc := range []struct {
		query string
		want  string // event numbers in answer order
	}{
		{"", "12345"},
		{"eventType=ObjectEvent", "124"},
		{"eventType=AggregationEvent|TransformationEvent", "35"},
		{"EQ_action=ADD", "13"},
		{"EQ_action=OBSERVE|DELETE", "24"},
		{"EQ_bizStep=shipping", "2"},
		{"EQ_bizStep=" + q("urn:epcglobal:cbv:bizstep:shipping|urn:epcglobal:cbv:bizstep:packing"), "23"},
		{"EQ_disposition=active|inactive", "14"},
		{"EQ_readPoint=" + q(rp1), "135"},
		{"EQ_bizLocation=" + q(l2), "245"},
		{"EQ_bizLocation=" + q(l1+"|"+l2), "12345"},
		{"MATCH_epc=" + q(a), "12"},
		{"MATCH_epc=" + q(c+"|"+b), "234"}, // childEPCs count as epc
		{"MATCH_parentID=" + q(pallet), "3"},
		{"MATCH_inputEPC=" + q(c), "5"},
		{"MATCH_outputEPC=" + q(d), "5"},
		{"MATCH_anyEPC=" + q(b), "23"},
		{"MATCH_anyEPC=" + q(c), "45"},
		{"MATCH_anyEPC=" + q(pallet), "3"},
		{"MATCH_anyEPCClass=" + q(class), "5"},
		{"EQ_eventID=" + q("urn:uuid:e2|urn:uuid:e4"), "24"},
		{"GE_eventTime=" + q("2026-01-01T03:00:00Z"), "245"},
		{"LT_eventTime=" + q("2026-01-01T03:00:00Z"), "13"},
		{"GE_eventTime=" + q("2026-01-01T02:00:00Z") + "&LT_eventTime=" + q("2026-01-01T04:00:00Z"), "23"},
		{"GE_eventTime=" + q("2026-01-01T03:00:00+01:00"), "2345"}, // 02:00Z
		{"orderBy=eventTime", "45231"}, // descending unless told
		{"orderBy=eventTime&orderDirection=ASC", "13254"},
		{"orderBy=recordTime", "54321"},
		{"orderBy=recordTime&orderDirection=ASC", "12345"},
		{"orderBy=eventTime&eventCountLimit=1", "4"}, // the latest event
		{"orderBy=eventTime&orderDirection=ASC&eventCountLimit=2", "13"},
		{"eventType=ObjectEvent&EQ_bizLocation=" + q(l2) + "&orderBy=eventTime", "42"},
		{"MATCH_anyEPC=" + q(a) + "&EQ_action=ADD", "1"},
		{"EQ_bizStep=receiving", ""},
		// Pure-identity patterns, wildcards trailing.
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.098765.*"), "1234"},
		{"MATCH_anyEPC=" + q("urn:epc:idpat:sgtin:4012345.*.*"), "12345"},
		{"MATCH_anyEPC=" + q("urn:epc:idpat:sscc:4012345.*"), "3"},
		{"MATCH_anyEPC=" + q("urn:epc:idpat:sgtin:*.*.*"), "12345"},
		{"MATCH_outputEPC=" + q("urn:epc:idpat:sgtin:4012345.098765.4|urn:epc:idpat:sscc:4012345.*"), "5"},
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.09876.*"), ""},    // a prefix of the item reference is another item
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.098765.2"), "23"}, // no wildcard: that EPC
	} {
		r := e.get("/events?" + tc.query)
		if r.code != 200 {
			t.Errorf("GET /events?%s = %d %s", tc.query, r.code, r.body)
			continue
		}
		var res queryDoc
		r.json(t, &res)
		var got []string
		for _, id := range res.ids() {
			got = append(got, strings.TrimPrefix(id, "urn:uuid:e"))
		}
		if g := strings.Join(got, ""); g != tc.want {
			t.Errorf("GET /events?%s = events %q, want %q", tc.query, g, tc.want)
		}
	}
	// Refused, naming the parameter and value.
	for _, tc := range []struct{ query, names string }{
		{"eventCountLimit=1", `"?eventCountLimit"`}, // the standard asks for orderBy with it
		{"orderBy=bizStep", `"?orderBy"`},
		{"orderDirection=UP", `"?orderDirection"`},
		{"EQ_action=MOVE&orderBy=eventTime", `"MOVE"`},
		{"eventType=ObjectEvent&eventType=AggregationEvent", `"?eventType"`},
		{"GE_eventTime=yesterday", `"yesterday"`},
		{"MATCH_epc=", `"?MATCH_epc"`},
		{"EQ_quantity=3", `"?EQ_quantity"`},
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.*.1"), `only trailing *`},
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.098765.1*"), `only whole fields`},
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin:4012345.098765.[1-3]"), `only whole fields`},
		{"MATCH_epc=" + q("urn:epc:idpat:sgtin"), `not an EPC pattern`},
		{"MATCH_anyEPCClass=" + q("urn:epc:idpat:sgtin:4012345.012345.*"), `class patterns`},
	} {
		r := e.get("/events?" + tc.query)
		if r.code != 400 || !bytes.Contains(r.body, []byte(tc.names)) {
			t.Errorf("GET /events?%s = %d %s; want 400 naming %s", tc.query, r.code, r.body, tc.names)
		}
	}
}
