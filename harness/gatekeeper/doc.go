// Package gatekeeper installs Gatekeeper into a harness cluster, applies a
// policy bundle and tells when it is live, and tears it all down again.
//
// On the local provider Gatekeeper runs as a process on the host, serving its
// webhook on 127.0.0.1 with certificates generated here: the API server calls
// it through a ValidatingWebhookConfiguration with failurePolicy Fail. Only the
// CRDs and the gatekeeper-system Namespace come from the release manifest
// (deploy/gatekeeper.yaml in the Gatekeeper module, found through the Go module
// cache), so the CRDs always match the binary. On kind the whole manifest is
// applied.
//
// The package knows nothing about which policies it applies; callers pass the
// rendered bundle as objects.
package gatekeeper
