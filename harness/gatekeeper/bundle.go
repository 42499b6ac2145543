package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Roles of bundle objects, in the order they must be applied: a constraint's
// kind exists only once its template is compiled, and expansion and mutation
// objects should be live before anything relies on them.
const (
	roleTemplate = iota
	roleConstraint
	roleExpansion
	roleMutator
	roleOther
)

func role(o *unstructured.Unstructured) int {
	group := o.GroupVersionKind().Group
	switch {
	case group == "templates.gatekeeper.sh" && o.GetKind() == "ConstraintTemplate":
		return roleTemplate
	case group == "constraints.gatekeeper.sh":
		return roleConstraint
	case group == "expansion.gatekeeper.sh":
		return roleExpansion
	case group == "mutations.gatekeeper.sh":
		return roleMutator
	}
	return roleOther
}

// ApplyOrder sorts objects into the order ApplyBundle applies them; the sort
// is stable so a bundle's own order survives within each role.
func ApplyOrder(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool { return role(out[i]) < role(out[j]) })
	return out
}

// ApplyBundle applies a rendered policy bundle and waits until it is live:
// every template compiled, every constraint enforced by the webhook, every
// expansion template and mutator loaded, and the ValidatingAdmissionPolicies
// generated from CEL templates bound (see WaitPolicies).
func (g *Gatekeeper) ApplyBundle(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	start := time.Now()
	ordered := ApplyOrder(objs)
	for i, o := range ordered {
		// Wait for templates before the first constraint: applying
		// constraints retries until their kind is served anyway, but a
		// template that does not compile should fail here, with its error.
		if role(o) != roleTemplate && (i == 0 || role(ordered[i-1]) == roleTemplate) {
			if err := g.WaitLive(ctx, ordered[:i], timeout); err != nil {
				return err
			}
		}
		if _, err := g.Client.Apply(ctx, o, timeout); err != nil {
			return fmt.Errorf("gatekeeper: bundle: %w", err)
		}
	}
	if err := g.WaitLive(ctx, ordered, timeout); err != nil {
		return err
	}
	if err := g.bindPolicies(ctx, objs, timeout); err != nil {
		return fmt.Errorf("gatekeeper: bundle: %w", err)
	}
	webhookLive := time.Since(start)
	if _, err := g.WaitPolicies(ctx, objs, max(timeout-webhookLive, time.Second)); err != nil {
		return err
	}
	fmt.Fprintf(g.opts.Log, "gatekeeper: bundle of %d objects live after %s in the webhook, %s with its ValidatingAdmissionPolicies bound\n",
		len(objs), webhookLive.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	return nil
}

// bindPolicies writes, for a Gatekeeper that cannot (GeneratesVAPBindings),
// the bindings without which nothing the generated policies say is enforced
// while the webhook is down, as a later Gatekeeper would.
func (g *Gatekeeper) bindPolicies(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	bindings, err := g.wantedBindings(objs)
	for _, b := range bindings {
		if _, err := g.Client.Apply(ctx, b, timeout); err != nil {
			return err
		}
	}
	return err
}

func (g *Gatekeeper) wantedBindings(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if GeneratesVAPBindings(g.opts.Version) {
		return nil, nil
	}
	return VAPBindings(objs)
}

// WaitLive waits until every object in objs is in effect, as Gatekeeper
// reports it in the objects' status.
func (g *Gatekeeper) WaitLive(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	pending := map[string]string{}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		clear(pending)
		servers, err := g.webhookPods(ctx)
		if err != nil {
			pending["webhook pods"] = err.Error()
			return false, nil
		}
		for _, o := range objs {
			r := role(o)
			if r == roleOther {
				continue
			}
			live, err := g.Client.Get(ctx, o)
			if err != nil {
				pending[key(o)] = err.Error()
				continue
			}
			why, err := notLive(live, r, servers)
			if err != nil {
				return false, fmt.Errorf("%s: %w", key(o), err)
			}
			if why != "" {
				pending[key(o)] = why
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		var lines []string
		for k, why := range pending {
			lines = append(lines, k+": "+why)
		}
		sort.Strings(lines)
		return fmt.Errorf("gatekeeper: bundle not live: %w\n%s", err, strings.Join(lines, "\n"))
	}
	return nil
}

func key(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }

// webhookPods names the pods that answer admission and so must each
// enforce a constraint before it is live: in the cluster, every running
// pod of the webhook Deployment (three in the release manifest, each
// loading the bundle on its own); out of it, nil, since the one process
// reporting in byPod is the webhook.
func (g *Gatekeeper) webhookPods(ctx context.Context) ([]string, error) {
	if !g.opts.InCluster {
		return nil, nil
	}
	d, err := g.kube.AppsV1().Deployments(Namespace).Get(ctx, WebhookDeployment, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", WebhookDeployment, err)
	}
	pods, err := g.kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no running pod of %s", WebhookDeployment)
	}
	return names, nil
}

// notLive says why a live object is not yet in effect ("" when it is), or
// returns an error Gatekeeper reported that waiting will not fix. A
// constraint or mutator is in effect once every pod reporting it enforces
// it and each of servers (the webhook's pods, when known) is among them.
func notLive(live *unstructured.Unstructured, r int, servers []string) (string, error) {
	byPod, _, _ := unstructured.NestedSlice(live.Object, "status", "byPod")
	// A status written for an earlier generation says nothing about this
	// one (a second `up` that changed a template or constraint), errors
	// included: wait until every pod has seen it.
	for _, p := range byPod {
		m, _ := p.(map[string]any)
		if seen, ok := m["observedGeneration"].(int64); ok && seen < live.GetGeneration() {
			return fmt.Sprintf("generation %d not yet observed by %v (at %d)", live.GetGeneration(), m["id"], seen), nil
		}
	}
	var errs []string
	for _, p := range byPod {
		m, _ := p.(map[string]any)
		es, _ := m["errors"].([]any)
		for _, e := range es {
			em, _ := e.(map[string]any)
			errs = append(errs, fmt.Sprint(em["message"]))
		}
	}
	if len(errs) > 0 {
		return "", errors.New(strings.Join(errs, "; "))
	}
	switch r {
	case roleTemplate:
		if created, _, _ := unstructured.NestedBool(live.Object, "status", "created"); !created {
			return "template not created", nil
		}
		return "", nil
	case roleConstraint, roleMutator:
		if len(byPod) == 0 {
			return "no status yet", nil
		}
		reported := map[string]bool{}
		for _, p := range byPod {
			m, _ := p.(map[string]any)
			if enforced, _ := m["enforced"].(bool); !enforced {
				return fmt.Sprintf("not enforced by %v", m["id"]), nil
			}
			id, _ := m["id"].(string)
			reported[id] = true
		}
		for _, s := range servers {
			if !reported[s] {
				return "no status from webhook pod " + s, nil
			}
		}
		return "", nil
	case roleExpansion:
		if len(byPod) == 0 {
			return "no status yet", nil
		}
		return "", nil
	}
	return "", nil
}

// mutatorKinds are the kinds of Gatekeeper's mutation API.
var mutatorKinds = []string{"Assign", "AssignMetadata", "ModifySet", "AssignImage"}

// Prune deletes what an earlier bundle left that the bundle objs does not
// hold, so that `up` leaves the cluster judging by objs alone: templates,
// constraints and expansion templates (a constraint left from another
// bundle would go on denying), mutators (an `up` without --mutation after
// one with it; expansion applies mutators before validation, so they change
// what is judged) and the bindings written for Gatekeeper 3.17 (after an
// upgrade they would judge objects a second time beside Gatekeeper's own).
// Constraints of a template that goes go with it.
func (g *Gatekeeper) Prune(ctx context.Context, objs []*unstructured.Unstructured) error {
	var constraintKinds []string
	for _, o := range objs {
		if role(o) == roleTemplate {
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "crd", "spec", "names", "kind")
			constraintKinds = append(constraintKinds, kind)
		}
	}
	for _, p := range []struct {
		group string
		kinds []string
	}{
		{"constraints.gatekeeper.sh", constraintKinds},
		{"templates.gatekeeper.sh", []string{"ConstraintTemplate"}},
		{"expansion.gatekeeper.sh", []string{"ExpansionTemplate"}},
		{"mutations.gatekeeper.sh", mutatorKinds},
	} {
		if err := g.pruneKinds(ctx, p.group, p.kinds, objs); err != nil {
			return err
		}
	}
	wanted, err := g.wantedBindings(objs)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, b := range wanted {
		want[b.GetName()] = true
	}
	bindingsAPI := g.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	list, err := bindingsAPI.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=" + bindingManager})
	if err != nil {
		return fmt.Errorf("gatekeeper: prune bindings: %w", err)
	}
	for _, b := range list.Items {
		if want[b.Name] {
			continue
		}
		fmt.Fprintf(g.opts.Log, "gatekeeper: removing ValidatingAdmissionPolicyBinding %s, not wanted for Gatekeeper %s and this bundle\n", b.Name, g.opts.Version)
		if err := bindingsAPI.Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
			return fmt.Errorf("gatekeeper: prune bindings: %w", err)
		}
	}
	return nil
}

// pruneKinds deletes the objects of kinds in group that objs does not
// hold; a kind the cluster does not serve is skipped.
func (g *Gatekeeper) pruneKinds(ctx context.Context, group string, kinds []string, objs []*unstructured.Unstructured) error {
	keep := map[string]bool{}
	for _, o := range objs {
		keep[key(o)] = true
	}
	for _, kind := range kinds {
		probe := &unstructured.Unstructured{}
		probe.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Kind: kind})
		r, err := g.Client.Resource(probe)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("gatekeeper: prune %s: %w", kind, err)
		}
		list, err := r.List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("gatekeeper: prune %s: %w", kind, err)
		}
		for i := range list.Items {
			m := &list.Items[i]
			if keep[key(m)] {
				continue
			}
			fmt.Fprintf(g.opts.Log, "gatekeeper: removing %s, not in the bundle\n", key(m))
			if err := g.Client.Delete(ctx, m); err != nil {
				return fmt.Errorf("gatekeeper: prune %s: %w", kind, err)
			}
		}
	}
	return nil
}
