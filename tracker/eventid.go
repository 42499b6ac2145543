package tracker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ContentHash returns the hex SHA-256 of the event's canonical form: the
// event with eventID and recordTime removed, members sorted, insignificant
// whitespace dropped and numbers kept as written. Two captures of the same
// event therefore hash alike however they were formatted, and a missing
// eventID is assigned as ni:///sha-256;<hash>?ver=CBV2.0.
//
// The canonical form is byte for byte what encoding/json produced when this
// decoded the event into a map[string]any (UseNumber) and encoded it again
// with sorted keys, no HTML escaping and a trailing newline: hashes stored
// by earlier versions stay valid, so a resend is still recognised as one.
// That round trip cost more than half of decoding an event; this walks the
// bytes once instead, and hands a string to encoding/json only when it holds
// an escape or a non-ASCII byte (rare in EPCIS, whose values are URIs).
//
// This is the tracker's own canonicalisation, not GS1's event-hash algorithm
// (which also normalises EPC spellings and CBV URIs); IDs it assigns are
// stable within edgetrace but will not equal those of other implementations.
func ContentHash(raw json.RawMessage) (string, error) {
	hash, _, err := contentHash(raw)
	return hash, err
}

// contentHash is ContentHash that also returns the JSON pointer (relative to
// the event) of the first member name repeated within one object, or "".
func contentHash(raw json.RawMessage) (hash, repeated string, err error) {
	c := canonPool.Get().(*canonicalizer)
	defer func() {
		c.in = nil // the pool keeps the output buffer, not the caller's event
		canonPool.Put(c)
	}()
	c.out, c.in, c.pos, c.path, c.repeated = c.out[:0], raw, 0, c.path[:0], ""
	c.skipSpace()
	if c.pos >= len(c.in) || c.in[c.pos] != '{' {
		return "", "", errors.New("content hash: an event must be a JSON object")
	}
	if err := c.object(true); err != nil {
		return "", "", fmt.Errorf("content hash: %w", err)
	}
	c.out = append(c.out, '\n')
	sum := sha256.Sum256(c.out)
	return hex.EncodeToString(sum[:]), c.repeated, nil
}

var canonPool = sync.Pool{New: func() any { return new(canonicalizer) }}

// canonicalizer writes the canonical form of the JSON value at in[pos:] to
// out. Its input has already been validated by encoding/json (it is an
// event that decoded), so it reports malformed input but does not try to
// describe it well.
type canonicalizer struct {
	in  []byte
	pos int
	out []byte

	path     []step // to the value being written
	repeated string // pointer to the first repeated member name
}

// step is a member name or, in an array, an index (name "", index ≥ 0).
type step struct {
	name  string
	index int
}

// pointer renders path plus name as a JSON pointer (RFC 6901).
func (c *canonicalizer) pointer(name string) string {
	var b strings.Builder
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	for _, s := range c.path {
		b.WriteByte('/')
		if s.name == "" {
			b.WriteString(strconv.Itoa(s.index))
		} else {
			b.WriteString(esc.Replace(s.name))
		}
	}
	b.WriteByte('/')
	b.WriteString(esc.Replace(name))
	return b.String()
}

var errMalformed = errors.New("malformed JSON")

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value() error {
	c.skipSpace()
	if c.pos >= len(c.in) {
		return errMalformed
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(false)
	case b == '[':
		return c.array()
	case b == '"':
		s, err := c.stringSpan()
		if err != nil {
			return err
		}
		return c.appendString(s)
	default: // number, true, false, null: written as they are
		start := c.pos
		if err := c.skipValue(); err != nil {
			return err
		}
		c.out = append(c.out, c.in[start:c.pos]...)
		return nil
	}
}

