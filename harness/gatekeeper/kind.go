package gatekeeper

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// InstallManifest installs Gatekeeper in-cluster from its release manifest,
// as operators do, with the validating webhook made fail-closed (the chart's
// default is failurePolicy Ignore) and the same policy flags as the local
// process. It is the kind provider's install.
func (g *Gatekeeper) InstallManifest(ctx context.Context) error {
	manifest, err := ReleaseManifest(ctx, g.opts.Version)
	if err != nil {
		return fmt.Errorf("gatekeeper: %w", err)
	}
	for _, o := range WithFlags(ForMutation(FailClosed(manifest), g.opts.Mutation), g.policyFlags()) {
		if _, err := g.Client.Apply(ctx, o, time.Minute); err != nil {
			return fmt.Errorf("gatekeeper: %w", err)
		}
	}
	if !g.opts.Mutation { // an earlier install with mutation wrote one
		err := g.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, MutatingWebhookName, metav1.DeleteOptions{})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("gatekeeper: mutating webhook configuration: %w", err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		deps, err := g.kube.AppsV1().Deployments(Namespace).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) == 0 {
			return false, nil
		}
		for _, d := range deps.Items {
			if !available(&d) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("gatekeeper: deployments not available: %w", err)
	}
	return nil
}

// WebhookDeployment is the release manifest's Deployment that serves the
// webhooks; audit, status and generation run in gatekeeper-audit, which
// keeps running while the webhook is down, as in a real outage.
const WebhookDeployment = "gatekeeper-controller-manager"

// replicasAnnotation records on the webhook Deployment how many replicas it
// had when StopWebhook scaled it to zero, so that StartWebhook — possibly
// from another process — restores that number.
const replicasAnnotation = "harness.edgetrace.dev/replicas-before-stop"

// scaleWebhook scales the in-cluster webhook Deployment to zero (up false)
// and waits until none of its pods is left to answer, or back to its
// recorded replicas and waits until all of them are ready.
func (g *Gatekeeper) scaleWebhook(ctx context.Context, up bool) error {
	deps := g.kube.AppsV1().Deployments(Namespace)
	d, err := deps.Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var patch map[string]any
	want := int32(0)
	if up {
		// Without a recorded count (no StopWebhook before), keep what runs.
		current := strconv.Itoa(int(max(ptr.Deref(d.Spec.Replicas, 1), 1)))
		n, err := strconv.ParseInt(cmp.Or(d.Annotations[replicasAnnotation], current), 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("deployment %s: annotation %s=%q is not a replica count", WebhookDeployment, replicasAnnotation, d.Annotations[replicasAnnotation])
		}
		want = int32(n)
		patch = map[string]any{"spec": map[string]any{"replicas": want}}
	} else {
		patch = map[string]any{"spec": map[string]any{"replicas": 0}}
		// A second stop must not record zero.
		if d.Spec.Replicas == nil || *d.Spec.Replicas > 0 {
			patch["metadata"] = map[string]any{"annotations": map[string]any{replicasAnnotation: strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1)))}}
		}
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := deps.Patch(ctx, WebhookDeployment, types.MergePatchType, raw, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("scale %s to %d: %w", WebhookDeployment, want, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s: %w", WebhookDeployment, err)
	}
	var state string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !up {
			// Terminating pods still serve until they exit; pods that
			// finished (evicted, failed) serve nothing.
			pods, err := g.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
			if err != nil {
				state = err.Error()
				return false, nil
			}
			left := slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool {
				return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
			})
			state = fmt.Sprintf("%d pods left", len(left))
			return len(left) == 0, nil
		}
		d, err := deps.Get(ctx, WebhookDeployment, metav1.GetOptions{})
		if err != nil {
			state = err.Error()
			return false, nil
		}
		st := d.Status
		state = fmt.Sprintf("observed generation %d of %d, %d/%d ready, %d updated", st.ObservedGeneration, d.Generation, st.ReadyReplicas, want, st.UpdatedReplicas)
		return st.ObservedGeneration >= d.Generation && st.ReadyReplicas == want && st.UpdatedReplicas == want && st.Replicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("scale %s to %d: %w (%s)", WebhookDeployment, want, err, state)
	}
	return nil
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == "True" {
			return true
		}
	}
	return false
}

// FailClosed returns the manifest with every validating webhook's
// failurePolicy set to Fail, leaving the input untouched.
func FailClosed(manifest []*unstructured.Unstructured) []*unstructured.Unstructured {
	return edited(manifest, "ValidatingWebhookConfiguration", failAll)
}

// ForMutation returns the manifest as the local process would serve it:
// with mutation (--mutation), its mutating webhook fail-closed too; without,
// no mutating webhook configuration at all, where the release manifest
// always carries one that fails open.
func ForMutation(manifest []*unstructured.Unstructured, on bool) []*unstructured.Unstructured {
	if on {
		return edited(manifest, "MutatingWebhookConfiguration", failAll)
	}
	return slices.DeleteFunc(slices.Clone(manifest), func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "MutatingWebhookConfiguration"
	})
}

// failAll sets failurePolicy Fail on every webhook of a configuration.
func failAll(c *unstructured.Unstructured) {
	hooks, _, _ := unstructured.NestedSlice(c.Object, "webhooks")
	for _, h := range hooks {
		if m, ok := h.(map[string]any); ok {
			m["failurePolicy"] = "Fail"
		}
	}
	_ = unstructured.SetNestedSlice(c.Object, hooks, "webhooks")
}

// WithFlags returns the manifest with flags set on the manager container of
// every Deployment (webhook and audit pods alike), replacing an argument of
// the same name, leaving the input untouched.
func WithFlags(manifest []*unstructured.Unstructured, flags []string) []*unstructured.Unstructured {
	name := func(arg string) string { n, _, _ := strings.Cut(arg, "="); return n }
	return edited(manifest, "Deployment", func(d *unstructured.Unstructured) {
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			m, ok := c.(map[string]any)
			if !ok || m["name"] != "manager" {
				continue
			}
			args, _, _ := unstructured.NestedStringSlice(m, "args")
			for _, f := range flags {
				args = slices.DeleteFunc(args, func(a string) bool { return name(a) == name(f) })
				args = append(args, f)
			}
			_ = unstructured.SetNestedStringSlice(m, args, "args")
		}
		_ = unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers")
	})
}

// edited returns manifest with edit applied to a copy of every object of
// kind; the other objects and the input are left as they are.
func edited(manifest []*unstructured.Unstructured, kind string, edit func(*unstructured.Unstructured)) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(manifest))
	for i, o := range manifest {
		out[i] = o
		if o.GetKind() == kind {
			out[i] = o.DeepCopy()
			edit(out[i])
		}
	}
	return out
}
