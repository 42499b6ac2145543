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
	msg := sprintf("%v has keys that must be Go durations (e.g. 10s, 1m30s) of at most four parts: %v", [_subject, concat("; ", bad)])
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
#   Tracker settings set through a container's environment, which the tracker reads
#   directly: the booleanEnv vars and the ConfigMap's own keys. Each must hold what the
#   ConfigMap rules allow, by value or from the matching key of that ConfigMap; and an
#   envFrom source other than that ConfigMap must not be able to set one.
violation contains {"msg": msg, "details": {"invalid": bad}} if {
	not review.is_delete
	set := [sprintf("container <%v> env <%v> %v", [c.name, e.name, problem]) |
		some c in _containers
		some e in object.get(c, "env", [])
		problem := _env_problem(e)
	]
	unset := [sprintf("container <%v> env <%v> may come from an envFrom source other than ConfigMap <%v>; set it in env%v", [c.name, name, _config_map_name, _hint(name)]) |
		some c in _containers
		_unvalidated_env_from(c)
		some name in array.concat(_boolean_env, _known)
		not _sets_env(c, name)
		not _overridden(c, name)
	]
	bad := array.concat(set, unset)
	count(bad) > 0
	msg := sprintf("%v sets tracker settings through env that the ConfigMap rules do not allow: %v", [_subject, concat("; ", bad)])
}

_booleans := ["true", "false"]

_boolean_names := array.concat(_boolean_env, _boolean_keys)

# An env var without a value, or with a null one, is set to "".
_literal(e) := object.get(e, "value", null) if object.get(e, "value", null) != null

_literal(e) := "" if object.get(e, "value", null) == null

_from(e) if {
	object.get(e, "value", null) == null
	object.get(e, "valueFrom", null) != null
}

# An optional reference does not count: when the ConfigMap or its key is missing the
# kubelet skips it, leaving the variable to whatever else sets it (an envFrom Secret).
_ref(e) := ref if {
	ref := e.valueFrom.configMapKeyRef
	ref.name == _config_map_name
	object.get(ref, "optional", false) != true
}

_ref_note(e) := " (an optional reference does not count)" if e.valueFrom.configMapKeyRef.optional == true

_ref_note(e) := "" if not e.valueFrom.configMapKeyRef.optional == true

_env_problem(e) := sprintf("<%v>", [_literal(e)]) if {
	e.name in _boolean_names
	not _from(e)
	not _literal(e) in _booleans
}

_env_problem(e) := sprintf("comes from outside the boolean keys of ConfigMap <%v>%v", [_config_map_name, _ref_note(e)]) if {
	e.name in _boolean_names
	_from(e)
	not _from_boolean_key(e)
}

_from_boolean_key(e) if _ref(e).key in _boolean_keys

_env_problem(e) := sprintf("<%v> is not a Go duration within <%v>..<%v>", [_literal(e), object.get(d, "min", ""), object.get(d, "max", "")]) if {
	some d in _durations_named(e.name)
	not _from(e)
	not _within(_literal(e), d)
}

_env_problem(e) := sprintf("comes from outside key <%v> of ConfigMap <%v>", [d.key, _config_map_name]) if {
	some d in _durations_named(e.name)
	_from(e)
	_ref(e).key != d.key
}

_env_problem(e) := sprintf("comes from outside key <%v> of ConfigMap <%v>%v", [d.key, _config_map_name, _ref_note(e)]) if {
	some d in _durations_named(e.name)
	_from(e)
	not _ref(e)
}

# Boolean names win over a duration key of the same name (a constraint that lists one
# name as both is misconfigured).
_durations_named(name) := [d | some d in _duration_keys; d.key == name] if not name in _boolean_names

_within(value, d) if not _outside(_duration_ns(value), d)

_hint(name) := " or list that ConfigMap last in envFrom, not optional" if name in _known

_hint(name) := "" if not name in _known

_config_map_name := object.get(input.parameters, "configMapName", "")

_containers := containers.of(object.get(input.review.object, "spec", {}))

_sets_env(c, name) if {
	some e in object.get(c, "env", [])
	e.name == name
}

_unvalidated_env_from(c) if {
	some f in object.get(c, "envFrom", [])
	not _named_source(f)
}

# The ConfigMap rules make the validated ConfigMap hold every known key, so listed last
# in envFrom it overrides whatever an earlier source set for them. The booleanEnv names
# are not among its keys: only an env entry overrides those.
_overridden(c, name) if {
	name in _known
	sources := c.envFrom
	_validated_source(sources[count(sources) - 1])
}

# The named ConfigMap as an envFrom source; validated only if not optional, since an
# optional one that is missing (a new namespace, or deleted: DELETE is not judged)
# sets nothing and so overrides nothing.
_named_source(f) if {
	_config_map_name != ""
	object.get(f, ["configMapRef", "name"], null) == _config_map_name
	object.get(f, "secretRef", null) == null
	object.get(f, "prefix", null) in {null, ""}
}

_validated_source(f) if {
	_named_source(f)
	object.get(f, ["configMapRef", "optional"], false) != true
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

# Go's time.ParseDuration grammar, as in the CEL source (OPA's parser alone also takes
# units Go refuses, such as 1d), bounded to at most four parts whose integer digits fit
# the unit (99999h, 9999999m, 9 digits of s, 12 of ms, 15 of us, 18 of ns): four such
# parts stay below Go's limit of 2^63 ns, past which CEL's duration() fails where
# Rego merely finds no duration.
_go_duration := concat("", [
	`^[-+]?(0|((`,
	`([0-9]{1,5}([.][0-9]*)?|[.][0-9]+)h|`,
	`([0-9]{1,7}([.][0-9]*)?|[.][0-9]+)m|`,
	`([0-9]{1,9}([.][0-9]*)?|[.][0-9]+)s|`,
	`([0-9]{1,12}([.][0-9]*)?|[.][0-9]+)ms|`,
	`([0-9]{1,15}([.][0-9]*)?|[.][0-9]+)(us|µs|μs)|`,
	`([0-9]{1,18}([.][0-9]*)?|[.][0-9]+)ns`,
	`)){1,4})$`,
])

_duration_ns(s) := time.parse_duration_ns(s) if regex.match(_go_duration, s)
