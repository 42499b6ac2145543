// Package policy evaluates Kubernetes objects against the edgetrace policy
// bundle in-process, with Gatekeeper's own engine: frameworks/constraint with
// Gatekeeper's K8sValidationTarget, its Rego driver and its K8sNativeValidation
// (CEL) driver, and Gatekeeper's expander for workload → Pod expansion.
//
// An Evaluator is built for one Engine. Rego runs every template's Rego; CEL
// runs CEL where a template carries it and Rego where it does not, which is
// how Gatekeeper itself prefers engines. Running the same inputs through both
// and comparing is how the bundle proves the two engines decide alike.
//
// The package needs no cluster and imports no cluster code.
package policy
