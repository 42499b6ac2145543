package k8strackerconfig_test

import data.k8strackerconfig
import future.keywords.every
import future.keywords.if
import future.keywords.in

_params := {
	"configMapName": "supply-chain-config",
	"booleanKeys": ["sync_enabled", "cache_enabled"],
	"durationKeys": [{"key": "sync_interval", "min": "1s", "max": "5m"}, {"key": "cache_ttl", "min": "10s", "max": "1h"}],
	"booleanEnv": ["TRACKING_ENABLED"],
}

_seed := {"sync_enabled": "true", "sync_interval": "10s", "cache_enabled": "true", "cache_ttl": "300s"}

_cm(entries) := {"kind": "ConfigMap", "metadata": {"name": "supply-chain-config"}, "data": entries}

_violations(object) := v if {
	v := k8strackerconfig.violation with input as {"review": {"object": object}, "parameters": _params}
}

_msgs(object) := {x.msg | some x in _violations(object)}

test_case_study_config_is_valid if {
	_msgs(_cm(_seed)) == set()
	_msgs(_cm({"sync_enabled": "false", "sync_interval": "1m30s", "cache_enabled": "false", "cache_ttl": "1h"})) == set()
}

test_other_config_maps_are_not_judged if {
	_msgs({"kind": "ConfigMap", "metadata": {"name": "other"}, "data": {"x": "y"}}) == set()
}

test_missing_and_unknown_keys if {
	_msgs(_cm({"sync_enabled": "true", "cache_ttl": "300s", "debug": "1", "Sync_Interval": "10s"})) == {
		"ConfigMap <supply-chain-config> lacks required keys <cache_enabled, sync_interval>",
		"ConfigMap <supply-chain-config> has unknown keys <Sync_Interval, debug>; known keys: <sync_enabled, cache_enabled, sync_interval, cache_ttl>",
	}
	_msgs(_cm(null)) == {"ConfigMap <supply-chain-config> lacks required keys <sync_enabled, cache_enabled, sync_interval, cache_ttl>"}
}

test_booleans if {
	every value in ["True", "yes", "1", "", " true"] {
		_msgs(_cm(object.union(_seed, {"cache_enabled": value}))) == {sprintf("ConfigMap <supply-chain-config> has keys that must be \"true\" or \"false\": <cache_enabled> <%v>", [value])}
	}
}

test_durations if {
	every value in ["10", "10 s", "1d", "s", "1.5.s", "0x10s", "+", "2562048h", "9999999999h", "1s1s1s1s1s", "1000000000000000000ns"] {
		_msgs(_cm(object.union(_seed, {"sync_interval": value}))) == {sprintf("ConfigMap <supply-chain-config> has keys that must be Go durations (e.g. 10s, 1m30s) of at most four parts: <sync_interval> <%v>", [value])}
	}
}

test_duration_bounds if {
	every value in ["999ms", "5m1s", "0", "-10s", "1h"] {
		_msgs(_cm(object.union(_seed, {"sync_interval": value}))) == {sprintf("ConfigMap <supply-chain-config> has durations out of bounds: <sync_interval> <%v> is outside <1s>..<5m>", [value])}
	}
	every value in ["1s", "5m", "0.5m", "300000ms", ".1m", "4m59s999ms999999ns", "299999999999ns"] {
		_msgs(_cm(object.union(_seed, {"sync_interval": value}))) == set()
	}
}

test_tracking_enabled_env if {
	pod := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": {
		"containers": [{"name": "tracker", "env": [{"name": "TRACKING_ENABLED", "value": "yes"}, {"name": "OTHER", "value": "x"}]}],
		"initContainers": [{"name": "init", "env": [{"name": "TRACKING_ENABLED", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "sync_enabled"}}}]}],
		"ephemeralContainers": [{"name": "debug", "env": [{"name": "TRACKING_ENABLED", "value": true}]}],
	}}
	_msgs(pod) == {"Pod <tracker> sets tracker settings through env that the ConfigMap rules do not allow: container <tracker> env <TRACKING_ENABLED> <yes>; container <debug> env <TRACKING_ENABLED> <true>"}
	ok := {"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "env": [{"name": "TRACKING_ENABLED", "value": "true"}]}]}}
	_msgs(ok) == set()
}

