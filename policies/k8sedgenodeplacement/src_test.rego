package k8sedgenodeplacement_test

import data.k8sedgenodeplacement
import future.keywords.every
import future.keywords.if
import future.keywords.in

_params := {"nodeSelector": {"node-type": "edge"}}

_pod(spec) := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": spec}

_violations(review) := v if {
	v := k8sedgenodeplacement.violation with input as {"review": review, "parameters": _params}
}

_msgs(spec) := {x.msg | some x in _violations({"object": _pod(spec)})}

_affinity(terms) := {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}

_edge_term := {"matchExpressions": [{"key": "node-type", "operator": "In", "values": ["edge"]}]}

test_node_selector_confines if {
	_msgs({"nodeSelector": {"node-type": "edge"}}) == set()
	_msgs({"nodeSelector": {"node-type": "edge", "zone": "a"}}) == set()
}

test_required_affinity_confines if {
	_msgs({"affinity": _affinity([_edge_term])}) == set()
	_msgs({"affinity": _affinity([_edge_term, _edge_term])}) == set()
	two_expressions := {"matchExpressions": [
		{"key": "zone", "operator": "Exists"},
		{"key": "node-type", "operator": "In", "values": ["edge", "edge"]},
	]}
	_msgs({"affinity": _affinity([two_expressions])}) == set()
}

test_unconfined_pods if {
	want := "Pod <tracker> is not confined to nodes labelled <node-type=edge>: nodeSelector <%v> lacks them and there is no required node affinity"
	_msgs({}) == {sprintf(want, [""])}
	_msgs({"nodeSelector": {"node-type": "cloud"}}) == {sprintf(want, ["node-type=cloud"])}
	_msgs({"nodeSelector": {"node-type": "Edge", "zone": "a"}}) == {sprintf(want, ["node-type=Edge, zone=a"])}
	_msgs({"nodeSelector": {"node-type": "edge"}, "affinity": {"nodeAffinity": {}}}) == set()
	_msgs({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}}) == {sprintf(want, [""])}

	# A null list of terms holds none: it must not leave the pod unjudged.
	_msgs({"affinity": _affinity(null)}) == {sprintf(want, [""])}
}

test_affinity_terms_that_escape if {
	want := "Pod <tracker> is not confined to nodes labelled <node-type=edge>: nodeSelector <%v> lacks them and <%d> required node affinity term(s) allow other nodes; require the labels in nodeSelector, or in every nodeSelectorTerm with operator In and only that value"
	every term in [_not_in, _exists, _wider, _empty, _other, _fields] {
		_msgs({"affinity": _affinity([term])}) == {sprintf(want, ["", 1])}
	}
	_msgs({"nodeSelector": {"node-type": "cloud"}, "affinity": _affinity([_edge_term, _other, _wider])}) == {sprintf(want, ["node-type=cloud", 2])}
}

# The nodeSelector and the required terms must both match a node, so a nodeSelector
# that requires the labels confines the Pod whatever its terms allow. A DaemonSet's
# Pods rely on this: the controller adds a term naming the one node each Pod is for.
test_node_selector_confines_whatever_the_terms if {
	every term in [_not_in, _exists, _wider, _empty, _other, _fields] {
		_msgs({"nodeSelector": {"node-type": "edge"}, "affinity": _affinity([term, _edge_term])}) == set()
	}
}

_not_in := {"matchExpressions": [{"key": "node-type", "operator": "NotIn", "values": ["cloud"]}]}

_exists := {"matchExpressions": [{"key": "node-type", "operator": "Exists"}]}

_wider := {"matchExpressions": [{"key": "node-type", "operator": "In", "values": ["edge", "cloud"]}]}

_empty := {"matchExpressions": [{"key": "node-type", "operator": "In", "values": []}]}

_other := {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}

_fields := {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}

test_details_carry_the_data if {
	v := _violations({"object": _pod({"nodeSelector": {"node-type": "cloud"}})})
	{x.details | some x in v} == {{"required": {"node-type": "edge"}, "nodeSelector": {"node-type": "cloud"}}}
}

test_update_keeping_placement_is_not_rejudged if {
	old := _pod({"nodeSelector": {"node-type": "cloud"}})
	count(_violations({"operation": "UPDATE", "oldObject": old, "object": old})) == 0
}

test_update_changing_placement_or_an_expanded_workload_is_judged if {
	count(_violations({"operation": "UPDATE", "oldObject": _pod({"nodeSelector": {"node-type": "edge"}}), "object": _pod({})})) == 1
	count(_violations({"operation": "UPDATE", "object": _pod({})})) == 1
	old := _pod({"nodeSelector": {"node-type": "edge"}})
	new := _pod({"affinity": _affinity([_exists])})
	count(_violations({"operation": "UPDATE", "oldObject": old, "object": new})) == 1
}

test_delete_is_never_judged if {
	count(_violations({"operation": "DELETE", "object": _pod({}), "oldObject": _pod({})})) == 0
}

test_without_parameters_everything_is_confined if {
	v := k8sedgenodeplacement.violation with input as {"review": {"object": _pod({})}, "parameters": {}}
	count(v) == 0
}
