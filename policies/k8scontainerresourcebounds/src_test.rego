package k8scontainerresourcebounds_test

import data.k8scontainerresourcebounds
import future.keywords.every
import future.keywords.if
import future.keywords.in

_params := {"minRequests": {"cpu": "100m", "memory": "128Mi"}, "maxLimits": {"cpu": "500m", "memory": "512Mi"}}

_c(name, rc, rm, lc, lm) := {"name": name, "resources": {"requests": {"cpu": rc, "memory": rm}, "limits": {"cpu": lc, "memory": lm}}}

_ok(name) := _c(name, "100m", "128Mi", "500m", "512Mi")

_pod(spec) := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": spec}

_violations(review) := v if {
	v := k8scontainerresourcebounds.violation with input as {"review": review, "parameters": _params}
}

_msgs(spec) := {x.msg | some x in _violations({"object": _pod(spec)})}

test_compliant_in_every_spelling if {
	_msgs({"containers": [_ok("app")]}) == set()
	_msgs({"containers": [_c("app", "0.1", "134217728", ".5", "0.5Gi")]}) == set()
	_msgs({"containers": [_c("app", "1e-1", "128Mi", "5e-1", "536870912")]}) == set()
	_msgs({"containers": [_c("app", "100000u", "0.125Gi", "500m", "5e8")]}) == set()
	_msgs({"containers": [_c("app", 0.25, "131072Ki", 0.5, "512M")]}) == set()
	_msgs({"initContainers": [_ok("init")], "containers": [_ok("app")]}) == set()
}

test_missing_values_in_each_container_list if {
	bare := {"name": "debugger"}
	_msgs({"containers": [_ok("app"), {"name": "side", "resources": {"limits": {"cpu": "500m"}}}], "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "100m", "memory": null}}}], "ephemeralContainers": [bare]}) == {concat("", [
		"Pod <tracker> must declare cpu and memory limits in every container, and requests unless they equal the limits (ephemeral containers cannot declare resources, so none is admitted): ",
		"container <debugger> has no <requests.cpu>; ",
		"container <side> has no <requests.memory>; container <init> has no <requests.memory>; container <debugger> has no <requests.memory>; ",
		"container <init> has no <limits.cpu>; container <debugger> has no <limits.cpu>; ",
		"container <side> has no <limits.memory>; container <init> has no <limits.memory>; container <debugger> has no <limits.memory>",
	])}
}

_limits_only(cpu, memory) := {"name": "app", "resources": {"limits": {"cpu": cpu, "memory": memory}}}

# Kubernetes sets a Pod's missing requests to its limits but not a pod template's, so
# a request left out is judged as its limit.
test_requests_left_out_are_their_limits if {
	_msgs({"containers": [_limits_only("500m", "512Mi")]}) == set()
	_msgs({"containers": [_limits_only("50m", "512Mi")]}) == {"Pod <tracker> requests less than the minimum: container <app> <requests.cpu> <50m> is below <100m>"}
	_msgs({"containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": null}, "limits": {"cpu": "500m", "memory": "64Mi"}}}]}) == {"Pod <tracker> requests less than the minimum: container <app> <requests.memory> <64Mi> is below <128Mi>"}
	_msgs({"containers": [_limits_only("1", "512Mi")]}) == {"Pod <tracker> limits more than the maximum: container <app> <limits.cpu> <1> is above <500m>"}
}

test_unparseable_values_are_violations_not_errors if {
	_msgs({"containers": [_c("app", "100 m", "128MB", "abc", true)]}) == {concat("", [
		"Pod <tracker> declares values that are not Kubernetes quantities it can compare: ",
		"container <app> <requests.cpu> <100 m> is not a Kubernetes quantity; ",
		"container <app> <requests.memory> <128MB> is not a Kubernetes quantity; ",
		"container <app> <limits.cpu> <abc> is not a Kubernetes quantity; ",
		"container <app> <limits.memory> <true> is not a Kubernetes quantity",
	])}
}

