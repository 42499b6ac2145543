package compat

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/open-policy-agent/frameworks/constraint/pkg/core/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/handler"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TargetName is Gatekeeper's admission target. Templates name it in
// spec.targets[].target, so the handler must carry exactly this name.
const TargetName = "admission.k8s.gatekeeper.sh"

// Source says whether an object under review was submitted (Original) or made
// by expanding a workload (Generated); constraints may match on it
// (spec.match.source), as in Gatekeeper 3.15.
type Source string

const (
	SourceOriginal  Source = "Original"
	SourceGenerated Source = "Generated"
	sourceAll       Source = "All"
)

// Target is a stand-in for Gatekeeper v3.15.1's K8sValidationTarget, which
// cannot be imported here (Gatekeeper 3.15 replaces controller-runtime with
// an unpublished fork). It builds input.review the way 3.15 does, an
// AdmissionRequest, and matches constraints on kinds, scope, namespaces,
// excludedNamespaces, labelSelector, namespaceSelector, name and source.
// Namespaces added with AddData are remembered so that namespaceSelector can
// be evaluated for namespaced objects.
type Target struct {
	cache namespaceCache
}

var (
	_ handler.TargetHandler = (*Target)(nil)
	_ handler.Cacher        = (*Target)(nil)
)

// UnstructuredReview asks for a review of a bare object, as gator does for a
// case object that is not an AdmissionReview: no operation, no oldObject.
type UnstructuredReview struct {
	Object *unstructured.Unstructured
	Source Source
}

// RequestReview asks for a review of an AdmissionRequest as the API server
// would send it.
type RequestReview struct {
	Request *admissionv1.AdmissionRequest
	Source  Source
}

// review is what HandleReview hands to the driver and matchers. Only the
// embedded AdmissionRequest is exported, so the Rego driver's JSON round trip
// makes input.review exactly an AdmissionRequest, as Gatekeeper's gkReview does.
type review struct {
	admissionv1.AdmissionRequest
	source Source
}

func (t *Target) GetName() string { return TargetName }

func (t *Target) GetCache() handler.Cache { return &t.cache }

// ProcessData stores inventory objects under data.inventory using
// Gatekeeper's layout: cluster/<groupVersion>/<kind>/<name> and
// namespace/<ns>/<groupVersion>/<kind>/<name>.
func (t *Target) ProcessData(obj interface{}) (bool, []string, interface{}, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return false, nil, nil, nil
	}
	gvk := u.GroupVersionKind()
	if gvk.Version == "" || gvk.Kind == "" {
		return true, nil, nil, fmt.Errorf("inventory object %q has no apiVersion or kind", u.GetName())
	}
	return true, inventoryKey(gvk, u.GetNamespace(), u.GetName()), u.Object, nil
}

func inventoryKey(gvk schema.GroupVersionKind, namespace, name string) []string {
	if namespace == "" {
		return []string{"cluster", gvk.GroupVersion().String(), gvk.Kind, name}
	}
	return []string{"namespace", namespace, gvk.GroupVersion().String(), gvk.Kind, name}
}

func (t *Target) HandleReview(obj interface{}) (bool, interface{}, error) {
	switch o := obj.(type) {
	case *RequestReview:
		// 3.15 passes the request through untouched: on DELETE, object stays
		// null unless the caller copied oldObject into it (gator does).
		return true, &review{AdmissionRequest: *o.Request, source: o.Source}, nil
	case *UnstructuredReview:
		raw, err := o.Object.MarshalJSON()
		if err != nil {
			return false, nil, fmt.Errorf("marshal %s %q: %w", o.Object.GetKind(), o.Object.GetName(), err)
		}
		gvk := o.Object.GroupVersionKind()
		return true, &review{
			AdmissionRequest: admissionv1.AdmissionRequest{
				Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
				Object:    runtime.RawExtension{Raw: raw},
				Name:      o.Object.GetName(),
				Namespace: o.Object.GetNamespace(),
			},
			source: o.Source,
		}, nil
	default:
		return false, nil, nil
	}
}

// ValidateConstraint rejects malformed label selectors, as Gatekeeper does
// before a constraint is accepted.
func (t *Target) ValidateConstraint(u *unstructured.Unstructured) error {
	for _, key := range []string{"labelSelector", "namespaceSelector"} {
		m, found, err := unstructured.NestedMap(u.Object, "spec", "match", key)
		if err != nil {
			return err
		}
		if !found || m == nil {
			continue
		}
		var sel metav1.LabelSelector
		if err := remarshal(m, &sel); err != nil {
			return fmt.Errorf("spec.match.%s: %w", key, err)
		}
		if errs := metav1validation.ValidateLabelSelector(&sel, metav1validation.LabelSelectorValidationOptions{}, fieldPath("spec", "match", key)); len(errs) > 0 {
			return errs.ToAggregate()
		}
	}
	return nil
}

