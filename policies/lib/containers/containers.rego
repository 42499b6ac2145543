# METADATA
# title: Pod containers
# description: The one place that knows which pod-spec fields hold containers.
package lib.containers

import future.keywords.if
import future.keywords.in

# METADATA
# description: |
#   fields are the pod-spec lists that hold containers, in the order rules report them.
#   Ephemeral containers (kubectl debug) are containers too: they run in the pod.
fields := ["containers", "initContainers", "ephemeralContainers"]

# METADATA
# description: of returns every container of a pod spec, in the order of fields.
of(spec) := [c |
	some field in fields
	some c in object.get(spec, field, [])
]
