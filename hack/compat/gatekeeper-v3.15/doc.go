// Package compat checks the policy bundle against the policy engine of
// Gatekeeper v3.15.1, the release the case study runs: the
// open-policy-agent/frameworks/constraint pseudo-version that release pins,
// with its Rego driver (OPA v0.60.0) and the k8s.io v0.28.6 libraries.
//
// Gatekeeper v3.15 itself cannot be built from the module proxy (it replaces
// controller-runtime with an unpublished fork), so this module carries a
// small stand-in for its admission target (Target) and for the parts of
// gator verify and of the expansion system the suites rely on. Each mirrors
// v3.15.1's behaviour, not today's Gatekeeper's; where they differ the code
// says so.
//
// This is a separate module so that its old dependency set never touches the
// main module's. Run it with: cd hack/compat/gatekeeper-v3.15 && go test
package compat
