package lib.util_test
