# METADATA
# title: K8sContainerResourceBounds
# description: |
#   Every container (containers, initContainers, ephemeralContainers) declares cpu and
#   memory requests and limits, within minRequests and maxLimits, requests not above limits.
#   A request left out stands for its limit, as Kubernetes defaults it in every Pod.
package k8scontainerresourcebounds

import data.lib.containers
import data.lib.quantity
import data.lib.review
import future.keywords.contains
import future.keywords.if
import future.keywords.in

# Each check yields at most one violation per object, listing every offender, so that
# Rego and CEL (one decision per validation) report the same count. Offenders are listed
# field by field, container by container, in the same order in both engines.

# METADATA
# description: Containers that do not declare all four of cpu/memory requests/limits.
violation contains {"msg": msg, "details": {"missing": missing}} if {
	not review.is_delete
	missing := [sprintf("container <%v> has no <%v.%v>", [c.name, kind, res]) |
		some [kind, res] in _fields
		some c in _containers
		not _has(c, kind, res)
	]
	count(missing) > 0
	msg := sprintf(
		"%v must declare cpu and memory limits in every container, and requests unless they equal the limits (ephemeral containers cannot declare resources, so none is admitted): %v",
		[_subject, concat("; ", missing)],
	)
}

# METADATA
# description: Declared values that are not Kubernetes quantities, or too large or long to compare.
violation contains {"msg": msg, "details": {"unparseable": bad}} if {
	not review.is_delete
	bad := [sprintf("container <%v> <%v.%v> <%v> %v", [c.name, kind, res, quantity.text(v), _why_not(v)]) |
		some [kind, res] in _fields
		some c in _containers
		v := _value(c, kind, res)
		not _quantities[quantity.text(v)]
	]
	count(bad) > 0
	msg := sprintf("%v declares values that are not Kubernetes quantities it can compare: %v", [_subject, concat("; ", bad)])
}

# METADATA
# description: Requests below minRequests.
violation contains {"msg": msg, "details": {"belowMinimum": low, "minRequests": _minimums}} if {
	not review.is_delete
	low := [sprintf("container <%v> <requests.%v> <%v> is below <%v>", [c.name, res, quantity.text(_request(c, res)), quantity.text(_minimums[res])]) |
		some res in _resources
		some c in _containers
		_compare(_quantities[quantity.text(_request(c, res))], _bound("min", res)) < 0
	]
	count(low) > 0
	msg := sprintf("%v requests less than the minimum: %v", [_subject, concat("; ", low)])
}

# METADATA
# description: Limits above maxLimits.
violation contains {"msg": msg, "details": {"aboveMaximum": high, "maxLimits": _maximums}} if {
	not review.is_delete
	high := [sprintf("container <%v> <limits.%v> <%v> is above <%v>", [c.name, res, _text(c, "limits", res), quantity.text(_maximums[res])]) |
		some res in _resources
		some c in _containers
		_compare(_parsed(c, "limits", res), _bound("max", res)) > 0
	]
	count(high) > 0
	msg := sprintf("%v limits more than the maximum: %v", [_subject, concat("; ", high)])
}

# METADATA
# description: Requests above the container's own limits.
violation contains {"msg": msg, "details": {"requestAboveLimit": over}} if {
	not review.is_delete
	over := [sprintf("container <%v> <%v> request <%v> exceeds its limit <%v>", [c.name, res, _text(c, "requests", res), _text(c, "limits", res)]) |
		some res in _resources
		some c in _containers
		_compare(_parsed(c, "requests", res), _parsed(c, "limits", res)) > 0
	]
	count(over) > 0
	msg := sprintf("%v requests more than its limits: %v", [_subject, concat("; ", over)])
}

# METADATA
# description: |
#   Pod-level resources (spec.resources, beta and on by default from Kubernetes 1.34):
#   a pod request reserves node capacity beyond any container's bounds.
violation contains {"msg": msg, "details": {"podResources": resources}} if {
	not review.is_delete
	resources := object.get(input.review.object, ["spec", "resources"], null)
	not resources in {null, {}}
	msg := sprintf("%v declares pod-level resources <spec.resources>; the bounds apply per container, so declare resources on each container instead", [_subject])
}

# METADATA
# description: Constraint parameters that are not quantities (the bound is then not applied).
violation contains {"msg": msg, "details": {"invalidParameters": bad}} if {
	not review.is_delete
	bad := [sprintf("<%v.%v> <%v>", [name, res, quantity.text(v)]) |
		some [name, bounds] in [["minRequests", _minimums], ["maxLimits", _maximums]]
		some res in _resources
		v := bounds[res]
		not _quantities[quantity.text(v)]
	]
	count(bad) > 0
	msg := sprintf("%v cannot be judged against constraint parameters that are not Kubernetes quantities it can compare: %v", [_subject, concat("; ", bad)])
}

_fields := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

_resources := ["cpu", "memory"]

_subject := review.subject(input.review.object)

_containers := containers.of(object.get(input.review.object, "spec", {}))

_minimums := object.get(input.parameters, "minRequests", {})

_maximums := object.get(input.parameters, "maxLimits", {})

# A null value counts as not declared, in both engines.
_declared(c, kind, res) if c.resources[kind][res] != null

_value(c, kind, res) := c.resources[kind][res] if _declared(c, kind, res)

# Kubernetes sets a Pod container's missing request to its limit (SetDefaults_Pod), but
# leaves a workload's pod template alone: judging a request left out as its limit
# admits a Deployment exactly when its Pods would be admitted.
_request(c, res) := _value(c, "requests", res)

_request(c, res) := _value(c, "limits", res) if not _declared(c, "requests", res)

_has(c, "requests", res) if _request(c, res) != null

_has(c, "limits", res) if _declared(c, "limits", res)

_text(c, kind, res) := quantity.text(_value(c, kind, res))

# Every distinct value is parsed once per review.
_texts contains quantity.text(v) if {
	some c in _containers
	some [kind, res] in _fields
	v := _value(c, kind, res)
}

_texts contains quantity.text(v) if {
	some bounds in [_minimums, _maximums]
	some v in bounds
}

# Only comparable values are parsed: see lib.quantity.comparable.
_quantities := {t: q |
	some t in _texts
	quantity.comparable(t)
	q := quantity.parse(t)
}

_why_not(v) := "is not a Kubernetes quantity" if quantity.bounded(v)

_why_not(v) := "is too long (over 64 characters) or has too large an exponent (over e99) to compare" if not quantity.bounded(v)

_parsed(c, kind, res) := _quantities[_text(c, kind, res)]

_bound("min", res) := _quantities[quantity.text(_minimums[res])]

_bound("max", res) := _quantities[quantity.text(_maximums[res])]

_compare(a, b) := quantity.compare_parsed(a, b)
