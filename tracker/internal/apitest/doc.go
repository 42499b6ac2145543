// Package apitest holds the tracker's end-to-end API tests: the real HTTP
// handler over a real SQLite store, wired as tracker/cmd/tracker wires them.
// They live here, not in tracker/http, so that tracker/http never imports
// tracker/sqlite, not even from tests.
package apitest
