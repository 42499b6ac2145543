package lib.containers_test

import data.lib.containers
import future.keywords.if
import future.keywords.in

test_of_lists_every_container_kind_in_order if {
	spec := {
		"ephemeralContainers": [{"name": "debugger"}],
		"initContainers": [{"name": "migrate"}, {"name": "sidecar", "restartPolicy": "Always"}],
		"containers": [{"name": "app"}],
	}
	[c.name | some c in containers.of(spec)] == ["app", "migrate", "sidecar", "debugger"]
}

test_of_tolerates_missing_lists if {
	containers.of({}) == []
	[c.name | some c in containers.of({"initContainers": [{"name": "init"}]})] == ["init"]
}