_from(source) := {"name": "TRACKING_ENABLED", "valueFrom": source}

# Only the tracker's ConfigMap is validated, so a value from anywhere else is refused.
test_tracking_enabled_from_elsewhere if {
	pod := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": {"containers": [{"name": "tracker", "env": [
		_from({"configMapKeyRef": {"name": "other-config", "key": "tracking_enabled"}}),
		_from({"configMapKeyRef": {"name": "supply-chain-config", "key": "sync_interval"}}),
		_from({"secretKeyRef": {"name": "s", "key": "k"}}),
		{"name": "TRACKING_ENABLED"},
		{"name": "TRACKING_ENABLED", "value": null},
	]}]}}
	_msgs(pod) == {concat("", [
		"Pod <tracker> sets tracker settings through env that the ConfigMap rules do not allow: ",
		"container <tracker> env <TRACKING_ENABLED> comes from outside the boolean keys of ConfigMap <supply-chain-config>; ",
		"container <tracker> env <TRACKING_ENABLED> comes from outside the boolean keys of ConfigMap <supply-chain-config>; ",
		"container <tracker> env <TRACKING_ENABLED> comes from outside the boolean keys of ConfigMap <supply-chain-config>; ",
		"container <tracker> env <TRACKING_ENABLED> <>; container <tracker> env <TRACKING_ENABLED> <>",
	])}
}

# An envFrom source other than the validated ConfigMap may set TRACKING_ENABLED unless
# an env entry overrides it.
test_tracking_enabled_from_env_from if {
	pod := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": {"containers": [
		{"name": "a", "envFrom": [{"configMapRef": {"name": "supply-chain-config"}}]},
		{"name": "b", "envFrom": [{"configMapRef": {"name": "supply-chain-config"}}, {"prefix": "TRACKING_", "secretRef": {"name": "s"}}, {"configMapRef": {"name": "other"}}]},
		{"name": "c", "env": [{"name": "TRACKING_ENABLED", "value": "false"}], "envFrom": [{"configMapRef": {"name": "other"}}, {"configMapRef": {"name": "supply-chain-config"}}]},
	]}}
	_msgs(pod) == {"Pod <tracker> sets tracker settings through env that the ConfigMap rules do not allow: container <b> env <TRACKING_ENABLED> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env; container <b> env <sync_enabled> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; container <b> env <cache_enabled> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; container <b> env <sync_interval> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; container <b> env <cache_ttl> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional"}
}

# The tracker reads its ConfigMap's keys from env too, so env must not set them to what
# the ConfigMap may not hold, nor from a source no rule checks.
test_config_keys_in_env if {
	env := [
		{"name": "sync_interval", "value": "30s"},
		{"name": "cache_ttl", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "cache_ttl"}}},
		{"name": "sync_enabled", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "cache_enabled"}}},
		{"name": "cache_enabled", "value": "false"},
	]
	_msgs({"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "env": env}]}}) == set()
	bad := [
		{"name": "sync_interval", "value": "720h"},
		{"name": "cache_ttl", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "sync_interval"}}},
		{"name": "cache_ttl", "valueFrom": {"secretKeyRef": {"name": "s", "key": "ttl"}}},
		{"name": "sync_enabled", "value": "yes"},
		{"name": "sync_interval"},
	]
	_msgs({"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "env": bad}]}}) == {concat("", [
		"Pod <t> sets tracker settings through env that the ConfigMap rules do not allow: ",
		"container <t> env <sync_interval> <720h> is not a Go duration within <1s>..<5m>; ",
		"container <t> env <cache_ttl> comes from outside key <cache_ttl> of ConfigMap <supply-chain-config>; ",
		"container <t> env <cache_ttl> comes from outside key <cache_ttl> of ConfigMap <supply-chain-config>; ",
		"container <t> env <sync_enabled> <yes>; ",
		"container <t> env <sync_interval> <> is not a Go duration within <1s>..<5m>",
	])}
}

