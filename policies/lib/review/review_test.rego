package lib.review_test

import data.lib.review
import future.keywords.if

test_is_delete if {
	review.is_delete with input.review as {"operation": "DELETE"}
	not review.is_delete with input.review as {"operation": "CREATE"}
	not review.is_delete with input.review as {"operation": ""}
}

test_unchanged_on_update_of_an_existing_object if {
	old := {"spec": {"runtimeClassName": "runc"}}
	new := {"spec": {"runtimeClassName": "runc"}, "metadata": {"labels": {"a": "b"}}}
	review.unchanged(["spec", "runtimeClassName"]) with input.review as {"operation": "UPDATE", "oldObject": old, "object": new}
	review.unchanged(["spec", "nodeSelector"]) with input.review as {"operation": "UPDATE", "oldObject": old, "object": new}
}

test_changed_or_not_an_update if {
	old := {"spec": {"runtimeClassName": "wasmedge"}}
	new := {"spec": {"runtimeClassName": "runc"}}
	not review.unchanged(["spec", "runtimeClassName"]) with input.review as {"operation": "UPDATE", "oldObject": old, "object": new}
	not review.unchanged(["spec", "runtimeClassName"]) with input.review as {"operation": "CREATE", "object": new}
}

test_expanded_pod_of_a_workload_update_has_no_old_object if {
	new := {"spec": {"runtimeClassName": "runc"}}
	not review.unchanged(["spec", "runtimeClassName"]) with input.review as {"operation": "UPDATE", "oldObject": null, "object": new}
	not review.unchanged(["spec", "runtimeClassName"]) with input.review as {"operation": "UPDATE", "object": new}
}

test_subject if {
	review.subject({"kind": "Pod", "metadata": {"name": "tracker"}}) == "Pod <tracker>"
	review.subject({"kind": "Pod", "metadata": {"generateName": "tracker-"}}) == "Pod <tracker->"
	review.subject({}) == " <>"
}
