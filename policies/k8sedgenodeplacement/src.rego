# METADATA
# title: K8sEdgeNodePlacement
# description: Pods must be confined to nodes carrying the nodeSelector parameter's labels, by nodeSelector or by required node affinity.
package k8sedgenodeplacement

import data.lib.review
import future.keywords.contains
import future.keywords.every
import future.keywords.if
import future.keywords.in

# A Pod may only run on a node that matches its nodeSelector and, if it has any, one of
# its required nodeSelectorTerms. It is confined when its nodeSelector requires the
# labels, or every term does; a DaemonSet's Pods, whose controller adds a term naming
# one node, are confined by their nodeSelector.

# METADATA
# description: A nodeSelector that lacks the labels, and required node affinity terms that allow nodes without them.
violation contains {"msg": msg, "details": {"required": _required, "nodeSelector": _selector, "escapingTerms": escaping}} if {
	_judged
	not _selector_matches
	escaping := [term | some term in _terms; not _confines(term)]
	count(escaping) > 0
	msg := sprintf(
		"%v is not confined to nodes labelled <%v>: nodeSelector <%v> lacks them and <%d> required node affinity term(s) allow other nodes; require the labels in nodeSelector, or in every nodeSelectorTerm with operator In and only that value",
		[review.subject(input.review.object), _labels, _pairs(_selector), count(escaping)],
	)
}

# METADATA
# description: No required node affinity, and a nodeSelector that lacks the labels.
violation contains {"msg": msg, "details": {"required": _required, "nodeSelector": _selector}} if {
	_judged
	count(_terms) == 0
	not _selector_matches
	msg := sprintf(
		"%v is not confined to nodes labelled <%v>: nodeSelector <%v> lacks them and there is no required node affinity",
		[review.subject(input.review.object), _labels, _pairs(_selector)],
	)
}

_required := object.get(input.parameters, "nodeSelector", {})

_labels := _pairs(_required)

_pairs(m) := concat(", ", [sprintf("%v=%v", [k, v]) | some k, v in m])

_spec := object.get(input.review.object, "spec", {})

_selector := object.get(_spec, "nodeSelector", {})

# null (or anything but a list) holds no terms, as in the CEL source.
_terms := t if {
	t := object.get(_spec, _terms_path, [])
	is_array(t)
}

_terms := [] if not is_array(object.get(_spec, _terms_path, []))

_terms_path := ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]

_selector_matches if {
	every k, v in _required {
		_selector[k] == v
	}
}

_confines(term) if {
	every k, v in _required {
		some e in object.get(term, "matchExpressions", [])
		_requires(e, k, v)
	}
}

_requires(e, k, v) if {
	e.key == k
	e.operator == "In"
	count(e.values) > 0
	every x in e.values {
		x == v
	}
}

# nodeSelector and affinity are immutable on a Pod: an UPDATE keeping both is not re-judged.
_judged if {
	not review.is_delete
	not _placement_unchanged
}

_placement_unchanged if {
	review.unchanged(["spec", "nodeSelector"])
	review.unchanged(["spec", "affinity"])
}
