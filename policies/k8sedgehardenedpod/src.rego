# METADATA
# title: K8sEdgeHardenedPod
# description: Non-root, read-only, no privilege, no host namespaces or paths, probes on regular containers.
package k8sedgehardenedpod

import data.lib.containers
import data.lib.review
import future.keywords.contains
import future.keywords.if
import future.keywords.in

# METADATA
# description: One violation per failed check, each listing its offenders.
violation contains {"msg": msg, "details": {"check": check, "offenders": offenders}} if {
	not review.is_delete
	some check in _checks
	offenders := _offenders[check]
	count(offenders) > 0
	msg := sprintf("%v %v: %v", [_subject, _wants[check], concat("; ", offenders)])
}

_checks := ["runAsNonRoot", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "privileged", "dropAll", "addedCapabilities", "hostNamespaces", "hostPath", "volumeTypes", "hostPort", "unconfined", "probes"]

_wants := {
	"runAsNonRoot": "must run as non-root (runAsNonRoot: true, on the container or the pod)",
	"allowPrivilegeEscalation": "must set allowPrivilegeEscalation: false",
	"readOnlyRootFilesystem": "must set readOnlyRootFilesystem: true",
	"privileged": "must not run privileged containers",
	"dropAll": "must drop ALL capabilities",
	"addedCapabilities": sprintf("may add only capabilities <%v>", [concat(", ", _allowed_capabilities)]),
	"hostNamespaces": "must not share host namespaces",
	"hostPath": "must not mount hostPath volumes",
	"volumeTypes": sprintf("may use only volume types <%v>", [concat(", ", _allowed_volume_types)]),
	"hostPort": "must not use hostPort",
	"unconfined": "must not opt out of seccomp, AppArmor, SELinux or /proc masking",
	"probes": "must give every regular container of a long-running pod (restartPolicy Always) readiness and liveness probes",
}

_subject := review.subject(input.review.object)

_spec := object.get(input.review.object, "spec", {})

_containers := containers.of(_spec)

_allowed_capabilities := object.get(input.parameters, "allowedCapabilities", [])

