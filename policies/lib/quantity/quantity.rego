# METADATA
# title: Kubernetes resource quantities
# description: |
#   Parses quantities exactly as k8s.io/apimachinery resource.ParseQuantity does (the
#   function behind CEL's quantity() and isQuantity()) and compares them without
#   floating point: a value is kept as sign, significant digits and a decimal exponent.
#   Values are rounded up to a multiple of 1n and binary-suffixed values are capped at
#   2^63-1, as Kubernetes does.
package lib.quantity

import future.keywords.if
import future.keywords.in

# The scanner of parseQuantityString, as one regular expression: sign, integer digits,
# optional fraction, suffix letters, then an optional signed run of digits.
_grammar := `^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*)([+-]?[0-9]*)$`

_si := {
	"": [10, 0], "n": [10, -9], "u": [10, -6], "m": [10, -3], "k": [10, 3],
	"M": [10, 6], "G": [10, 9], "T": [10, 12], "P": [10, 15], "E": [10, 18],
	"Ki": [2, 10], "Mi": [2, 20], "Gi": [2, 30], "Ti": [2, 40], "Pi": [2, 50], "Ei": [2, 60],
}

_max_int64 := "9223372036854775807"

# METADATA
# description: |
#   text is the string a manifest value stands for: strings as they are, anything else
#   (a YAML number such as cpu: 1) as written, like CEL's string().
text(x) := x if is_string(x)

text(x) := sprintf("%v", [x]) if not is_string(x)

# METADATA
# description: is_quantity holds when x parses as a Kubernetes quantity.
is_quantity(x) if parse(x)

# METADATA
# description: |
#   comparable holds for a quantity within bounded(): those are the only values the
#   bundle parses and compares, in both engines.
comparable(x) if {
	bounded(x)
	is_quantity(x)
}

# METADATA
# description: |
#   bounded holds for a text of at most 64 characters whose decimal exponent, if any,
#   has at most two digits. Kubernetes parses "1e-2147483649" by wrapping its int32
#   exponent to 2^31-1 and then computes 10^2147483647, in ParseQuantity itself for
#   some values and in Cmp for others; neither returns. CEL's isQuantity() and quantity()
#   are that code, so no value outside these bounds may reach them.
bounded(x) if {
	s := text(x)
	count(s) <= 64
	not regex.match(`[eE][+-]?0*[1-9][0-9]{2,}$`, s)
}

# METADATA
# description: |
#   parse returns {"sign": -1|0|1, "digits": D, "exp": E} with |value| = 0.D × 10^E
#   (D without leading or trailing zeros); undefined when x is not a quantity.
parse(x) := q if {
	s := text(x)
	s != ""
	[[_, sign, whole, frac, letters, tail]] := regex.find_all_string_submatch_n(_grammar, s, 1)
	[base, exp] := _suffix(concat("", [letters, tail]))
	_scannable(whole, frac, base, exp)
	q := _finish(sign, _magnitude(concat("", [whole, frac]), count(frac), base, exp), base)
}

# METADATA
# description: compare returns -1, 0 or 1 as quantity a is below, equal to or above b.
compare(a, b) := compare_parsed(parse(a), parse(b))

# METADATA
# description: compare_parsed is compare on values parse returned (parse each value once).
compare_parsed(a, b) := _cmp(a, b)

_suffix(s) := _si[s]

_suffix(s) := [10, _int32(substring(s, 1, -1))] if {
	not _si[s]
	regex.match(`^[eE][+-]?[0-9]+$`, s)
	_fits_int64(substring(s, 1, -1))
}

# strconv.ParseInt(s, 10, 64) succeeds.
_fits_int64(s) if {
	digits := trim_left(trim_left(s, "+-"), "0")
	_within(digits, _int64_bound(s))
}

_int64_bound(s) := "9223372036854775808" if startswith(s, "-")

_int64_bound(s) := _max_int64 if not startswith(s, "-")

_within(digits, bound) if count(digits) < count(bound)

_within(digits, bound) if {
	count(digits) == count(bound)
	digits <= bound
}

# Go's int32(parsed): the exponent wraps modulo 2^32.
_int32(s) := w if {
	r := ((to_number(trim_left(s, "+")) % 4294967296) + 4294967296) % 4294967296
	w := _signed32(r)
}

_signed32(r) := r if r < 2147483648

_signed32(r) := r - 4294967296 if r >= 2147483648

# A number part without any digit ("", "+", ".") is zero, except where Kubernetes takes
# its slow path (a decimal scale below 1n) and fails to read it.
_scannable(whole, frac, _, _) if concat("", [whole, frac]) != ""

