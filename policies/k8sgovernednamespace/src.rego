# METADATA
# title: K8sGovernedNamespace
# description: Namespaces named like edge namespaces carry the governed-namespace label.
package k8sgovernednamespace

import data.lib.review
import future.keywords.contains
import future.keywords.if

# METADATA
# description: An edge-named Namespace without the governed label and value.
violation contains {"msg": msg, "details": {"label": _label, "value": _value, "found": found}} if {
	not review.is_delete
	input.review.object.kind == "Namespace"
	regex.match(input.parameters.namePattern, input.review.object.metadata.name)
	found := object.get(input.review.object, ["metadata", "labels", _label], null)
	found != _value
	msg := sprintf(
		"%v matches <%v> and must carry the label <%v: %v> (found <%v>), so that edge constraints select it",
		[review.subject(input.review.object), input.parameters.namePattern, _label, _value, _shown(found)],
	)
}

_label := object.get(input.parameters, "label", "edgetrace.io/governed")

_value := object.get(input.parameters, "value", "true")

_shown(null) := "none"

_shown(found) := found if found != null
