package k8sdemo

import future.keywords.contains
import future.keywords.if

import data.lib.util

violation contains {"msg": msg} if {
	not util.allowed(input.review.object.metadata.name, input.parameters.names)
	msg := sprintf("name <%v> is not allowed", [input.review.object.metadata.name])
}
