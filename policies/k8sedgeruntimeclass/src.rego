# METADATA
# title: K8sEdgeRuntimeClass
# description: spec.runtimeClassName must be one of allowedRuntimeClassNames.
package k8sedgeruntimeclass

import data.lib.review
import future.keywords.contains
import future.keywords.if
import future.keywords.in

# METADATA
# description: Pods without a runtimeClassName (or with an empty one).
violation contains {"msg": msg, "details": {"runtimeClassName": "", "allowed": _allowed}} if {
	_judged
	_runtime_class == ""
	msg := sprintf("%v has no runtimeClassName; allowed: <%v>", [review.subject(input.review.object), concat(", ", _allowed)])
}

# METADATA
# description: Pods whose runtimeClassName is not in the allowed list.
violation contains {"msg": msg, "details": {"runtimeClassName": _runtime_class, "allowed": _allowed}} if {
	_judged
	_runtime_class != ""
	not _runtime_class in _allowed
	msg := sprintf(
		"%v runtimeClassName <%v> is not allowed; allowed: <%v>",
		[review.subject(input.review.object), _runtime_class, concat(", ", _allowed)],
	)
}

_allowed := object.get(input.parameters, "allowedRuntimeClassNames", [])

_runtime_class := object.get(input.review.object, ["spec", "runtimeClassName"], "")

# runtimeClassName is immutable: an UPDATE that keeps it is not re-judged.
_judged if {
	not review.is_delete
	not review.unchanged(["spec", "runtimeClassName"])
}
