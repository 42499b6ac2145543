package k8sgovernednamespace_test

import data.k8sgovernednamespace
import future.keywords.if
import future.keywords.in

_params := {"namePattern": "^scm-edge-", "label": "edgetrace.io/governed", "value": "true"}

_ns(name, labels) := {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}

_msgs(review, params) := {x.msg | some x in v} if {
	v := k8sgovernednamespace.violation with input as {"review": review, "parameters": params}
}

test_governed_edge_namespace if {
	_msgs({"object": _ns("scm-edge-a", {"edgetrace.io/governed": "true"})}, _params) == set()
}

test_other_namespaces_are_not_judged if {
	_msgs({"object": _ns("default", {})}, _params) == set()
	_msgs({"object": _ns("team-scm-edge-a", {})}, _params) == set()
	_msgs({"object": {"kind": "Pod", "metadata": {"name": "scm-edge-a"}}}, _params) == set()
}

test_edge_namespace_without_the_label if {
	_msgs({"object": _ns("scm-edge-b", {"team": "scm"})}, _params) == {"Namespace <scm-edge-b> matches <^scm-edge-> and must carry the label <edgetrace.io/governed: true> (found <none>), so that edge constraints select it"}
	_msgs({"object": _ns("scm-edge-b", {"edgetrace.io/governed": "false"})}, _params) == {"Namespace <scm-edge-b> matches <^scm-edge-> and must carry the label <edgetrace.io/governed: true> (found <false>), so that edge constraints select it"}
}

test_label_removed_on_update if {
	old := _ns("scm-edge-c", {"edgetrace.io/governed": "true"})
	count(_msgs({"operation": "UPDATE", "oldObject": old, "object": _ns("scm-edge-c", {})}, _params)) == 1
}

test_defaults_for_label_and_value if {
	count(_msgs({"object": _ns("scm-edge-d", {})}, {"namePattern": "^scm-edge-"})) == 1
}

test_delete_is_never_judged if {
	_msgs({"operation": "DELETE", "object": _ns("scm-edge-e", {})}, _params) == set()
}
