package sqlite

import "strconv"

// jsonArgs builds the JSON array arguments of the bulk capture statements,
// which read them with jsonb_each: one bound argument carries every row, so
// a statement costs one call into SQLite however many rows it writes.
//
// Every value is followed by a comma; end and String drop the one before a
// closing bracket. The methods append, like append, and return the result.
type jsonArgs []byte

func (j jsonArgs) begin() jsonArgs { return append(j, '[') }

func (j jsonArgs) end() jsonArgs {
	return append(j.trimComma(), ']', ',')
}

func (j jsonArgs) trimComma() jsonArgs {
	if n := len(j); n > 0 && j[n-1] == ',' {
		return j[:n-1]
	}
	return j
}

func (j jsonArgs) int(n int64) jsonArgs {
	return append(strconv.AppendInt(j, n, 10), ',')
}

func (j jsonArgs) bool(v bool) jsonArgs {
	if v {
		return j.int(1)
	}
	return j.int(0)
}

// str encodes s as a JSON string. Event fields were validated (no control
// characters) but may hold quotes or backslashes; control characters are
// escaped all the same, so any string round-trips.
func (j jsonArgs) str(s string) jsonArgs {
	if !needsEscape(s) { // the common case, copied whole
		j = append(j, '"')
		j = append(j, s...)
		return append(j, '"', ',')
	}
	const hex = "0123456789abcdef"
	j = append(j, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			j = append(j, '\\', c)
		case c < 0x20:
			j = append(j, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			j = append(j, c)
		}
	}
	return append(j, '"', ',')
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			return true
		}
	}
	return false
}

// strOrNull encodes "" as null: the columns hold NULL for "not given".
func (j jsonArgs) strOrNull(s string) jsonArgs {
	if s == "" {
		return append(j, "null,"...)
	}
	return j.str(s)
}

func (j jsonArgs) strs(list []string) jsonArgs {
	j = j.begin()
	for _, s := range list {
		j = j.str(s)
	}
	return j.end()
}

// String returns the finished argument; j holds one top-level array.
func (j jsonArgs) String() string { return string(j.trimComma()) }
