package lib.quantity_test

import data.lib.quantity
import future.keywords.every
import future.keywords.if
import future.keywords.in

# Expected values were read from k8s.io/apimachinery resource.ParseQuantity (v0.36.2).
test_spellings_of_one_half_cpu if {
	every s in ["0.5", "500m", ".5", "5e-1", "5E-1", "+0.5", "500000u", "500000000n", "0.0005k"] {
		quantity.parse(s) == {"sign": 1, "digits": "5", "exp": 0}
	}
}

test_spellings_of_512_mebibytes if {
	every s in ["512Mi", "0.5Gi", "536870912", "524288Ki", "536.870912M", "5.36870912e8", "536870912000m"] {
		quantity.parse(s) == {"sign": 1, "digits": "536870912", "exp": 9}
	}
}

test_decimal_suffixes if {
	quantity.parse("5e8") == {"sign": 1, "digits": "5", "exp": 9}
	quantity.parse("1G") == {"sign": 1, "digits": "1", "exp": 10}
	quantity.parse("1E") == {"sign": 1, "digits": "1", "exp": 19}
	quantity.parse("1E3") == {"sign": 1, "digits": "1", "exp": 4}
	quantity.parse("2T") == quantity.parse("2e12")
	quantity.parse("3P") == quantity.parse("3e+15")
	quantity.parse("-100m") == {"sign": -1, "digits": "1", "exp": 0}
}

test_numbers_as_written_in_yaml if {
	quantity.parse(1) == {"sign": 1, "digits": "1", "exp": 1}
	quantity.parse(0.25) == {"sign": 1, "digits": "25", "exp": 0}
	not quantity.is_quantity(true)
	not quantity.is_quantity(null)
}

test_zero_spellings if {
	every s in ["0", "00", "-0", "+", "-", ".", "+.", "m", "e5", "E", "Ki", ".Ki", "Ti", "0e-10", "0.000Ei", "0.0000000000"] {
		quantity.parse(s) == {"sign": 0, "digits": "", "exp": 0}
	}
}

test_invalid_spellings if {
	every s in [
		"", " 1", "1 ", "1.2.3", "1e1.5", "1Mi2", "1mi", "1K", "1e", "1e+", "5ee3", "1Ee3", "1i",
		"1b", "0x10", "1,5", "+-1", "1e99999999999999999999", "1e9223372036854775808",
		"1e-9223372036854775809", "+e-10", "e-10", ".e-10", "Pi", "Ei", "-Ei",
	] {
		not quantity.is_quantity(s)
	}
}

test_exponent_range_of_int64 if {
	quantity.is_quantity("1e9223372036854775807")
	quantity.is_quantity("1e-9223372036854775808")
	quantity.is_quantity("1e+0000000000000000000000001")
}

test_exponent_wraps_like_go_int32 if {
	quantity.parse("1e4294967296") == {"sign": 1, "digits": "1", "exp": 1}
	quantity.parse("1e4294967297") == {"sign": 1, "digits": "1", "exp": 2}
	quantity.parse("1e-4294967295") == {"sign": 1, "digits": "1", "exp": 2}
	quantity.is_quantity("e-4294967296")
}

test_rounds_up_to_one_nano if {
	quantity.parse("1e-10") == {"sign": 1, "digits": "1", "exp": -8}
	quantity.parse("-0.0000000001") == {"sign": -1, "digits": "1", "exp": -8}
	quantity.parse("1.5n") == {"sign": 1, "digits": "2", "exp": -8}
	quantity.parse("0.0000000012") == {"sign": 1, "digits": "2", "exp": -8}
	quantity.parse("0.0000000019999") == {"sign": 1, "digits": "2", "exp": -8}
	quantity.parse("999999999.9999999999") == {"sign": 1, "digits": "1", "exp": 10}
	quantity.parse("12.0000000001") == {"sign": 1, "digits": "12000000001", "exp": 2}
}

