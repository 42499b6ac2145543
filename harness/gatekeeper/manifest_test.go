package gatekeeper

import (
	"strings"
	"testing"
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