# Binary suffixes: Kubernetes' fast path (taken up to Ti) reads an empty number as zero.
_scannable("", "", 2, exp) if exp <= 40

_scannable("", "", 10, exp) if exp >= -9

# _magnitude is [digits, exponent10] with |value| = digits × 10^exponent10.
_magnitude(m, scale, 10, exp) := [trim_left(m, "0"), exp - scale]

_magnitude(m, scale, 2, exp) := [_times_pow2(trim_left(m, "0"), exp), 0 - scale]

_times_pow2("", _) := ""

# bits.lsh is exact on integers below 2^64, which every 19-digit mantissa is.
_times_pow2(m, exp) := sprintf("%v", [bits.lsh(to_number(m), exp)]) if {
	m != ""
	count(m) <= 19
}

_times_pow2(m, exp) := _doubled(m, exp) if count(m) > 19

# Longer mantissas are doubled digit by digit: doubling carries at most one into the
# next digit, so every output digit depends only on its own and its right neighbour.
_doubled(m, 10) := _by_1024(m)

_doubled(m, 20) := _by_1024(_by_1024(m))

_doubled(m, 30) := _by_1024(_by_1024(_by_1024(m)))

_doubled(m, 40) := _by_1024(_by_1024(_by_1024(_by_1024(m))))

_doubled(m, 50) := _by_1024(_by_1024(_by_1024(_by_1024(_by_1024(m)))))

_doubled(m, 60) := _by_1024(_by_1024(_by_1024(_by_1024(_by_1024(_by_1024(m))))))

_by_1024(m) := x10 if {
	x1 := _double(m)
	x2 := _double(x1)
	x3 := _double(x2)
	x4 := _double(x3)
	x5 := _double(x4)
	x6 := _double(x5)
	x7 := _double(x6)
	x8 := _double(x7)
	x9 := _double(x8)
	x10 := _double(x9)
}

_double(m) := concat("", array.concat(_carry_out(ds), [d |
	some i in numbers.range(0, count(ds) - 1)
	d := format_int(((2 * ds[i]) % 10) + _carry(padded[i + 1]), 10)
])) if {
	ds := [to_number(c) | some c in split(m, "")]
	padded := array.concat(ds, [0])
}

_carry_out(ds) := [d | d := "1"; ds[0] >= 5]

_carry(d) := 1 if d >= 5

_carry(d) := 0 if d < 5

# _finish normalises [digits, exponent10] into the canonical form, rounds up to 1n and
# caps binary-suffixed values.
_finish(_, ["", _], _) := {"sign": 0, "digits": "", "exp": 0}

_finish(sign, [m, e10], base) := {"sign": _sign(sign), "digits": d, "exp": e} if {
	m != ""
	[d, e] := _cap(_round([trim_right(m, "0"), count(m) + e10]), base)
}

_sign("-") := -1

_sign(s) := 1 if s != "-"

_round([d, e]) := [d, e] if e - count(d) >= -9

_round([d, e]) := ["1", -8] if {
	e - count(d) < -9
	e <= -9
}

_round([d, e]) := _increment(substring(d, 0, e + 9), e) if {
	e - count(d) < -9
	e > -9
}

_increment(t, e) := ["1", e + 1] if regex.match(`^9+$`, t)

_increment(t, e) := [concat("", [substring(u, 0, n - 1), format_int(to_number(substring(u, n - 1, 1)) + 1, 10)]), e] if {
	not regex.match(`^9+$`, t)
	u := trim_right(t, "9")
	n := count(u)
}

_cap(q, 10) := q

_cap([d, e], 2) := [d, e] if not _above_max(d, e)

_cap([d, e], 2) := [_max_int64, 19] if _above_max(d, e)

_above_max(_, e) if e > 19

_above_max(d, 19) if d > _max_int64

_cmp(a, b) := 0 if a == b

_cmp(a, b) := -1 if a.sign < b.sign

_cmp(a, b) := 1 if a.sign > b.sign

_cmp(a, b) := a.sign * _cmp_magnitude(a, b) if {
	a.sign == b.sign
	a != b
}

_cmp_magnitude(a, b) := -1 if a.exp < b.exp

_cmp_magnitude(a, b) := 1 if a.exp > b.exp

_cmp_magnitude(a, b) := -1 if {
	a.exp == b.exp
	a.digits < b.digits
}

_cmp_magnitude(a, b) := 1 if {
	a.exp == b.exp
	a.digits > b.digits
}