test_binary_suffixes if {
	quantity.parse("1Ki") == {"sign": 1, "digits": "1024", "exp": 4}
	quantity.parse("1Ti") == quantity.parse("1099511627776")
	quantity.parse("1Pi") == quantity.parse("1125899906842624")
	quantity.parse("1Ei") == quantity.parse("1152921504606846976")
	quantity.parse("0.1Ki") == {"sign": 1, "digits": "1024", "exp": 3}
	quantity.parse("-.5Mi") == {"sign": -1, "digits": "524288", "exp": 6}
}

test_long_binary_mantissas_are_exact if {
	quantity.parse("1234567890123456Ki") == quantity.parse("1264197519486418944")
	quantity.parse("1234567890123Mi") == quantity.parse("1294538259953614848")
	quantity.parse("1234567890Gi") == quantity.parse("1325607178060431360")
	quantity.parse("1234567Ti") == quantity.parse("1357420771768532992")
	quantity.parse("3.2Ei") == quantity.parse("3689348814741910323.2")
	quantity.parse("1234Pi") == quantity.parse("1389360485043798016")
}

test_binary_values_cap_at_max_int64 if {
	every s in ["9Ei", "8Ei", "99999999999999999999Ki", "10000000000000000000Mi", "-9Ei"] {
		q := quantity.parse(s)
		q.digits == "9223372036854775807"
		q.exp == 19
	}
	quantity.parse("7.99Ei") == quantity.parse("9211842821808707338.24")
	quantity.parse("9223372036854775808") == {"sign": 1, "digits": "9223372036854775808", "exp": 19}
}

test_compare if {
	quantity.compare("100m", "0.1") == 0
	quantity.compare("99m", "0.1") == -1
	quantity.compare("600M", "512Mi") == 1
	quantity.compare("0.6Gi", "512Mi") == 1
	quantity.compare("6e8", "512Mi") == 1
	quantity.compare("0.75", "500m") == 1
	quantity.compare("500m", "0.75") == -1
	quantity.compare("0.5", "0.51") == -1
	quantity.compare("0.6", "0.51") == 1
	quantity.compare("-1", "0") == -1
	quantity.compare("0", "-1") == 1
	quantity.compare("-2", "-1") == -1
	quantity.compare("-1", "-2") == 1
	quantity.compare("1E", "999P") == 1
}

test_compare_parsed if {
	quantity.compare_parsed(quantity.parse("1Gi"), quantity.parse("1G")) == 1
}

test_compare_is_undefined_for_non_quantities if {
	not quantity.compare("abc", "1")
	not quantity.compare("1", "")
}

test_mantissas_beyond_19_digits_are_doubled_exactly if {
	quantity.parse("1.0000000000000000001Ki") == quantity.parse("1024.000000001")
	quantity.parse("1.0000000000000000001Mi") == quantity.parse("1048576.000000001")
	quantity.parse("1.0000000000000000001Gi") == quantity.parse("1073741824.000000001")
	quantity.parse("1.0000000000000000001Ti") == quantity.parse("1099511627776.00000011")
	quantity.parse("1.0000000000000000001Pi") == quantity.parse("1125899906842624.00011259")
	quantity.parse("1.0000000000000000001Ei") == quantity.parse("1152921504606846976.115292151")
	quantity.parse("3.0000000000000000001Ei") == quantity.parse("3458764513820540928.115292151")
	quantity.parse("12345678901234567890123Ki").digits == "9223372036854775807"
}

test_products_beyond_64_bits_stay_exact if {
	quantity.parse("9999999999999999999Ki") == {"sign": 1, "digits": "9223372036854775807", "exp": 19}
	quantity.parse("0.000000001234567891Ei") == quantity.parse("1423359870.431021856")
	quantity.parse("0.9999999999999999999Ei") == quantity.parse("1152921504606846975.88470785")
}

test_comparable if {
	every s in ["100m", "512Mi", 1, "5e99", "5E-99", "1e099", "1Ei", "0.00000000000000000000000000000000000000000000000000000000000001"] {
		quantity.comparable(s)
	}
	every s in ["1e100", "13500.957656115e-2147483649", "1e+0100", "1E-999", "0.000000000000000000000000000000000000000000000000000000000000001", "abc", "1e"] {
		not quantity.comparable(s)
	}
	quantity.bounded("abc")
	not quantity.bounded("1e-2147483649")
}
