package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// wildcardPattern315 is the pattern Gatekeeper 3.15 allows for namespace and
// name globs: a name of letters, digits, '-' and ':' that starts and ends
// with a letter or digit, optionally with '*' or '*-' in front and '*' or
// '-*' behind.
const wildcardPattern315 = `^(\*|\*-)?[a-z0-9]([-:a-z0-9]*[a-z0-9])?(\*|-\*)?$`

// Match is a constraint's spec.match as Gatekeeper 3.15 reads it.
type Match struct {
	Source             Source                `json:"source,omitempty"`
	Kinds              []MatchKinds          `json:"kinds,omitempty"`
	Scope              string                `json:"scope,omitempty"`
	Namespaces         []Wildcard            `json:"namespaces,omitempty"`
	ExcludedNamespaces []Wildcard            `json:"excludedNamespaces,omitempty"`
	LabelSelector      *metav1.LabelSelector `json:"labelSelector,omitempty"`
	NamespaceSelector  *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	Name               Wildcard              `json:"name,omitempty"`
}

// MatchKinds selects objects by API group and kind; "*" or an empty list
// means any.
type MatchKinds struct {
	APIGroups []string `json:"apiGroups,omitempty"`
	Kinds     []string `json:"kinds,omitempty"`
}

// errMissingNamespace mirrors Gatekeeper: a namespaceSelector cannot be
// decided for a namespaced object whose Namespace is unknown, and the
// framework turns that error into a violation (an autorejection) rather than
// letting the object through.
var errMissingNamespace = errors.New("namespace selector for namespace-scoped object but missing Namespace")

// Matches reports whether obj (in Namespace ns, if known) is in scope. Every
// criterion must hold; an absent criterion holds.
func (m *Match) Matches(obj *unstructured.Unstructured, ns *corev1.Namespace, src Source) (bool, error) {
	checks := []func(*unstructured.Unstructured, *corev1.Namespace, Source) (bool, error){
		m.kindsMatch, m.scopeMatch, m.namespacesMatch, m.excludedNamespacesMatch,
		m.labelSelectorMatch, m.namespaceSelectorMatch, m.nameMatch, m.sourceMatch,
	}
	for _, check := range checks {
		ok, err := check(obj, ns, src)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func isNamespace(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Kind == "Namespace" && gvk.Group == ""
}

func (m *Match) kindsMatch(obj *unstructured.Unstructured, _ *corev1.Namespace, _ Source) (bool, error) {
	if len(m.Kinds) == 0 {
		return true, nil
	}
	gvk := obj.GroupVersionKind()
	for _, k := range m.Kinds {
		kindOK := len(k.Kinds) == 0 || slices.Contains(k.Kinds, "*") || slices.Contains(k.Kinds, gvk.Kind)
		groupOK := len(k.APIGroups) == 0 || slices.Contains(k.APIGroups, "*") || slices.Contains(k.APIGroups, gvk.Group)
		if kindOK && groupOK {
			return true, nil
		}
	}
	return false, nil
}

func (m *Match) scopeMatch(obj *unstructured.Unstructured, ns *corev1.Namespace, _ Source) (bool, error) {
	namespaced := obj.GetNamespace() != "" || ns != nil
	switch m.Scope {
	case "Cluster":
		return isNamespace(obj) || !namespaced, nil
	case "Namespaced":
		return !isNamespace(obj) && namespaced, nil
	default: // "*", empty, and (as in Gatekeeper) unknown values match all.
		return true, nil
	}
}

// namespaceOf is the namespace name that namespaces/excludedNamespaces are
// compared with: a Namespace's own name, the known Namespace, or the one the
// object declares (gator reviews objects with no Namespace object at hand).
func namespaceOf(obj *unstructured.Unstructured, ns *corev1.Namespace) (string, bool) {
	switch {
	case isNamespace(obj):
		return obj.GetName(), true
	case ns != nil:
		return ns.Name, true
	case obj.GetNamespace() != "":
		return obj.GetNamespace(), true
	default:
		return "", false
	}
}

func (m *Match) namespacesMatch(obj *unstructured.Unstructured, ns *corev1.Namespace, _ Source) (bool, error) {
	if len(m.Namespaces) == 0 {
		return true, nil
	}
	name, ok := namespaceOf(obj, ns)
	if !ok {
		return true, nil // cluster-scoped: nothing to compare.
	}
	for _, w := range m.Namespaces {
		if w.Matches(name) {
			return true, nil
		}
	}
	return false, nil
}

func (m *Match) excludedNamespacesMatch(obj *unstructured.Unstructured, ns *corev1.Namespace, _ Source) (bool, error) {
	if len(m.ExcludedNamespaces) == 0 {
		return true, nil
	}
	name, ok := namespaceOf(obj, ns)
	if !ok {
		return true, nil
	}
	for _, w := range m.ExcludedNamespaces {
		if w.Matches(name) {
			return false, nil
		}
	}
	return true, nil
}

func (m *Match) labelSelectorMatch(obj *unstructured.Unstructured, _ *corev1.Namespace, _ Source) (bool, error) {
	if m.LabelSelector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(m.LabelSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(obj.GetLabels())), nil
}

func (m *Match) namespaceSelectorMatch(obj *unstructured.Unstructured, ns *corev1.Namespace, _ Source) (bool, error) {
	if m.NamespaceSelector == nil {
		return true, nil
	}
	if !isNamespace(obj) && ns == nil && obj.GetNamespace() == "" {
		return true, nil // cluster-scoped objects are not selected by namespace.
	}
	sel, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
	if err != nil {
		return false, err
	}
	if isNamespace(obj) {
		return sel.Matches(labels.Set(obj.GetLabels())), nil
	}
	if ns == nil {
		return false, errMissingNamespace
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

func (m *Match) nameMatch(obj *unstructured.Unstructured, _ *corev1.Namespace, _ Source) (bool, error) {
	if m.Name == "" {
		return true, nil
	}
	return m.Name.Matches(obj.GetName()) || m.Name.matchesGenerateName(obj.GetGenerateName()), nil
}

func (m *Match) sourceMatch(obj *unstructured.Unstructured, _ *corev1.Namespace, src Source) (bool, error) {
	want := m.Source
	if want == "" || want == sourceAll {
		return true, nil
	}
	if want != SourceOriginal && want != SourceGenerated {
		return false, fmt.Errorf("invalid source field %q", want)
	}
	if src == "" {
		return false, fmt.Errorf("source field not specified for resource %s", obj.GetName())
	}
	return want == src, nil
}

// Wildcard is a name that may start and/or end with '*' (3.15 semantics).
type Wildcard string

func (w Wildcard) Matches(s string) bool {
	p := string(w)
	switch {
	case strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return strings.Contains(s, strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*"))
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(s, p[1:])
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(s, p[:len(p)-1])
	default:
		return p == s
	}
}

// matchesGenerateName lets a "prefix*" glob select objects that only have a
// generateName with that prefix.
func (w Wildcard) matchesGenerateName(s string) bool {
	p := string(w)
	switch {
	case strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return strings.Contains(s, strings.TrimSuffix(strings.TrimPrefix(p, "*"), "*"))
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(s, p[:len(p)-1])
	default:
		return false
	}
}
