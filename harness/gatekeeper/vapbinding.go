package gatekeeper

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// CELTemplates returns the names of the bundle's templates that carry CEL
// code (engine K8sNativeValidation) not marked generateVAP: false: those
// Gatekeeper, run with --default-create-vap-for-templates, turns into a
// ValidatingAdmissionPolicy named gatekeeper-<template>.
func CELTemplates(objs []*unstructured.Unstructured) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if role(o) != roleTemplate {
			continue
		}
		targets, _, _ := unstructured.NestedSlice(o.Object, "spec", "targets")
		for _, tg := range targets {
			tm, _ := tg.(map[string]any)
			code, _, _ := unstructured.NestedSlice(tm, "code")
			for _, c := range code {
				cm, _ := c.(map[string]any)
				// generateVAP: false keeps a template out of the API server
				// whatever Gatekeeper's default.
				if gen, set, _ := unstructured.NestedBool(cm, "source", "generateVAP"); cm["engine"] == "K8sNativeValidation" && (gen || !set) {
					out[o.GetName()] = true
				}
			}
		}
	}
	return out
}

// bindingManager labels the bindings written for Gatekeeper (see VAPBindings).
const bindingManager = "edgetrace"

// VAPBindings returns, for a Gatekeeper that generates policies but cannot
// bind them (see GeneratesVAPBindings), the ValidatingAdmissionPolicyBinding
// of every constraint of objs whose template has CEL code: what Gatekeeper
// 3.18.2 and later write for it (policy gatekeeper-<template>, the constraint
// as parameter, its enforcement action, its namespaceSelector and
// labelSelector). They are named edgetrace-<kind>-<constraint>: Gatekeeper
// 3.17 deletes a binding named as its own would be when it does not
// generate bindings.
func VAPBindings(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	cel := CELTemplates(objs)
	var out []*unstructured.Unstructured
	for _, c := range objs {
		kind := strings.ToLower(c.GetKind())
		if role(c) != roleConstraint || !cel[kind] {
			continue
		}
		action, _, _ := unstructured.NestedString(c.Object, "spec", "enforcementAction")
		var actions []any
		switch action {
		case "", "deny":
			actions = []any{"Deny"}
		case "warn":
			actions = []any{"Warn"}
		case "dryrun":
			actions = []any{"Audit"}
		default:
			return nil, fmt.Errorf("constraint %s/%s: enforcementAction %q has no ValidatingAdmissionPolicy equivalent", c.GetKind(), c.GetName(), action)
		}
		match := map[string]any{}
		for from, to := range map[string]string{"namespaceSelector": "namespaceSelector", "labelSelector": "objectSelector"} {
			if sel, found, _ := unstructured.NestedMap(c.Object, "spec", "match", from); found {
				match[to] = sel
			}
		}
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1",
			"kind":       "ValidatingAdmissionPolicyBinding",
			"metadata": map[string]any{
				"name":   "edgetrace-" + kind + "-" + c.GetName(),
				"labels": map[string]any{"app.kubernetes.io/managed-by": bindingManager},
			},
			"spec": map[string]any{
				"policyName": "gatekeeper-" + kind,
				// As Gatekeeper's own: with the constraint gone, nothing is
				// enforced in its name.
				"paramRef":          map[string]any{"name": c.GetName(), "parameterNotFoundAction": "Allow"},
				"validationActions": actions,
				"matchResources":    match,
			},
		}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// WaitPolicies waits until the API server holds what keeps enforcing the
// bundle objs without the webhook: the ValidatingAdmissionPolicy
// gatekeeper-<template> of every template with CEL code, and a binding of it
// for every constraint of such a template (its paramRef names the
// constraint; the binding's own name differs between versions). Gatekeeper
// 3.23 writes a binding only some 30 s after its constraint
// (--default-wait-for-vapb-generation), so without this wait a cluster
// reported ready would, for that long, neither fail closed nor pay the
// policies' cost at admission. It returns the policies.
func (g *Gatekeeper) WaitPolicies(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) ([]admissionv1.ValidatingAdmissionPolicy, error) {
	cel := CELTemplates(objs)
	want := map[string]bool{} // "policy P" and "binding of P for C"
	for tmpl := range cel {
		want["policy gatekeeper-"+tmpl] = true
	}
	for _, c := range objs {
		if kind := strings.ToLower(c.GetKind()); role(c) == roleConstraint && cel[kind] {
			want["binding of gatekeeper-"+kind+" for "+c.GetName()] = true
		}
	}
	var policies []admissionv1.ValidatingAdmissionPolicy
	var missing []string
	var lastErr error
	api := g.kube.AdmissionregistrationV1()
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		pl, err := api.ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{})
		if lastErr = err; err != nil {
			return false, nil
		}
		bl, err := api.ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
		if lastErr = err; err != nil {
			return false, nil
		}
		have := map[string]bool{}
		for _, p := range pl.Items {
			have["policy "+p.Name] = true
		}
		for _, b := range bl.Items {
			if b.Spec.ParamRef != nil {
				have["binding of "+b.Spec.PolicyName+" for "+b.Spec.ParamRef.Name] = true
			}
		}
		policies, missing = pl.Items, missing[:0]
		for w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		if lastErr != nil {
			return nil, fmt.Errorf("gatekeeper: ValidatingAdmissionPolicies: %w (last error: %v)", err, lastErr)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("gatekeeper: ValidatingAdmissionPolicies: %w (missing: %s)", err, strings.Join(missing, ", "))
	}
	return policies, nil
}
