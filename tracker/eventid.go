package tracker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ContentHash returns the hex SHA-256 of the event's canonical form: the
// event with eventID and recordTime removed, members sorted, insignificant
// whitespace dropped and numbers kept as written. Two captures of the same
// event therefore hash alike however they were formatted, and a missing
// eventID is assigned as ni:///sha-256;<hash>?ver=CBV2.0.
//
// This is the tracker's own canonicalisation, not GS1's event-hash algorithm
// (which also normalises EPC spellings and CBV URIs); IDs it assigns are
// stable within edgetrace but will not equal those of other implementations.
func ContentHash(raw json.RawMessage) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return "", err
	}
	delete(m, "eventID")
	delete(m, "recordTime")
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(m); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}
