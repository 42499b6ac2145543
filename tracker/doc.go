// Package tracker is the domain of edgetrace's supply-chain tracker: EPCIS 2.0
// events, the EPCs they name, the current location of each EPC and the
// queries over them, plus the service interfaces the sub-packages implement.
//
// The package depends on nothing but the standard library. tracker/sqlite
// stores events, tracker/http serves the EPCIS REST binding subset,
// tracker/cache keeps tracking answers in memory, and tracker/cmd/tracker wires
// them into one binary. Those packages import this one, never each other.
//
// Errors returned by the services carry one of a small, closed set of codes
// (see Error); tracker/http maps each code to an HTTP status in one place.
package tracker