# A later envFrom source overrides an earlier one: the validated ConfigMap listed last
# wins for its keys, never for TRACKING_ENABLED.
test_config_map_listed_last_overrides if {
	sources := [{"secretRef": {"name": "credentials"}}, {"configMapRef": {"name": "supply-chain-config"}}]
	c := {"name": "t", "env": [{"name": "TRACKING_ENABLED", "value": "true"}], "envFrom": sources}
	_msgs({"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [c]}}) == set()
	prefixed := {"name": "t", "env": [{"name": "TRACKING_ENABLED", "value": "true"}], "envFrom": [sources[0], {"prefix": "X_", "configMapRef": {"name": "supply-chain-config"}}]}
	count(_msgs({"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [prefixed]}})) == 1
}

test_delete_is_never_judged if {
	v := k8strackerconfig.violation with input as {"review": {"operation": "DELETE", "object": _cm({})}, "parameters": _params}
	count(v) == 0
}

# An optional reference to the ConfigMap sets nothing when the ConfigMap or key is
# missing (a new namespace, or after a DELETE, which is never judged), so it neither
# overrides another envFrom source nor counts as the validated value.
test_optional_references_do_not_count if {
	secret_then_optional := [{"secretRef": {"name": "overrides"}}, {"configMapRef": {"name": "supply-chain-config", "optional": true}}]
	pod := {"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{
		"name": "t",
		"env": [{"name": "TRACKING_ENABLED", "value": "true"}],
		"envFrom": secret_then_optional,
	}]}}
	_msgs(pod) == {concat("", [
		"Pod <t> sets tracker settings through env that the ConfigMap rules do not allow: ",
		"container <t> env <sync_enabled> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; ",
		"container <t> env <cache_enabled> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; ",
		"container <t> env <sync_interval> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional; ",
		"container <t> env <cache_ttl> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env or list that ConfigMap last in envFrom, not optional",
	])}

	# On its own, or explicitly not optional and last, it is fine.
	alone := {"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "envFrom": [{"configMapRef": {"name": "supply-chain-config", "optional": true}}]}]}}
	_msgs(alone) == set()
	required_last := {"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "envFrom": [
		{"secretRef": {"name": "overrides"}},
		{"configMapRef": {"name": "supply-chain-config", "optional": false}},
	]}]}}
	_msgs(required_last) == {"Pod <t> sets tracker settings through env that the ConfigMap rules do not allow: container <t> env <TRACKING_ENABLED> may come from an envFrom source other than ConfigMap <supply-chain-config>; set it in env"}

	keys := {"kind": "Pod", "metadata": {"name": "t"}, "spec": {"containers": [{"name": "t", "env": [
		{"name": "TRACKING_ENABLED", "value": "true"},
		{"name": "sync_enabled", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "sync_enabled", "optional": true}}},
		{"name": "cache_ttl", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "cache_ttl", "optional": true}}},
		{"name": "sync_interval", "valueFrom": {"configMapKeyRef": {"name": "supply-chain-config", "key": "sync_interval", "optional": false}}},
	]}]}}
	_msgs(keys) == {concat("", [
		"Pod <t> sets tracker settings through env that the ConfigMap rules do not allow: ",
		"container <t> env <sync_enabled> comes from outside the boolean keys of ConfigMap <supply-chain-config> (an optional reference does not count); ",
		"container <t> env <cache_ttl> comes from outside key <cache_ttl> of ConfigMap <supply-chain-config> (an optional reference does not count)",
	])}
}