func (t *Target) ToMatcher(u *unstructured.Unstructured) (constraints.Matcher, error) {
	m, found, err := unstructured.NestedMap(u.Object, "spec", "match")
	if err != nil {
		return nil, err
	}
	if !found || m == nil {
		return &matcher{cache: &t.cache}, nil
	}
	var crit Match
	if err := remarshal(m, &crit); err != nil {
		return nil, fmt.Errorf("spec.match: %w", err)
	}
	return &matcher{match: &crit, cache: &t.cache}, nil
}

type matcher struct {
	match *Match
	cache *namespaceCache
}

func (m *matcher) Match(r interface{}) (bool, error) {
	if m.match == nil {
		return true, nil
	}
	rev, ok := r.(*review)
	if !ok {
		return false, fmt.Errorf("unexpected review type %T", r)
	}
	var ns *corev1.Namespace
	if rev.Namespace != "" {
		ns = m.cache.get(rev.Namespace)
	}
	// Like Gatekeeper, a constraint applies when either the new or the old
	// object matches, so relabelling an object cannot step out of scope.
	var seen int
	for _, raw := range [][]byte{rev.Object.Raw, rev.OldObject.Raw} {
		if raw == nil {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return false, fmt.Errorf("decode reviewed object: %w", err)
		}
		if obj.Object == nil {
			continue
		}
		seen++
		ok, err := m.match.Matches(obj, ns, rev.source)
		if err != nil {
			return false, fmt.Errorf("matching %q: %w", obj.GetName(), err)
		}
		if ok {
			return true, nil
		}
	}
	if seen == 0 {
		return false, fmt.Errorf("neither object nor oldObject is set")
	}
	return false, nil
}

// namespaceCache keeps the Namespaces added as inventory, keyed by name.
type namespaceCache struct {
	mu  sync.RWMutex
	byN map[string]*corev1.Namespace
}

var _ handler.Cache = (*namespaceCache)(nil)

func (c *namespaceCache) Add(key []string, object interface{}) error {
	obj, ok := object.(map[string]interface{})
	if !ok {
		return fmt.Errorf("cannot cache %T", object)
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GroupVersionKind().GroupKind() != (schema.GroupKind{Kind: "Namespace"}) {
		return nil
	}
	ns := &corev1.Namespace{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, ns); err != nil {
		return fmt.Errorf("cache Namespace: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byN == nil {
		c.byN = map[string]*corev1.Namespace{}
	}
	c.byN[strings.Join(key, "/")] = ns
	return nil
}

func (c *namespaceCache) Remove(key []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byN, strings.Join(key, "/"))
}

func (c *namespaceCache) get(name string) *corev1.Namespace {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byN[strings.Join(inventoryKey(corev1.SchemeGroupVersion.WithKind("Namespace"), "", name), "/")]
}

// remarshal converts a decoded YAML/JSON map into a typed value.
func remarshal(in interface{}, out interface{}) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func fieldPath(parts ...string) *field.Path {
	return field.NewPath(parts[0], parts[1:]...)
}

// MatchSchema is the OpenAPI schema of spec.match that constraints are
// validated against. It follows Gatekeeper 3.15's generated match CRD,
// including its stricter namespace/name glob pattern (later releases accept
// globs such as a bare "*" that 3.15 refuses), so a constraint is refused
// here exactly when a 3.15 cluster would refuse it.
func (t *Target) MatchSchema() apiextensions.JSONSchemaProps {
	str := apiextensions.JSONSchemaProps{Type: "string"}
	strs := apiextensions.JSONSchemaProps{Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &str}}
	glob := apiextensions.JSONSchemaProps{Type: "string", Pattern: wildcardPattern315}
	globs := apiextensions.JSONSchemaProps{Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &glob}}
	requirement := apiextensions.JSONSchemaProps{
		Type:     "object",
		Required: []string{"key", "operator"},
		Properties: map[string]apiextensions.JSONSchemaProps{
			"key":      str,
			"operator": str,
			"values":   strs,
		},
	}
	selector := apiextensions.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensions.JSONSchemaProps{
			"matchLabels": {
				Type:                 "object",
				AdditionalProperties: &apiextensions.JSONSchemaPropsOrBool{Allows: true, Schema: &str},
			},
			"matchExpressions": {Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &requirement}},
		},
	}
	kinds := apiextensions.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensions.JSONSchemaProps{
			"apiGroups": strs,
			"kinds":     strs,
		},
	}
	return apiextensions.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensions.JSONSchemaProps{
			"kinds":              {Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &kinds}},
			"scope":              str,
			"namespaces":         globs,
			"excludedNamespaces": globs,
			"labelSelector":      selector,
			"namespaceSelector":  selector,
			"name":               glob,
			"source": {Type: "string", Enum: []apiextensions.JSON{
				string(sourceAll), string(SourceGenerated), string(SourceOriginal),
			}},
		},
	}
}
