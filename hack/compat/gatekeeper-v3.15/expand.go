package compat

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ExpansionTemplate is the part of Gatekeeper's ExpansionTemplate
// (expansion.gatekeeper.sh) that decides what a workload expands into.
type ExpansionTemplate struct {
	Name              string
	ApplyTo           []ApplyTo
	TemplateSource    string
	GeneratedGVK      schema.GroupVersionKind
	EnforcementAction string
}

// ApplyTo names the workload kinds a template expands. Gatekeeper 3.15
// compares group, version and kind exactly: no wildcards.
type ApplyTo struct {
	Groups   []string `json:"groups"`
	Kinds    []string `json:"kinds"`
	Versions []string `json:"versions"`
}

func (a ApplyTo) matches(gvk schema.GroupVersionKind) bool {
	return slices.Contains(a.Groups, gvk.Group) && slices.Contains(a.Versions, gvk.Version) && slices.Contains(a.Kinds, gvk.Kind)
}

// Resultant is an object made by expansion, with the template that made it.
type Resultant struct {
	Object            *unstructured.Unstructured
	TemplateName      string
	EnforcementAction string
}

// maxExpansionDepth is Gatekeeper's bound on recursive expansion
// (CronJob -> Job -> Pod is depth 2).
const maxExpansionDepth = 30

// ParseExpansionTemplates validates ExpansionTemplate objects as Gatekeeper
// 3.15 does when they are created (name, source, generatedGVK, applyTo, no
// template that applies to its own output). Objects of other kinds are
// ignored, as gator ignores them in an expansion file.
func ParseExpansionTemplates(objs []*unstructured.Unstructured) ([]ExpansionTemplate, error) {
	var out []ExpansionTemplate
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "expansion.gatekeeper.sh" || gvk.Kind != "ExpansionTemplate" {
			continue
		}
		// 3.15 serves v1alpha1 and v1beta1 only.
		if gvk.Version != "v1alpha1" && gvk.Version != "v1beta1" {
			return nil, fmt.Errorf("ExpansionTemplate %q: version %s is not served by Gatekeeper 3.15", o.GetName(), gvk.Version)
		}
		var spec struct {
			ApplyTo        []ApplyTo `json:"applyTo"`
			TemplateSource string    `json:"templateSource"`
			GeneratedGVK   struct {
				Group   string `json:"group"`
				Version string `json:"version"`
				Kind    string `json:"kind"`
			} `json:"generatedGVK"`
			EnforcementAction string `json:"enforcementAction"`
		}
		if err := remarshal(o.Object["spec"], &spec); err != nil {
			return nil, fmt.Errorf("ExpansionTemplate %q: %w", o.GetName(), err)
		}
		t := ExpansionTemplate{
			Name:              o.GetName(),
			ApplyTo:           spec.ApplyTo,
			TemplateSource:    spec.TemplateSource,
			GeneratedGVK:      schema.GroupVersionKind{Group: spec.GeneratedGVK.Group, Version: spec.GeneratedGVK.Version, Kind: spec.GeneratedGVK.Kind},
			EnforcementAction: spec.EnforcementAction,
		}
		switch {
		case t.Name == "" || len(t.Name) >= 64:
			return nil, fmt.Errorf("ExpansionTemplate %q: name must be 1 to 63 characters", t.Name)
		case t.TemplateSource == "":
			return nil, fmt.Errorf("ExpansionTemplate %q: empty templateSource", t.Name)
		case t.GeneratedGVK.Empty():
			return nil, fmt.Errorf("ExpansionTemplate %q: empty generatedGVK", t.Name)
		case len(t.ApplyTo) == 0:
			return nil, fmt.Errorf("ExpansionTemplate %q: empty applyTo", t.Name)
		}
		for _, a := range t.ApplyTo {
			if a.matches(t.GeneratedGVK) {
				return nil, fmt.Errorf("ExpansionTemplate %q applies to its own generated kind %v", t.Name, t.GeneratedGVK)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// Expand expands obj with templates, recursively, the way Gatekeeper 3.15's
// expansion system does: the resultant is the object at templateSource given
// generatedGVK, the parent's namespace and the name "<parent>-<kind>"
// (lower-cased). Unlike later releases, 3.15 adds no ownerReference. A
// template whose source field is missing is an error, as in Gatekeeper.
func Expand(obj *unstructured.Unstructured, templates []ExpansionTemplate) ([]Resultant, error) {
	var out []Resultant
	if err := expandInto(obj, templates, 0, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func expandInto(obj *unstructured.Unstructured, templates []ExpansionTemplate, depth int, out *[]Resultant) error {
	if depth >= maxExpansionDepth {
		return fmt.Errorf("maximum expansion depth %d reached", maxExpansionDepth)
	}
	gvk := obj.GroupVersionKind()
	var level []Resultant
	for _, t := range templates {
		if !slices.ContainsFunc(t.ApplyTo, func(a ApplyTo) bool { return a.matches(gvk) }) {
			continue
		}
		src, found, err := unstructured.NestedMap(obj.Object, strings.Split(t.TemplateSource, ".")...)
		if err != nil {
			return fmt.Errorf("expand %s %q with %q: %w", gvk.Kind, obj.GetName(), t.Name, err)
		}
		if !found {
			return fmt.Errorf("expand %s %q with %q: no field %q", gvk.Kind, obj.GetName(), t.Name, t.TemplateSource)
		}
		res := &unstructured.Unstructured{Object: src}
		res.SetGroupVersionKind(t.GeneratedGVK)
		if ns := obj.GetNamespace(); ns != "" {
			res.SetNamespace(ns)
		}
		res.SetName(strings.ToLower(obj.GetName() + "-" + t.GeneratedGVK.Kind))
		level = append(level, Resultant{Object: res, TemplateName: t.Name, EnforcementAction: t.EnforcementAction})
	}
	// Gatekeeper lists deeper resultants (a CronJob's Pod) before the
	// shallower ones that produced them (its Job).
	for _, r := range level {
		if err := expandInto(r.Object, templates, depth+1, out); err != nil {
			return err
		}
	}
	*out = append(*out, level...)
	return nil
}
