// Package e2e checks the policy bundle as a real API server enforces it,
// through a real Gatekeeper, on a cluster from harness/cluster. The tests are
// behind the e2e build tag (hack/e2e.sh runs them); they read the bundle,
// suites, samples and corpora from the repository, so every sample or corpus
// file added later is exercised without touching this package.
//
// Environment: GATEKEEPER_VERSION (v3.23.1), KUBE_VERSION (v1.36.3),
// E2E_PROVIDER (local), E2E_ARTIFACTS (where logs and figures go).
package e2e
