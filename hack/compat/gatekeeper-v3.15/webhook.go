package compat

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ReviewAsWebhook reviews obj as Gatekeeper 3.15's validating webhook would.
// It differs from gator in one way that matters: an AdmissionReview for a
// workload is expanded too (the webhook expands every request's object,
// CREATE or UPDATE), so a Deployment UPDATE is judged through its pod
// template. Resultants are reviewed as 3.15 builds them: no operation, no
// oldObject, source Generated.
func ReviewAsWebhook(ctx context.Context, cl *client.Client, obj *unstructured.Unstructured, expansion []ExpansionTemplate) ([]*types.Result, error) {
	gvk := obj.GroupVersionKind()
	base := obj
	var results []*types.Result
	if gvk.Kind == "AdmissionReview" && gvk.Group == admissionv1.SchemeGroupVersion.Group {
		req, err := admissionRequest(obj)
		if err != nil {
			return nil, err
		}
		// The 3.15 webhook clears the namespace of Namespace requests, which
		// server-side apply sets to the Namespace's own name.
		if req.Kind.Kind == "Namespace" && req.Kind.Group == "" {
			req.Namespace = ""
		}
		resp, err := cl.Review(ctx, &RequestReview{Request: req, Source: SourceOriginal})
		if err != nil {
			return nil, fmt.Errorf("review AdmissionRequest %s %s/%s: %w", req.Operation, req.Namespace, req.Name, err)
		}
		results = resp.Results()
		if req.Object.Raw == nil {
			return results, nil // nothing to expand
		}
		// The webhook decodes the request's object and takes namespace and
		// kind from the request itself.
		base = &unstructured.Unstructured{}
		if err := base.UnmarshalJSON(req.Object.Raw); err != nil {
			return nil, fmt.Errorf("AdmissionRequest object: %w", err)
		}
		base.SetNamespace(req.Namespace)
		base.SetGroupVersionKind(schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind})
	} else {
		resp, err := cl.Review(ctx, &UnstructuredReview{Object: obj, Source: SourceOriginal})
		if err != nil {
			return nil, fmt.Errorf("review %v %s/%s: %w", gvk, obj.GetNamespace(), obj.GetName(), err)
		}
		results = resp.Results()
	}
	resultants, err := Expand(base, expansion)
	if err != nil {
		return nil, err
	}
	for _, r := range resultants {
		rresp, err := cl.Review(ctx, &UnstructuredReview{Object: r.Object, Source: SourceGenerated})
		if err != nil {
			return nil, fmt.Errorf("review resultant %s %s: %w", r.Object.GetKind(), r.Object.GetName(), err)
		}
		results = append(results, implied(r, rresp.Results())...)
	}
	return results, nil
}

// implied marks a resultant's results as Gatekeeper aggregates them into the
// parent's response: the template's enforcementAction, if set, overrides the
// constraint's, and the message names the ExpansionTemplate.
func implied(r Resultant, results []*types.Result) []*types.Result {
	for _, res := range results {
		if r.EnforcementAction != "" {
			res.EnforcementAction = r.EnforcementAction
		}
		res.Msg = fmt.Sprintf("[Implied by %s] %s", r.TemplateName, res.Msg)
	}
	return results
}
