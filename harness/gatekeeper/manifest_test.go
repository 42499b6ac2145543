package gatekeeper

import (
	"strings"
	"testing"
	"time"
)

const manifestFixture = `apiVersion: v1
kind: Namespace
metadata:
  name: gatekeeper-system
  labels:
    admission.gatekeeper.sh/ignore: no-self-managing
---
# a comment-only document
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: constrainttemplates.templates.gatekeeper.sh
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gatekeeper-controller-manager
  namespace: gatekeeper-system
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: gatekeeper-validating-webhook-configuration
`

func TestOutOfClusterObjectsKeepsCRDsAndNamespace(t *testing.T) {
	objs, err := decodeObjects(strings.NewReader(manifestFixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("decoded %d objects, want 4", len(objs))
	}
	var got []string
	for _, o := range OutOfClusterObjects(objs) {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := "Namespace/gatekeeper-system CustomResourceDefinition/constrainttemplates.templates.gatekeeper.sh"
	if strings.Join(got, " ") != want {
		t.Errorf("selected %v, want %s", got, want)
	}
}

func TestFailClosedSetsValidatingWebhooksToFail(t *testing.T) {
	objs, err := decodeObjects(strings.NewReader(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: gatekeeper-validating-webhook-configuration
webhooks:
- name: validation.gatekeeper.sh
  failurePolicy: Ignore
- name: check-ignore-label.gatekeeper.sh
  failurePolicy: Fail
---
apiVersion: v1
kind: Namespace
metadata:
  name: gatekeeper-system
`))
	if err != nil {
		t.Fatal(err)
	}
	out := FailClosed(objs)
	hooks := out[0].Object["webhooks"].([]any)
	for _, h := range hooks {
		if p := h.(map[string]any)["failurePolicy"]; p != "Fail" {
			t.Errorf("%v: failurePolicy = %v, want Fail", h.(map[string]any)["name"], p)
		}
	}
	if p := objs[0].Object["webhooks"].([]any)[0].(map[string]any)["failurePolicy"]; p != "Ignore" {
		t.Errorf("input modified: failurePolicy = %v", p)
	}
	if out[1] != objs[1] {
		t.Error("non-webhook object replaced")
	}
}

func TestForMutation(t *testing.T) {
	objs, err := decodeObjects(strings.NewReader(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: gatekeeper-mutating-webhook-configuration
webhooks:
- name: mutation.gatekeeper.sh
  failurePolicy: Ignore
---
apiVersion: v1
kind: Namespace
metadata:
  name: gatekeeper-system
`))
	if err != nil {
		t.Fatal(err)
	}
	if out := ForMutation(objs, false); len(out) != 1 || out[0].GetKind() != "Namespace" {
		t.Errorf("without mutation: %d objects, want only the Namespace", len(out))
	}
	out := ForMutation(objs, true)
	if p := out[0].Object["webhooks"].([]any)[0].(map[string]any)["failurePolicy"]; len(out) != 2 || p != "Fail" {
		t.Errorf("with mutation: %d objects, failurePolicy %v; want both, Fail", len(out), p)
	}
	if p := objs[0].Object["webhooks"].([]any)[0].(map[string]any)["failurePolicy"]; p != "Ignore" || len(objs) != 2 {
		t.Errorf("input modified: failurePolicy = %v, %d objects", p, len(objs))
	}
}

func TestWithFlagsSetsManagerArgs(t *testing.T) {
	objs, err := decodeObjects(strings.NewReader(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: gatekeeper-audit
spec:
  template:
    spec:
      containers:
      - name: manager
        args: [--operation=audit, --audit-interval=60, --log-denies=false]
      - name: sidecar
        args: [--x]
---
apiVersion: v1
kind: Service
metadata:
  name: gatekeeper-webhook-service
`))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gatekeeper{opts: Options{Version: "v3.17.0", AuditInterval: 5 * time.Second}}
	out := WithFlags(objs, g.policyFlags())
	containers := out[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	var args []string
	for _, a := range containers[0].(map[string]any)["args"].([]any) {
		args = append(args, a.(string))
	}
	want := "--operation=audit --log-denies --default-create-vap-for-templates=true --default-create-vap-binding-for-constraints=false --audit-interval=5"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("manager args = %s\nwant %s", got, want)
	}
	if side := containers[1].(map[string]any)["args"].([]any); len(side) != 1 {
		t.Errorf("sidecar args changed: %v", side)
	}
	in := objs[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["args"].([]any)
	if len(in) != 3 || in[1] != "--audit-interval=60" {
		t.Errorf("input modified: %v", in)
	}
	if out[1] != objs[1] {
		t.Error("non-Deployment object replaced")
	}
}
