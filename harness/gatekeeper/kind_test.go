package gatekeeper

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// inClusterFixture is what the release manifest leaves in a cluster: the
// webhook Deployment (ready, three replicas, one pod listed) and both webhook
// configurations with the CA bundle Gatekeeper's rotator wrote.
func inClusterFixture() (*Gatekeeper, *fake.Clientset) {
	labels := map[string]string{"control-plane": "controller-manager"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookDeployment, Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
		},
		Status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-controller-manager-1", Namespace: Namespace, Labels: labels}}
	// An evicted pod stays listed but serves nothing.
	evicted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-controller-manager-0", Namespace: Namespace, Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}
	audit := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-audit-1", Namespace: Namespace, Labels: map[string]string{"control-plane": "audit-controller"}}}
	ignore := admissionv1.Ignore
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ValidatingWebhookName},
		Webhooks: []admissionv1.ValidatingWebhook{
			{Name: "validation.gatekeeper.sh", FailurePolicy: &ignore, ClientConfig: admissionv1.WebhookClientConfig{CABundle: []byte("ca")}},
			{Name: "check-ignore-label.gatekeeper.sh", FailurePolicy: &ignore, ClientConfig: admissionv1.WebhookClientConfig{CABundle: []byte("ca")}},
		},
	}
	mwc := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: MutatingWebhookName},
		Webhooks:   []admissionv1.MutatingWebhook{{Name: "mutation.gatekeeper.sh", FailurePolicy: &ignore, ClientConfig: admissionv1.WebhookClientConfig{CABundle: []byte("ca")}}},
	}
	kube := fake.NewClientset(dep, pod, evicted, audit, vwc, mwc)
	return &Gatekeeper{opts: Options{InCluster: true}, kube: kube}, kube
}

func TestInClusterStopAndStartWebhook(t *testing.T) {
	ctx := context.Background()
	g, kube := inClusterFixture()
	// The webhook's last pod exits a moment after the scale-down; the audit
	// pod stays. StopWebhook must wait for the former only.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_ = kube.CoreV1().Pods(Namespace).Delete(ctx, "gatekeeper-controller-manager-1", metav1.DeleteOptions{})
	}()
	start := time.Now()
	if err := g.StopWebhook(ctx, admissionv1.Ignore); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("StopWebhook returned after %s, before the webhook's pod was gone", time.Since(start))
	}
	dep, err := kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(dep.Spec.Replicas, -1); got != 0 {
		t.Errorf("replicas after stop = %d, want 0", got)
	}
	if got := dep.Annotations[replicasAnnotation]; got != "3" {
		t.Errorf("recorded replicas = %q, want 3", got)
	}
	checkPolicies(t, kube, admissionv1.Ignore, admissionv1.Ignore)

	// A second stop keeps the recorded count. (Only the scale-down: the
	// fake API server calls no webhook, so a Fail probe would never see the
	// refusal StopWebhook waits for.)
	if err := g.scaleWebhook(ctx, false); err != nil {
		t.Fatal(err)
	}
	dep, _ = kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if got := dep.Annotations[replicasAnnotation]; got != "3" {
		t.Errorf("recorded replicas after a second stop = %q, want 3", got)
	}

	if err := g.StartWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	dep, _ = kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if got := ptr.Deref(dep.Spec.Replicas, -1); got != 3 {
		t.Errorf("replicas after start = %d, want 3", got)
	}
	// Validation fail-closed as Install left it; mutation as the manifest has it.
	checkPolicies(t, kube, admissionv1.Fail, admissionv1.Ignore)
}

func TestInClusterStartWithoutStopKeepsReplicas(t *testing.T) {
	ctx := context.Background()
	g, kube := inClusterFixture()
	if err := g.scaleWebhook(ctx, true); err != nil {
		t.Fatal(err)
	}
	dep, _ := kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if got := ptr.Deref(dep.Spec.Replicas, -1); got != 3 {
		t.Errorf("replicas = %d, want the 3 it ran with", got)
	}
}

func TestInClusterStartRefusesABadRecordedCount(t *testing.T) {
	ctx := context.Background()
	g, kube := inClusterFixture()
	dep, _ := kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	dep.Annotations = map[string]string{replicasAnnotation: "three"}
	if _, err := kube.AppsV1().Deployments(Namespace).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := g.StartWebhook(ctx)
	if err == nil || !strings.Contains(err.Error(), replicasAnnotation+`="three"`) {
		t.Fatalf("StartWebhook with a bad recorded count: %v", err)
	}
}

// checkPolicies asserts the failure policy of every webhook, and that the CA
// bundle Gatekeeper owns was left alone.
func checkPolicies(t *testing.T, kube *fake.Clientset, validating, mutating admissionv1.FailurePolicyType) {
	t.Helper()
	ctx := context.Background()
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, ValidatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if ptr.Deref(w.FailurePolicy, "") != validating || string(w.ClientConfig.CABundle) != "ca" {
			t.Errorf("validating webhook %s: failurePolicy %v, caBundle %q; want %s and the bundle kept", w.Name, ptr.Deref(w.FailurePolicy, ""), w.ClientConfig.CABundle, validating)
		}
	}
	mwc, err := kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, MutatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if ptr.Deref(w.FailurePolicy, "") != mutating || string(w.ClientConfig.CABundle) != "ca" {
			t.Errorf("mutating webhook %s: failurePolicy %v, caBundle %q; want %s and the bundle kept", w.Name, ptr.Deref(w.FailurePolicy, ""), w.ClientConfig.CABundle, mutating)
		}
	}
}
