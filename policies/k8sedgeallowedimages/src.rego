# METADATA
# title: K8sEdgeAllowedImages
# description: Images come from allowed repositories, carry an allowed tag or a digest and, if required, a digest.
package k8sedgeallowedimages

import data.lib.containers
import data.lib.review
import future.keywords.contains
import future.keywords.if
import future.keywords.in

# METADATA
# description: Images outside the allowed repositories (whole path segments).
violation contains {"msg": msg, "details": {"images": bad, "repositories": _repositories}} if {
	not review.is_delete
	bad := [sprintf("container <%v> image <%v>", [c.name, c.image]) |
		some c in _containers
		not _allowed_repository(_reference(c.image).repository)
	]
	count(bad) > 0
	msg := sprintf("%v uses images from repositories that are not allowed (allowed: <%v>): %v", [_subject, concat(", ", _repositories), concat("; ", bad)])
}

# METADATA
# description: Images with neither a tag nor a digest (the runtime would pull an implicit latest).
violation contains {"msg": msg, "details": {"images": bad}} if {
	not review.is_delete
	bad := [sprintf("container <%v> image <%v>", [c.name, c.image]) |
		some c in _containers
		_reference(c.image).tag == ""
		not _pinned(c.image)
	]
	count(bad) > 0
	msg := sprintf("%v has images with neither a tag nor an @sha256 digest (implicit latest): %v", [_subject, concat("; ", bad)])
}

# METADATA
# description: Images whose tag is disallowed.
violation contains {"msg": msg, "details": {"images": bad, "disallowedTags": _disallowed_tags}} if {
	not review.is_delete
	bad := [sprintf("container <%v> image <%v> tag <%v>", [c.name, c.image, tag]) |
		some c in _containers
		tag := _reference(c.image).tag
		tag in _disallowed_tags
	]
	count(bad) > 0
	msg := sprintf("%v uses disallowed image tags (<%v>): %v", [_subject, concat(", ", _disallowed_tags), concat("; ", bad)])
}

# METADATA
# description: Images not pinned by a sha256 digest, when requireDigest is set.
violation contains {"msg": msg, "details": {"images": bad}} if {
	not review.is_delete
	object.get(input.parameters, "requireDigest", false) == true
	bad := [sprintf("container <%v> image <%v>", [c.name, c.image]) |
		some c in _containers
		not _pinned(c.image)
	]
	count(bad) > 0
	msg := sprintf("%v has images not pinned by an @sha256:<64 hex> digest: %v", [_subject, concat("; ", bad)])
}

_subject := review.subject(input.review.object)

_containers := containers.of(object.get(input.review.object, "spec", {}))

_repositories := object.get(input.parameters, "repositories", [])

_disallowed_tags := object.get(input.parameters, "disallowedTags", [])

_allowed_repository(repository) if {
	some allowed in _repositories
	repository == allowed
}

# A digest names one image exactly, so a digest-only reference is not an implicit latest.
_pinned(image) if regex.match(`^sha256:[a-f0-9]{64}$`, _reference(image).digest)

_allowed_repository(repository) if {
	some allowed in _repositories
	startswith(repository, concat("", [allowed, "/"]))
}

# _reference splits name[:tag][@digest]: the digest follows the first "@", the tag the
# last ":" that comes after the last "/" (a registry port is not a tag).
_reference(image) := {"repository": repository, "tag": tag, "digest": digest} if {
	[[_, name, digest]] := regex.find_all_string_submatch_n(`(?s)^([^@]*)@?(.*)$`, image, 1)
	[repository, tag] := _split_tag(name)
}

_split_tag(name) := [repository, tag] if {
	[[_, repository, tag]] := regex.find_all_string_submatch_n(`(?s)^(.*):([^:/]*)$`, name, 1)
}

_split_tag(name) := [name, ""] if not regex.match(`(?s)^(.*):([^:/]*)$`, name)
