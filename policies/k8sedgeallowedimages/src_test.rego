package k8sedgeallowedimages_test

import data.k8sedgeallowedimages
import future.keywords.every
import future.keywords.if
import future.keywords.in

_params := {"repositories": ["registry.example.com/scm", "registry.example.com:5000/edge"], "disallowedTags": ["latest"]}

_pod(images) := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": {"containers": [{"name": sprintf("c%d", [i]), "image": img} | some i, img in images]}}

_violations(object, params) := v if {
	v := k8sedgeallowedimages.violation with input as {"review": {"object": object}, "parameters": params}
}

_msgs(images) := {x.msg | some x in _violations(_pod(images), _params)}

test_allowed_images if {
	_msgs(["registry.example.com/scm:1.0", "registry.example.com/scm/tracker:1.4.2", "registry.example.com:5000/edge/x:v1@sha256:abc"]) == set()
}

test_repositories_match_whole_segments if {
	every image in ["registry.example.com.evil.io/scm:1.0", "registry.example.com/scmx:1.0", "evil.io/registry.example.com/scm:1.0", "registry.example.com:5000/edgex:1"] {
		_msgs([image]) == {sprintf("Pod <tracker> uses images from repositories that are not allowed (allowed: <registry.example.com/scm, registry.example.com:5000/edge>): container <c0> image <%v>", [image])}
	}
}

test_tag_or_digest_required if {
	_msgs(["registry.example.com/scm/tracker", "registry.example.com:5000/edge/x", "registry.example.com/scm/y:", "registry.example.com/scm/z@sha256:0123"]) == {"Pod <tracker> has images with neither a tag nor an @sha256 digest (implicit latest): container <c0> image <registry.example.com/scm/tracker>; container <c1> image <registry.example.com:5000/edge/x>; container <c2> image <registry.example.com/scm/y:>; container <c3> image <registry.example.com/scm/z@sha256:0123>"}
	digest := concat("", ["sha256:", concat("", ["0123456789abcdef" | some _ in numbers.range(1, 4)])])
	_msgs([sprintf("registry.example.com/scm/tracker@%v", [digest])]) == set()
}

test_disallowed_tags if {
	_msgs(["registry.example.com/scm/tracker:latest"]) == {"Pod <tracker> uses disallowed image tags (<latest>): container <c0> image <registry.example.com/scm/tracker:latest> tag <latest>"}
}

test_digest_required if {
	digest := concat("", ["sha256:", concat("", ["0123456789abcdef" | some _ in numbers.range(1, 4)])])
	params := object.union(_params, {"requireDigest": true})
	pinned := sprintf("registry.example.com/scm/t:1@%v", [digest])
	count(_violations(_pod([pinned]), params)) == 0
	v := _violations(_pod(["registry.example.com/scm/t:1", "registry.example.com/scm/t:1@sha256:ABC"]), params)
	{x.msg | some x in v} == {"Pod <tracker> has images not pinned by an @sha256:<64 hex> digest: container <c0> image <registry.example.com/scm/t:1>; container <c1> image <registry.example.com/scm/t:1@sha256:ABC>"}
}

test_every_container_list_and_counts if {
	object := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {
		"containers": [{"name": "a", "image": "registry.example.com/scm/t:latest"}],
		"initContainers": [{"name": "b", "image": "docker.io/library/busybox"}],
		"ephemeralContainers": [{"name": "c", "image": "busybox:1.36"}],
	}}
	count(_violations(object, _params)) == 3
}

test_without_parameters_nothing_is_allowed if {
	{x.msg | some x in _violations(_pod(["a/b:1"]), {})} == {"Pod <tracker> uses images from repositories that are not allowed (allowed: <>): container <c0> image <a/b:1>"}
}

test_delete_is_never_judged if {
	v := k8sedgeallowedimages.violation with input as {"review": {"operation": "DELETE", "object": _pod(["x"])}, "parameters": _params}
	count(v) == 0
}
