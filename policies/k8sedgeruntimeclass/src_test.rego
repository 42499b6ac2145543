package k8sedgeruntimeclass_test

import data.k8sedgeruntimeclass
import future.keywords.every
import future.keywords.if
import future.keywords.in

_params := {"allowedRuntimeClassNames": ["wasmedge"]}

_pod(spec) := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": spec}

_violations(review) := v if {
	v := k8sedgeruntimeclass.violation with input as {"review": review, "parameters": _params}
}

test_allowed_runtime_class if {
	count(_violations({"object": _pod({"runtimeClassName": "wasmedge"})})) == 0
}

test_missing_runtime_class if {
	v := _violations({"object": _pod({})})
	{x.msg | some x in v} == {"Pod <tracker> has no runtimeClassName; allowed: <wasmedge>"}
}

test_empty_runtime_class if {
	count(_violations({"object": _pod({"runtimeClassName": ""})})) == 1
}

test_other_spellings_are_refused if {
	every name in ["WasmEdge", " wasmedge", "wasmedge ", "runc", "crun"] {
		v := _violations({"object": _pod({"runtimeClassName": name})})
		{x.msg | some x in v} == {sprintf("Pod <tracker> runtimeClassName <%v> is not allowed; allowed: <wasmedge>", [name])}
	}
}

test_details_carry_the_data if {
	v := _violations({"object": _pod({"runtimeClassName": "runc"})})
	{x.details | some x in v} == {{"runtimeClassName": "runc", "allowed": ["wasmedge"]}}
}

test_no_parameters_allows_nothing if {
	v := k8sedgeruntimeclass.violation with input as {"review": {"object": _pod({"runtimeClassName": "wasmedge"})}, "parameters": {}}
	{x.msg | some x in v} == {"Pod <tracker> runtimeClassName <wasmedge> is not allowed; allowed: <>"}
}

test_update_keeping_the_immutable_field_is_not_rejudged if {
	old := _pod({"runtimeClassName": "runc"})
	count(_violations({"operation": "UPDATE", "oldObject": old, "object": old})) == 0
}

test_update_changing_it_or_an_expanded_workload_update_is_judged if {
	count(_violations({"operation": "UPDATE", "oldObject": _pod({"runtimeClassName": "wasmedge"}), "object": _pod({"runtimeClassName": "runc"})})) == 1
	count(_violations({"operation": "UPDATE", "object": _pod({"runtimeClassName": "runc"})})) == 1
}

test_delete_is_never_judged if {
	count(_violations({"operation": "DELETE", "object": _pod({}), "oldObject": _pod({})})) == 0
}
