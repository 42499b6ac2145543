package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Bundle is a policy bundle split by role.
type Bundle struct {
	Templates   []*unstructured.Unstructured // ConstraintTemplates
	Constraints []*unstructured.Unstructured // instances of the templates' kinds
	Expansions  []*unstructured.Unstructured // ExpansionTemplates
	Mutators    []*unstructured.Unstructured // Assign, AssignMetadata, ModifySet, AssignImage
}

// LoadBundle reads a bundle directory. A directory holding a
// kustomization.yaml is rendered with kustomize (as operators apply it);
// any other directory is read file by file, recursively.
func LoadBundle(dir string) (*Bundle, error) {
	objs, err := LoadObjects(dir)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", dir, err)
	}
	b := &Bundle{}
	for _, o := range objs {
		b.add(o)
	}
	if len(b.Templates) == 0 {
		return nil, fmt.Errorf("load bundle %s: no ConstraintTemplates", dir)
	}
	return b, nil
}

func (b *Bundle) add(o *unstructured.Unstructured) {
	gvk := o.GroupVersionKind()
	switch {
	case reader.IsTemplate(o):
		b.Templates = append(b.Templates, o)
	case reader.IsConstraint(o):
		b.Constraints = append(b.Constraints, o)
	case gvk.Group == "expansion.gatekeeper.sh":
		b.Expansions = append(b.Expansions, o)
	case gvk.Group == "mutations.gatekeeper.sh":
		b.Mutators = append(b.Mutators, o)
	}
}

// WithOverlay returns a copy of b with the objects of another directory
// (such as the mutation overlay) added.
func (b *Bundle) WithOverlay(dir string) (*Bundle, error) {
	extra, err := LoadObjects(dir)
	if err != nil {
		return nil, err
	}
	out := &Bundle{
		Templates:   append([]*unstructured.Unstructured(nil), b.Templates...),
		Constraints: append([]*unstructured.Unstructured(nil), b.Constraints...),
		Expansions:  append([]*unstructured.Unstructured(nil), b.Expansions...),
		Mutators:    append([]*unstructured.Unstructured(nil), b.Mutators...),
	}
	for _, o := range extra {
		out.add(o)
	}
	return out, nil
}

// LoadObjects renders a kustomization directory, or reads plain manifests.
func LoadObjects(dir string) ([]*unstructured.Unstructured, error) {
	if _, err := os.Stat(filepath.Join(dir, "kustomization.yaml")); err == nil {
		return renderKustomization(dir)
	}
	inputs, err := ReadPaths([]string{dir}, nil)
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, len(inputs))
	for i, in := range inputs {
		objs[i] = in.Object
	}
	return objs, nil
}

func renderKustomization(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize: %w", err)
	}
	raw, err := resMap.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize: %w", err)
	}
	docs, err := decodeDocuments(bytes.NewReader(raw), dir+" (kustomize output)")
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	return objs, nil
}

// ConstraintName is how results name a constraint: "Kind/name".
func ConstraintName(c *unstructured.Unstructured) string {
	return c.GetKind() + "/" + c.GetName()
}

func isNamespace(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Namespace"
}

func isAdmissionReview(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Kind == "AdmissionReview" && strings.HasPrefix(gvk.Group, "admission.k8s.io")
}
