package k8sedgehardenedpod_test

import data.k8sedgehardenedpod
import future.keywords.every
import future.keywords.if
import future.keywords.in

_hardened := {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}

_probe := {"httpGet": {"path": "/healthz", "port": 8080}}

_app := {"name": "app", "securityContext": _hardened, "readinessProbe": _probe, "livenessProbe": _probe}

_pod(spec) := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": object.union({"securityContext": {"runAsNonRoot": true}}, spec)}

_msgs(spec) := {x.msg | some x in _violations(_pod(spec))}

_violations(object) := v if {
	v := k8sedgehardenedpod.violation with input as {"review": {"object": object}, "parameters": {"allowedCapabilities": ["NET_BIND_SERVICE"]}}
}

test_hardened_pod if {
	_msgs({"containers": [_app]}) == set()
	init := {"name": "init", "securityContext": _hardened}
	_msgs({"containers": [_app], "initContainers": [init], "ephemeralContainers": [object.union(init, {"name": "debug"})]}) == set()
	adds := object.union(_app, {"securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}})
	_msgs({"containers": [adds]}) == set()
}

test_run_as_non_root_container_overrides_pod if {
	root := object.union(_app, {"securityContext": {"runAsNonRoot": false}})
	_msgs({"containers": [root]}) == {"Pod <tracker> must run as non-root (runAsNonRoot: true, on the container or the pod): container <app>"}
	no_pod_default := {"kind": "Pod", "metadata": {"name": "tracker"}, "spec": {"containers": [_app, object.union(_app, {"name": "b", "securityContext": {"runAsNonRoot": true}})]}}
	{x.msg | some x in _violations(no_pod_default)} == {"Pod <tracker> must run as non-root (runAsNonRoot: true, on the container or the pod): container <app>"}
}

test_container_settings if {
	bad := {"name": "bad", "readinessProbe": _probe, "livenessProbe": _probe, "securityContext": {
		"allowPrivilegeEscalation": true, "privileged": true,
		"capabilities": {"drop": ["NET_RAW"], "add": ["SYS_ADMIN", "NET_BIND_SERVICE"]},
	}}
	_msgs({"containers": [bad]}) == {
		"Pod <tracker> must set allowPrivilegeEscalation: false: container <bad>",
		"Pod <tracker> must set readOnlyRootFilesystem: true: container <bad>",
		"Pod <tracker> must not run privileged containers: container <bad>",
		"Pod <tracker> must drop ALL capabilities: container <bad>",
		"Pod <tracker> may add only capabilities <NET_BIND_SERVICE>: container <bad> adds <SYS_ADMIN>",
	}
}

test_host_access if {
	app := object.union(_app, {"ports": [{"containerPort": 8080, "hostPort": 8080}, {"containerPort": 9090}]})
	_msgs({"containers": [app], "hostNetwork": true, "hostIPC": true, "hostPID": false, "volumes": [{"name": "data", "emptyDir": {}}, {"name": "root", "hostPath": {"path": "/"}}]}) == {
		"Pod <tracker> must not share host namespaces: <hostNetwork>; <hostIPC>",
		"Pod <tracker> must not mount hostPath volumes: volume <root>",
		"Pod <tracker> must not use hostPort: container <app> hostPort <8080>",
	}
}

test_probes_on_regular_containers_only if {
	bare := {"name": "bare", "securityContext": _hardened}
	half := object.union(bare, {"name": "half", "readinessProbe": _probe})
	_msgs({"containers": [bare, half, _app], "initContainers": [object.union(bare, {"name": "init"})]}) == {"Pod <tracker> must give every regular container of a long-running pod (restartPolicy Always) readiness and liveness probes: container <bare> has no <readinessProbe>; container <bare> has no <livenessProbe>; container <half> has no <livenessProbe>"}
}

test_job_pods_need_no_probes if {
	bare := {"name": "bare", "securityContext": _hardened}
	every policy in ["OnFailure", "Never"] {
		_msgs({"containers": [bare], "restartPolicy": policy}) == set()
	}
	every policy in ["Always", "", null] {
		count(_msgs({"containers": [bare], "restartPolicy": policy})) == 1
	}
}

# A container's own restart policy or rules (Kubernetes 1.34+) make it restart in a
# pod that would not: it is long-running and needs its probes.
test_containers_that_restart_need_probes if {
	bare := {"name": "bare", "securityContext": _hardened}
	restarts := [
		object.union(bare, {"restartPolicy": "Always"}),
		object.union(bare, {"restartPolicy": "Never", "restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [255]}}]}),
	]
	every c in restarts {
		_msgs({"containers": [c], "restartPolicy": "Never"}) == {"Pod <tracker> must give every regular container of a long-running pod (restartPolicy Always) readiness and liveness probes: container <bare> has no <readinessProbe>; container <bare> has no <livenessProbe>"}
	}
	stops := [
		object.union(bare, {"restartPolicy": "OnFailure"}),
		object.union(bare, {"restartPolicy": "Never", "restartPolicyRules": []}),
		object.union(bare, {"restartPolicy": "", "restartPolicyRules": null}),
	]
	every c in stops {
		_msgs({"containers": [c], "restartPolicy": "Never"}) == set()

		# A container's own policy only adds: in a pod that restarts Always it
		# still needs its probes.
		count(_msgs({"containers": [c], "restartPolicy": "Always"})) == 1
	}
}

test_volume_types if {
	volumes := [
		{"name": "cfg", "configMap": {"name": "c"}}, {"name": "tmp", "emptyDir": {}}, {"name": "tok", "projected": {"sources": []}},
		{"name": "nfs", "nfs": {"server": "198.18.0.1", "path": "/"}}, {"name": "tools", "image": {"reference": "evil.io/tools:latest"}},
		{"name": "root", "hostPath": {"path": "/"}},
	]
	_msgs({"containers": [_app], "volumes": volumes}) == {
		"Pod <tracker> must not mount hostPath volumes: volume <root>",
		"Pod <tracker> may use only volume types <configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret>: volume <nfs> <nfs>; volume <tools> <image>",
	}
	v := k8sedgehardenedpod.violation with input as {"review": {"object": _pod({"containers": [_app], "volumes": volumes})}, "parameters": {"allowedVolumeTypes": ["configMap", "emptyDir", "projected", "nfs", "image"]}}
	{x.msg | some x in v} == {"Pod <tracker> must not mount hostPath volumes: volume <root>"}
}

test_selinux_opt_outs if {
	_msgs({"containers": [object.union(_app, {"securityContext": {"seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}}})], "securityContext": {"runAsNonRoot": true, "seLinuxOptions": {"type": "", "user": null}}}) == set()
	_msgs({"containers": [object.union(_app, {"securityContext": {"seLinuxOptions": {"type": "spc_t", "role": "sysadm_r"}}})], "securityContext": {"runAsNonRoot": true, "seLinuxOptions": {"user": "system_u"}}}) == {concat("", [
		"Pod <tracker> must not opt out of seccomp, AppArmor, SELinux or /proc masking: ",
		"pod <seLinuxOptions.user> <system_u>; container <app> <seLinuxOptions.type> <spc_t>; container <app> <seLinuxOptions.role> <sysadm_r>",
	])}
}

test_delete_is_never_judged if {
	v := k8sedgehardenedpod.violation with input as {"review": {"operation": "DELETE", "object": {"kind": "Pod", "spec": {"containers": [{"name": "x"}]}}}, "parameters": {}}
	count(v) == 0
}

test_confinement_opt_outs if {
	_msgs({"containers": [_app], "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}, "appArmorProfile": {"type": "RuntimeDefault"}}}) == set()
	confined := object.union(_app, {"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "edge.json"}, "procMount": "Default"}})
	_msgs({"containers": [confined]}) == set()

	loose := object.union(_app, {"securityContext": {"seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"}, "procMount": "Unmasked"}})
	_msgs({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"}}, "containers": [_app, loose]}) == {concat("", [
		"Pod <tracker> must not opt out of seccomp, AppArmor, SELinux or /proc masking: ",
		"pod <seccompProfile> <Unconfined>; pod <appArmorProfile> <Unconfined>; ",
		"container <app> <seccompProfile> <Unconfined>; container <app> <appArmorProfile> <Unconfined>; container <app> <procMount> <Unmasked>",
	])}
}

test_apparmor_annotation_opt_out if {
	pod := object.union(_pod({"containers": [_app]}), {"metadata": {"annotations": {
		"container.apparmor.security.beta.kubernetes.io/app": "unconfined",
		"container.apparmor.security.beta.kubernetes.io/gone": "unconfined",
	}}})
	{x.msg | some x in _violations(pod)} == {"Pod <tracker> must not opt out of seccomp, AppArmor, SELinux or /proc masking: annotation <container.apparmor.security.beta.kubernetes.io/app> <unconfined>"}
	default_profile := object.union(pod, {"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}}})
	count(_violations(default_profile)) == 0
}