# Kubernetes wraps the exponent of "1e-2147483649" to 2^31-1 and would compute
# 10^2147483647 to compare it; such values are reported, never compared.
test_values_too_large_to_compare_are_reported if {
	_msgs({"containers": [_c("app", "13500.957656115e-2147483649", "128Mi", "1e100", "512Mi")]}) == {concat("", [
		"Pod <tracker> declares values that are not Kubernetes quantities it can compare: ",
		"container <app> <requests.cpu> <13500.957656115e-2147483649> is too long (over 64 characters) or has too large an exponent (over e99) to compare; ",
		"container <app> <limits.cpu> <1e100> is too long (over 64 characters) or has too large an exponent (over e99) to compare",
	])}
	params := {"maxLimits": {"cpu": "1e-2147483649"}}
	v := k8scontainerresourcebounds.violation with input as {"review": {"object": _pod({"containers": [_ok("app")]})}, "parameters": params}
	{x.msg | some x in v} == {"Pod <tracker> cannot be judged against constraint parameters that are not Kubernetes quantities it can compare: <maxLimits.cpu> <1e-2147483649>"}
}

test_requests_below_minimum if {
	_msgs({"containers": [_c("app", "99m", "128Mi", "500m", "512Mi")], "initContainers": [_c("init", "0.05", "100M", "500m", "512Mi")]}) == {concat("", [
		"Pod <tracker> requests less than the minimum: ",
		"container <app> <requests.cpu> <99m> is below <100m>; container <init> <requests.cpu> <0.05> is below <100m>; ",
		"container <init> <requests.memory> <100M> is below <128Mi>",
	])}
}

test_limits_above_maximum_that_look_small if {
	every pair in [["0.75", "0.6Gi"], ["501m", "600M"], ["1", "6e8"], ["5e-1", "512.1Mi"]] {
		[cpu, memory] := pair
		v := _violations({"object": _pod({"containers": [_c("app", "100m", "128Mi", cpu, memory)]})})
		count(v) == 1
		some x in v
		x.details.aboveMaximum[count(x.details.aboveMaximum) - 1] == sprintf("container <app> <limits.memory> <%v> is above <512Mi>", [memory])
	}
}

test_request_above_limit if {
	_msgs({"containers": [_c("app", "400m", "300Mi", "300m", "256Mi")]}) == {concat("", [
		"Pod <tracker> requests more than its limits: ",
		"container <app> <cpu> request <400m> exceeds its limit <300m>; container <app> <memory> request <300Mi> exceeds its limit <256Mi>",
	])}
}

test_each_check_is_one_violation if {
	v := _violations({"object": _pod({
		"containers": [_c("a", "1m", "1Mi", "1", "1Gi"), _c("b", "2m", "x", "1m", "1Gi")],
		"ephemeralContainers": [{"name": "debugger"}],
	})})
	count(v) == 5
}

test_invalid_parameters_are_reported_and_skipped if {
	params := {"minRequests": {"cpu": "lots"}, "maxLimits": {"memory": "512 Mi", "cpu": "500m"}}
	v := k8scontainerresourcebounds.violation with input as {"review": {"object": _pod({"containers": [_ok("app")]})}, "parameters": params}
	{x.msg | some x in v} == {"Pod <tracker> cannot be judged against constraint parameters that are not Kubernetes quantities it can compare: <minRequests.cpu> <lots>; <maxLimits.memory> <512 Mi>"}
}

test_without_parameters_only_declarations_are_required if {
	v := k8scontainerresourcebounds.violation with input as {"review": {"object": _pod({"containers": [_c("app", "1m", "1Mi", "64", "64Gi")]})}, "parameters": {}}
	count(v) == 0
}

test_update_and_ephemeral_containers_are_judged if {
	old := _pod({"containers": [_ok("app")]})
	resized := _pod({"containers": [_c("app", "100m", "128Mi", "1", "512Mi")]})
	count(_violations({"operation": "UPDATE", "oldObject": old, "object": resized})) == 1
	debugged := _pod({"containers": [_ok("app")], "ephemeralContainers": [{"name": "debugger", "image": "busybox"}]})
	count(_violations({"operation": "UPDATE", "subResource": "ephemeralcontainers", "oldObject": old, "object": debugged})) == 1
}

test_pod_level_resources if {
	want := {"Pod <tracker> declares pod-level resources <spec.resources>; the bounds apply per container, so declare resources on each container instead"}
	_msgs({"containers": [_ok("app")], "resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "8"}}}) == want
	_msgs({"containers": [_ok("app")], "resources": {}}) == set()
	_msgs({"containers": [_ok("app")], "resources": null}) == set()
}

test_delete_is_never_judged if {
	count(_violations({"operation": "DELETE", "object": _pod({"containers": [{"name": "app"}]})})) == 0
}