_allowed_volume_types := object.get(input.parameters, "allowedVolumeTypes", ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"])

_pod_non_root := object.get(_spec, ["securityContext", "runAsNonRoot"], null)

_sc(c, field) := object.get(c, ["securityContext", field], null)

_offenders["runAsNonRoot"] := [sprintf("container <%v>", [c.name]) | some c in _containers; not _non_root(c)]

_offenders["allowPrivilegeEscalation"] := [sprintf("container <%v>", [c.name]) | some c in _containers; _sc(c, "allowPrivilegeEscalation") != false]

_offenders["readOnlyRootFilesystem"] := [sprintf("container <%v>", [c.name]) | some c in _containers; _sc(c, "readOnlyRootFilesystem") != true]

_offenders["privileged"] := [sprintf("container <%v>", [c.name]) | some c in _containers; _sc(c, "privileged") == true]

_offenders["dropAll"] := [sprintf("container <%v>", [c.name]) | some c in _containers; not "ALL" in _capabilities(c, "drop")]

_offenders["addedCapabilities"] := [sprintf("container <%v> adds <%v>", [c.name, cap]) |
	some c in _containers
	some cap in _capabilities(c, "add")
	not cap in _allowed_capabilities
]

_offenders["hostNamespaces"] := [sprintf("<%v>", [field]) | some field in ["hostNetwork", "hostPID", "hostIPC"]; _spec[field] == true]

_offenders["hostPath"] := [sprintf("volume <%v>", [v.name]) | some v in object.get(_spec, "volumes", []); _ = v.hostPath]

# Volume types outside the list (by default Pod Security's restricted one) reach the
# node or the network as root (nfs, iscsi, flexVolume, gitRepo) or pull an image from
# anywhere (image); hostPath has its own check.
_offenders["volumeTypes"] := [sprintf("volume <%v> <%v>", [v.name, type]) |
	some v in object.get(_spec, "volumes", [])
	some type, _ in v
	not type in {"name", "hostPath"}
	not type in _allowed_volume_types
]

_offenders["hostPort"] := [sprintf("container <%v> hostPort <%v>", [c.name, p.hostPort]) |
	some c in _containers
	some p in object.get(c, "ports", [])
	object.get(p, "hostPort", 0) != 0
]

# Explicit opt-outs of the runtime's confinement, pod-wide and per container, including
# the AppArmor annotation Kubernetes still honours beside the appArmorProfile field.
_offenders["unconfined"] := array.concat(
	array.concat(_unconfined_pod, _selinux(_spec, "pod")),
	array.concat(array.concat(_unconfined_containers, _unconfined_selinux), _unconfined_annotations),
)

_unconfined_selinux := [p | some c in _containers; some p in _selinux(c, sprintf("container <%v>", [c.name]))]

# SELinux as Pod Security's baseline allows it: no user or role, and only the
# container types (spc_t, for one, is unconfined).
_selinux(x, who) := [sprintf("%v <seLinuxOptions.%v> <%v>", [who, field, value]) |
	options := _selinux_options(x)
	some field in ["type", "user", "role"]
	value := object.get(options, field, null)
	not value in {null, ""}
	_selinux_refused(field, value)
]

_selinux_options(x) := o if {
	o := object.get(x, ["securityContext", "seLinuxOptions"], {})
	is_object(o)
}

_selinux_refused("type", value) if not value in {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

_selinux_refused(field, _) if field != "type"

_unconfined_pod := [sprintf("pod <%v> <Unconfined>", [field]) |
	some field in ["seccompProfile", "appArmorProfile"]
	object.get(_spec, ["securityContext", field, "type"], "") == "Unconfined"
]

_unconfined_containers := [sprintf("container <%v> <%v> <%v>", [c.name, field, value]) |
	some c in _containers
	some [field, value] in [["seccompProfile", "Unconfined"], ["appArmorProfile", "Unconfined"], ["procMount", "Unmasked"]]
	_opt_out(c, field) == value
]

_opt_out(c, "procMount") := _sc(c, "procMount")

_opt_out(c, field) := object.get(c, ["securityContext", field, "type"], null) if field != "procMount"

_unconfined_annotations := [sprintf("annotation <%v> <unconfined>", [key]) |
	some c in _containers
	key := concat("", ["container.apparmor.security.beta.kubernetes.io/", c.name])
	object.get(input.review.object, ["metadata", "annotations", key], "") == "unconfined"
]

# A Job's pods run to completion (restartPolicy OnFailure or Never): nothing to probe.
# A container that restarts by its own restartPolicy Always or its restart rules
# (Kubernetes 1.34+) is long-running too, whatever its pod says; a container's own
# OnFailure or Never does not exempt it in a pod that restarts Always.
_offenders["probes"] := [sprintf("container <%v> has no <%v>", [c.name, probe]) |
	some probe in ["readinessProbe", "livenessProbe"]
	some c in object.get(_spec, "containers", [])
	_long_running(c)
	object.get(c, probe, null) == null
]

# The API server defaults an empty or absent restartPolicy to Always.
_long_running(_) if object.get(_spec, "restartPolicy", null) in {null, "", "Always"}

_long_running(c) if c.restartPolicy == "Always"

_long_running(c) if {
	rules := object.get(c, "restartPolicyRules", null)
	is_array(rules)
	count(rules) > 0
}

# The container's own setting wins; the pod's applies where the container sets none.
_non_root(c) if _sc(c, "runAsNonRoot") == true

_non_root(c) if {
	_sc(c, "runAsNonRoot") == null
	_pod_non_root == true
}

_capabilities(c, kind) := object.get(c, ["securityContext", "capabilities", kind], [])
