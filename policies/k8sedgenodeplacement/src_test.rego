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
}

test_affinity_terms_that_escape if {
	want := "Pod <tracker> has <%d> required node affinity term(s) that allow nodes outside <node-type=edge>; every nodeSelectorTerm must require each label with operator In and only that value"
	not_in := {"matchExpressions": [{"key": "node-type", "operator": "NotIn", "values": ["cloud"]}]}
	exists := {"matchExpressions": [{"key": "node-type", "operator": "Exists"}]}
	wider := {"matchExpressions": [{"key": "node-type", "operator": "In", "values": ["edge", "cloud"]}]}
	empty := {"matchExpressions": [{"key": "node-type", "operator": "In", "values": []}]}
	other := {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
	fields := {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
	every term in [not_in, exists, wider, empty, other, fields] {
		_msgs({"affinity": _affinity([term])}) == {sprintf(want, [1])}
	}

	# A matching nodeSelector does not excuse an affinity term that allows other nodes.
	_msgs({"nodeSelector": {"node-type": "edge"}, "affinity": _affinity([_edge_term, other, wider])}) == {sprintf(want, [2])}
}

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
	new := _pod({"nodeSelector": {"node-type": "edge"}, "affinity": _affinity([{"matchExpressions": [{"key": "node-type", "operator": "Exists"}]}])})
	count(_violations({"operation": "UPDATE", "oldObject": old, "object": new})) == 1
}

test_delete_is_never_judged if {
	count(_violations({"operation": "DELETE", "object": _pod({}), "oldObject": _pod({})})) == 0
}

test_without_parameters_everything_is_confined if {
	v := k8sedgenodeplacement.violation with input as {"review": {"object": _pod({})}, "parameters": {}}
	count(v) == 0
}