func isDelimiter(b byte) bool {
	switch b {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// member is one name/value pair of an object, as spans of the input.
type member struct {
	key   string // decoded
	start int    // of the value in the input
	end   int
}

// object writes the object at in[pos] with members sorted by decoded name
// (Go string order, as encoding/json sorts map keys). A repeated name keeps
// its last value, as decoding into a map did. At the top level eventID and
// recordTime are left out.
func (c *canonicalizer) object(top bool) error {
	c.pos++ // '{'
	var members []member
	for {
		c.skipSpace()
		if c.pos >= len(c.in) {
			return errMalformed
		}
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if len(members) > 0 {
			if c.in[c.pos] != ',' {
				return errMalformed
			}
			c.pos++
			c.skipSpace()
		}
		if c.pos >= len(c.in) || c.in[c.pos] != '"' {
			return errMalformed
		}
		span, err := c.stringSpan()
		if err != nil {
			return err
		}
		key, err := decodeString(span)
		if err != nil {
			return err
		}
		c.skipSpace()
		if c.pos >= len(c.in) || c.in[c.pos] != ':' {
			return errMalformed
		}
		c.pos++
		c.skipSpace()
		start := c.pos
		if err := c.skipValue(); err != nil {
			return err
		}
		members = append(members, member{key: key, start: start, end: c.pos})
	}
	// Stable, so that among repeated names the last comes last.
	slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	c.out = append(c.out, '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && members[i+1].key == m.key {
			if c.repeated == "" {
				c.repeated = c.pointer(m.key)
			}
			continue // a later value replaces this one
		}
		if top && (m.key == "eventID" || m.key == "recordTime") {
			continue
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		c.appendEncoded(m.key)
		c.out = append(c.out, ':')
		in, pos := c.in, c.pos
		c.in, c.pos = in[:m.end], m.start
		c.path = append(c.path, step{name: m.key})
		err := c.value()
		c.path = c.path[:len(c.path)-1]
		c.in, c.pos = in, pos
		if err != nil {
			return err
		}
	}
	c.out = append(c.out, '}')
	return nil
}

func (c *canonicalizer) array() error {
	c.pos++ // '['
	c.out = append(c.out, '[')
	for n := 0; ; n++ {
		c.skipSpace()
		if c.pos >= len(c.in) {
			return errMalformed
		}
		if c.in[c.pos] == ']' {
			c.pos++
			c.out = append(c.out, ']')
			return nil
		}
		if n > 0 {
			if c.in[c.pos] != ',' {
				return errMalformed
			}
			c.pos++
			c.out = append(c.out, ',')
		}
		c.path = append(c.path, step{index: n})
		err := c.value()
		c.path = c.path[:len(c.path)-1]
		if err != nil {
			return err
		}
	}
}

// skipValue moves past the value at in[pos] without writing it.
func (c *canonicalizer) skipValue() error {
	if c.pos >= len(c.in) {
		return errMalformed
	}
	switch c.in[c.pos] {
	case '"':
		_, err := c.stringSpan()
		return err
	case '{', '[':
		depth := 0
		for c.pos < len(c.in) {
			switch c.in[c.pos] {
			case '"':
				if _, err := c.stringSpan(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					c.pos++
					return nil
				}
			}
			c.pos++
		}
		return errMalformed
	default:
		start := c.pos
		for c.pos < len(c.in) && !isDelimiter(c.in[c.pos]) {
			c.pos++
		}
		if c.pos == start {
			return errMalformed
		}
		return nil
	}
}

// stringSpan returns the quoted string at in[pos], quotes included, and
// moves past it.
func (c *canonicalizer) stringSpan() ([]byte, error) {
	start := c.pos
	for i := c.pos + 1; i < len(c.in); i++ {
		switch c.in[i] {
		case '\\':
			i++
		case '"':
			c.pos = i + 1
			return c.in[start:c.pos], nil
		}
	}
	return nil, errMalformed
}

// plain reports whether a quoted string's content encodes as itself:
// printable ASCII with nothing to escape. Only such strings skip
// encoding/json.
func plain(quoted []byte) bool { return plainContent(quoted[1 : len(quoted)-1]) }

func plainContent[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x80 || b == '\\' || b == '"' {
			return false
		}
	}
	return true
}

func decodeString(quoted []byte) (string, error) {
	if plain(quoted) {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", err
	}
	return s, nil
}

// appendString writes a quoted string span in encoding/json's spelling.
func (c *canonicalizer) appendString(quoted []byte) error {
	if plain(quoted) {
		c.out = append(c.out, quoted...)
		return nil
	}
	s, err := decodeString(quoted)
	if err != nil {
		return err
	}
	c.appendEncoded(s)
	return nil
}

// appendEncoded writes s quoted as encoding/json quotes it with
// SetEscapeHTML(false).
func (c *canonicalizer) appendEncoded(s string) {
	if plainContent(s) {
		c.out = append(append(append(c.out, '"'), s...), '"')
		return
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes
	c.out = append(c.out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}
