# METADATA
# title: Admission review helpers
# description: |
#   What every rule asks of input.review: is this a DELETE, is a field unchanged on an
#   UPDATE of an existing object, and how to name the object in messages.
package lib.review

import future.keywords.if

# METADATA
# description: is_delete holds on DELETE; deleting a non-compliant object is always allowed.
is_delete if input.review.operation == "DELETE"

# METADATA
# description: |
#   unchanged(path) holds on an UPDATE of an existing object (oldObject present) whose
#   value at path is the same before and after. Pods created from a workload's template by
#   expansion carry the workload's operation but no oldObject, so they are always judged.
unchanged(path) if {
	input.review.operation == "UPDATE"
	is_object(input.review.oldObject)
	object.get(input.review.oldObject, path, null) == object.get(input.review.object, path, null)
}

# METADATA
# description: subject names an object in messages as "<Kind> <name>" (generateName when unnamed).
subject(obj) := sprintf("%v <%v>", [object.get(obj, "kind", ""), name(obj)])

# METADATA
# description: name is metadata.name, else metadata.generateName, else "".
name(obj) := object.get(obj, ["metadata", "name"], object.get(obj, ["metadata", "generateName"], ""))
