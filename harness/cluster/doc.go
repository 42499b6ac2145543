// Package cluster brings up the Kubernetes clusters that the e2e tests and
// `harness up` run against, behind one small Provider interface:
//
//   - local: etcd and kube-apiserver built from their Go modules (hack/tools)
//     and started through controller-runtime's envtest. It needs no Docker, so
//     it runs on CI machines and here. Its processes outlive the command that
//     started them and are tracked in the state directory, so `harness down`
//     (or a later `up` after a crash) can stop them by PID.
//   - kind: kind used as a library, for hosts with Docker. Only its
//     configuration rendering is kind-specific enough to deserve tests here.
//
// Providers know nothing about policies or Gatekeeper; callers compose them.
package cluster
