# METADATA
# title: K8sTrackerConfig
# description: The tracker ConfigMap holds exactly its known keys with valid values; boolean env vars are booleans.
package k8strackerconfig

import data.lib.containers
import data.lib.review
import future.keywords.contains
import future.keywords.if
import future.keywords.in

# METADATA
# description: Required keys missing from the ConfigMap.
violation contains {"msg": msg, "details": {"missing": missing}} if {
	_config_map
	missing := [k | some k in _known; not _data[k]]
	count(missing) > 0
	msg := sprintf("%v lacks required keys <%v>", [_subject, concat(", ", missing)])
}

# METADATA
# description: Keys the tracker does not know.
violation contains {"msg": msg, "details": {"unknown": unknown}} if {
	_config_map
	unknown := [k | some k, _ in _data; not k in _known]
	count(unknown) > 0
	msg := sprintf("%v has unknown keys <%v>; known keys: <%v>", [_subject, concat(", ", unknown), concat(", ", _known)])
}

# METADATA
# description: Boolean keys that are not "true" or "false".
violation contains {"msg": msg, "details": {"invalid": bad}} if {
	_config_map
	bad := [sprintf("<%v> <%v>", [k, _data[k]]) | some k in _boolean_keys; not _data[k] in _booleans]
	count(bad) > 0
	msg := sprintf("%v has keys that must be \"true\" or \"false\": %v", [_subject, concat("; ", bad)])
}

# METADATA
# description: Duration keys that are not Go durations.
violation contains {"msg": msg, "details": {"invalid": bad}} if {
	_config_map
	bad := [sprintf("<%v> <%v>", [d.key, _data[d.key]]) | some d in _duration_keys; not _duration_ns(_data[d.key])]
	count(bad) > 0
	msg := sprintf("%v has keys that must be Go durations (e.g. 10s, 1m30s): %v", [_subject, concat("; ", bad)])
}

# METADATA
# description: Durations outside their [min, max].
violation contains {"msg": msg, "details": {"outOfBounds": bad}} if {
	_config_map
	bad := [sprintf("<%v> <%v> is outside <%v>..<%v>", [d.key, _data[d.key], d.min, d.max]) |
		some d in _duration_keys
		_outside(_duration_ns(_data[d.key]), d)
	]
	count(bad) > 0
	msg := sprintf("%v has durations out of bounds: %v", [_subject, concat("; ", bad)])
}

# METADATA
# description: |
#   Boolean env vars of pod containers that are not "true" or "false", or that take their
#   value from anywhere but a boolean key of the tracker's ConfigMap (which this template
#   validates) — another ConfigMap, a Secret or a field would go unchecked.
violation contains {"msg": msg, "details": {"invalid": bad}} if {
	not review.is_delete
	set := [sprintf("container <%v> env <%v> %v", [c.name, e.name, _env_problem(e)]) |
		some c in _containers
		some e in object.get(c, "env", [])
		e.name in _boolean_env
		not _env_ok(e)
	]
	unset := [sprintf("container <%v> env <%v> may come from an envFrom source other than ConfigMap <%v>; set it in env", [c.name, name, _config_map_name]) |
		some c in _containers
		some name in _boolean_env
		not _sets_env(c, name)
		_unvalidated_env_from(c)
	]
	bad := array.concat(set, unset)
	count(bad) > 0
	msg := sprintf("%v sets env vars that must be \"true\" or \"false\": %v", [_subject, concat("; ", bad)])
}

_booleans := ["true", "false"]

# An env var without a value, or with a null one, is set to "".
_literal(e) := object.get(e, "value", null) if object.get(e, "value", null) != null

_literal(e) := "" if object.get(e, "value", null) == null

_from(e) if {
	object.get(e, "value", null) == null
	object.get(e, "valueFrom", null) != null
}

_env_ok(e) if {
	not _from(e)
	_literal(e) in _booleans
}

_env_ok(e) if {
	_from(e)
	ref := e.valueFrom.configMapKeyRef
	ref.name == _config_map_name
	ref.key in _boolean_keys
}

_env_problem(e) := sprintf("<%v>", [_literal(e)]) if not _from(e)

_env_problem(e) := sprintf("comes from outside the boolean keys of ConfigMap <%v>", [_config_map_name]) if _from(e)

_config_map_name := object.get(input.parameters, "configMapName", "")

_containers := containers.of(object.get(input.review.object, "spec", {}))

_sets_env(c, name) if {
	some e in object.get(c, "env", [])
	e.name == name
}

_unvalidated_env_from(c) if {
	some f in object.get(c, "envFrom", [])
	not _validated_source(f)
}

# The validated ConfigMap's keys are its known keys, none of them a booleanEnv name, so
# envFrom it cannot set one; any other source may (an env entry would override it).
_validated_source(f) if {
	_config_map_name != ""
	object.get(f, ["configMapRef", "name"], null) == _config_map_name
	object.get(f, "secretRef", null) == null
}

_subject := review.subject(input.review.object)

_config_map if {
	not review.is_delete
	input.review.object.kind == "ConfigMap"
	input.review.object.metadata.name == input.parameters.configMapName
}

_data := object.get(input.review.object, "data", {})

_boolean_keys := object.get(input.parameters, "booleanKeys", [])

_duration_keys := object.get(input.parameters, "durationKeys", [])

_boolean_env := object.get(input.parameters, "booleanEnv", [])

_known := array.concat(_boolean_keys, [d.key | some d in _duration_keys])

_outside(ns, d) if ns < _duration_ns(d.min)

_outside(ns, d) if ns > _duration_ns(d.max)

# Go's time.ParseDuration grammar, as in the CEL source; OPA's parser alone also takes
# units Go refuses (such as 1d).
_go_duration := `^[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

_duration_ns(s) := time.parse_duration_ns(s) if regex.match(_go_duration, s)
