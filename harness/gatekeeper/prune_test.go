package gatekeeper

import (
	"context"
	"io"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/restmapper"
)

func gkObject(apiVersion, kind, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetName(name)
	return o
}

func template(name, kind string) *unstructured.Unstructured {
	t := gkObject("templates.gatekeeper.sh/v1", "ConstraintTemplate", name)
	_ = unstructured.SetNestedField(t.Object, kind, "spec", "crd", "spec", "names", "kind")
	return t
}

// TestPruneLeavesOnlyTheBundle: after an up with a smaller bundle, the
// cluster holds the bundle's templates, constraints, expansion templates
// and mutators, and no others.
func TestPruneLeavesOnlyTheBundle(t *testing.T) {
	inCluster := []runtime.Object{
		template("k8sa", "K8sA"), template("k8sb", "K8sB"),
		gkObject("constraints.gatekeeper.sh/v1beta1", "K8sA", "a1"),
		gkObject("constraints.gatekeeper.sh/v1beta1", "K8sA", "a2"),
		gkObject("constraints.gatekeeper.sh/v1beta1", "K8sB", "b1"),
		gkObject("expansion.gatekeeper.sh/v1beta1", "ExpansionTemplate", "e1"),
		gkObject("expansion.gatekeeper.sh/v1beta1", "ExpansionTemplate", "e2"),
		gkObject("mutations.gatekeeper.sh/v1", "Assign", "m1"),
	}
	bundle := []*unstructured.Unstructured{
		template("k8sa", "K8sA"),
		gkObject("constraints.gatekeeper.sh/v1beta1", "K8sA", "a1"),
		gkObject("expansion.gatekeeper.sh/v1beta1", "ExpansionTemplate", "e1"),
	}
	// The fake stores objects under the plural its guess makes of the kind.
	resources := map[schema.GroupVersionResource]string{
		{Group: "templates.gatekeeper.sh", Version: "v1", Resource: "constrainttemplates"}:     "ConstraintTemplateList",
		{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Resource: "k8sas"}:            "K8sAList",
		{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Resource: "k8sbs"}:            "K8sBList",
		{Group: "expansion.gatekeeper.sh", Version: "v1beta1", Resource: "expansiontemplates"}: "ExpansionTemplateList",
		{Group: "mutations.gatekeeper.sh", Version: "v1", Resource: "assigns"}:                 "AssignList",
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), resources, inCluster...)
	kube := fake.NewClientset()
	disc := kube.Discovery().(*fakediscovery.FakeDiscovery)
	for gvr, list := range resources {
		gv := gvr.GroupVersion().String()
		i := slices.IndexFunc(disc.Resources, func(l *metav1.APIResourceList) bool { return l.GroupVersion == gv })
		if i < 0 {
			disc.Resources = append(disc.Resources, &metav1.APIResourceList{GroupVersion: gv})
			i = len(disc.Resources) - 1
		}
		disc.Resources[i].APIResources = append(disc.Resources[i].APIResources, metav1.APIResource{
			Name: gvr.Resource, Kind: list[:len(list)-len("List")], Verbs: metav1.Verbs{"list", "delete"}})
	}
	g := &Gatekeeper{opts: Options{Log: io.Discard, Version: "v3.23.1"}, kube: kube,
		Client: &Client{Dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}}
	if err := g.Prune(context.Background(), bundle); err != nil {
		t.Fatal(err)
	}
	left := map[string][]string{}
	for gvr := range resources {
		list, err := dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			left[gvr.Resource] = append(left[gvr.Resource], o.GetName())
		}
	}
	// K8sB's constraint goes with its template, which Gatekeeper does (the
	// template owns the constraint CRD); the fake has no such cascade.
	want := map[string][]string{"constrainttemplates": {"k8sa"}, "k8sas": {"a1"}, "k8sbs": {"b1"}, "expansiontemplates": {"e1"}}
	for r, names := range want {
		if !slices.Equal(left[r], names) {
			t.Errorf("%s left: %v, want %v", r, left[r], names)
		}
	}
	if len(left["assigns"]) != 0 {
		t.Errorf("mutators left: %v, want none", left["assigns"])
	}
}
