package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	apiconstraints "github.com/open-policy-agent/frameworks/constraint/pkg/apis/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	yamlv3 "gopkg.in/yaml.v3"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// NewClient returns a constraint framework client configured as Gatekeeper
// 3.15 configures its webhook by default: the admission target and the Rego
// driver only (its CEL driver is off unless
// --experimental-enable-k8s-native-validation is set), so templates that
// carry both engines are judged by their Rego.
func NewClient() (*client.Client, error) {
	driver, err := rego.New(rego.Tracing(false))
	if err != nil {
		return nil, fmt.Errorf("rego driver: %w", err)
	}
	return client.NewClient(client.Targets(&Target{}), client.Driver(driver))
}

// ReadObjects reads every YAML document in path, skipping empty ones. Like
// gator it parses with yaml.v3 (YAML 1.2: an unquoted no is a string, not
// false) and passes each document through JSON, so numbers become float64
// exactly as in gator's objects.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var out []*unstructured.Unstructured
	for {
		m := map[string]interface{}{}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(m) == 0 {
			continue
		}
		obj := map[string]interface{}{}
		if err := remarshal(m, &obj); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out, nil
}

func readOne(path string) (*unstructured.Unstructured, error) {
	objs, err := ReadObjects(path)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s: want exactly one object, found %d", path, len(objs))
	}
	return objs[0], nil
}

// ReadTemplate reads a ConstraintTemplate and converts it, with this
// frameworks version's defaulting, to the form the client compiles.
func ReadTemplate(path string) (*templates.ConstraintTemplate, error) {
	u, err := readOne(path)
	if err != nil {
		return nil, err
	}
	t, err := templateFromObject(u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func templateFromObject(u *unstructured.Unstructured) (*templates.ConstraintTemplate, error) {
	scheme := runtime.NewScheme()
	if err := apis.AddToScheme(scheme); err != nil {
		return nil, err
	}
	gvk := u.GroupVersionKind()
	if gvk.Group != "templates.gatekeeper.sh" || gvk.Kind != "ConstraintTemplate" {
		return nil, fmt.Errorf("not a ConstraintTemplate (%v)", gvk)
	}
	typed, err := scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	// Decode strictly: a field this release's ConstraintTemplate type does
	// not know would be pruned by a 3.15 API server, silently changing what
	// the template means there.
	j, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		return nil, fmt.Errorf("not a ConstraintTemplate as Gatekeeper 3.15 reads it: %w", err)
	}
	v, ok := typed.(interface {
		ToVersionless() (*templates.ConstraintTemplate, error)
	})
	if !ok {
		return nil, fmt.Errorf("cannot convert %T", typed)
	}
	return v.ToVersionless()
}

// ReadConstraint reads a single constraint object.
func ReadConstraint(path string) (*unstructured.Unstructured, error) {
	u, err := readOne(path)
	if err != nil {
		return nil, err
	}
	if u.GroupVersionKind().Group != "constraints.gatekeeper.sh" {
		return nil, fmt.Errorf("%s: not a constraint (%v)", path, u.GroupVersionKind())
	}
	return u, nil
}

// Suite is gator's test suite (test.gatekeeper.sh/v1alpha1, kind Suite).
// Parsing is strict: an unknown field (say "violation:" for "violations:")
// is an error here rather than an assertion that silently defaults to "yes".
type Suite struct {
	APIVersion string                 `json:"apiVersion"`
	Kind       string                 `json:"kind"`
	Metadata   map[string]interface{} `json:"metadata,omitempty"`
	Tests      []Test                 `json:"tests"`
	Skip       bool                   `json:"skip,omitempty"`
}

type Test struct {
	Name       string `json:"name"`
	Template   string `json:"template"`
	Constraint string `json:"constraint"`
	Expansion  string `json:"expansion,omitempty"`
	Cases      []Case `json:"cases,omitempty"`
	Invalid    bool   `json:"invalid,omitempty"`
	Skip       bool   `json:"skip,omitempty"`
}

type Case struct {
	Name       string      `json:"name"`
	Object     string      `json:"object"`
	Inventory  []string    `json:"inventory,omitempty"`
	Assertions []Assertion `json:"assertions"`
	Skip       bool        `json:"skip,omitempty"`
}

// Assertion is gator's: violations is "yes" (default, at least one), "no"
// (none) or an exact count, of the results whose message matches the
// unanchored regexp message (all results when message is unset).
type Assertion struct {
	Violations *intstr.IntOrString `json:"violations,omitempty"`
	Message    *string             `json:"message,omitempty"`
}

// Check applies the assertion to a review's results.
func (a Assertion) Check(results []*types.Result) error {
	var re *regexp.Regexp
	if a.Message != nil {
		var err error
		if re, err = regexp.Compile(*a.Message); err != nil {
			return fmt.Errorf("message %q: %w", *a.Message, err)
		}
	}
	matching := 0
	var msgs []string
	for _, r := range results {
		msgs = append(msgs, r.Msg)
		if re == nil || re.MatchString(r.Msg) {
			matching++
		}
	}
	want := intstr.FromString("yes")
	if a.Violations != nil {
		want = *a.Violations
	}
	what := "violations"
	if a.Message != nil {
		what = fmt.Sprintf("violations matching %q", *a.Message)
	}
	switch {
	case want.Type == intstr.Int && want.IntVal < 0:
		return fmt.Errorf("violations must be a non-negative integer, yes or no; got %d", want.IntVal)
	case want.Type == intstr.Int && int(want.IntVal) != matching:
		return fmt.Errorf("got %d %s, want exactly %d; messages: %q", matching, what, want.IntVal, msgs)
	case want.Type == intstr.String && want.StrVal == "yes" && matching == 0:
		return fmt.Errorf("got no %s, want at least one; messages: %q", what, msgs)
	case want.Type == intstr.String && want.StrVal == "no" && matching > 0:
		return fmt.Errorf("got %d %s, want none; messages: %q", matching, what, msgs)
	case want.Type == intstr.String && want.StrVal != "yes" && want.StrVal != "no":
		return fmt.Errorf("violations must be a non-negative integer, yes or no; got %q", want.StrVal)
	}
	return nil
}

// ReadSuite parses a suite file with yaml.v3, as gator does (so
// `violations: no` is the string "no"), then decodes it strictly.
func ReadSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := yamlv3.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	j, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Kind != "Suite" || !strings.HasPrefix(s.APIVersion, "test.gatekeeper.sh/") {
		return nil, fmt.Errorf("%s: not a gator Suite (apiVersion %q, kind %q)", path, s.APIVersion, s.Kind)
	}
	return &s, nil
}

// CaseOutcome is the verdict on one suite case (or on a test that could not
// run its cases, with Case empty).
type CaseOutcome struct {
	Test, Case string
	Skipped    bool
	Err        error
	// Reviews counts the objects reviewed: the case object plus each
	// resultant of expansion.
	Reviews int
}

// RunSuite runs every test and case of the suite at path, as gator verify
// does, and returns one outcome per case. A suite-level problem (unreadable
// file) is the returned error.
func RunSuite(ctx context.Context, path string) ([]CaseOutcome, error) {
	s, err := ReadSuite(path)
	if err != nil {
		return nil, err
	}
	if s.Skip {
		return []CaseOutcome{{Skipped: true}}, nil
	}
	dir := filepath.Dir(path)
	var out []CaseOutcome
	for _, t := range s.Tests {
		if t.Skip {
			out = append(out, CaseOutcome{Test: t.Name, Skipped: true})
			continue
		}
		out = append(out, runTest(ctx, dir, t)...)
	}
	return out, nil
}

// testSetup holds what every case of a test shares.
type testSetup struct {
	dir        string
	template   *templates.ConstraintTemplate
	constraint *unstructured.Unstructured
	expansion  []ExpansionTemplate
	hasExpand  bool
}

func (ts *testSetup) newClient(ctx context.Context) (*client.Client, error) {
	c, err := NewClient()
	if err != nil {
		return nil, err
	}
	if _, err := c.AddTemplate(ctx, ts.template.DeepCopy()); err != nil {
		return nil, fmt.Errorf("add template %s: %w", ts.template.GetName(), err)
	}
	if _, err := c.AddConstraint(ctx, ts.constraint.DeepCopy()); err != nil {
		return nil, fmt.Errorf("add constraint %s: %w", ts.constraint.GetName(), err)
	}
	return c, nil
}

func runTest(ctx context.Context, dir string, t Test) []CaseOutcome {
	fail := func(err error) []CaseOutcome {
		return []CaseOutcome{{Test: t.Name, Err: err}}
	}
	if t.Template == "" || t.Constraint == "" {
		return fail(errors.New("test needs both template and constraint"))
	}
	ts := &testSetup{dir: dir}
	var err error
	if ts.template, err = ReadTemplate(filepath.Join(dir, t.Template)); err != nil {
		return fail(err)
	}
	if ts.constraint, err = ReadConstraint(filepath.Join(dir, t.Constraint)); err != nil {
		return fail(err)
	}
	if t.Invalid {
		// gator: an invalid constraint must be refused by schema validation,
		// not by anything else.
		c, err := NewClient()
		if err != nil {
			return fail(err)
		}
		if _, err := c.AddTemplate(ctx, ts.template); err != nil {
			return fail(fmt.Errorf("add template %s: %w", ts.template.GetName(), err))
		}
		_, err = c.AddConstraint(ctx, ts.constraint)
		if !errors.Is(err, apiconstraints.ErrSchema) {
			return fail(fmt.Errorf("invalid constraint: got error %v, want a schema validation error", err))
		}
		return []CaseOutcome{{Test: t.Name, Case: "(constraint refused as expected)"}}
	}
	if t.Expansion != "" {
		objs, err := ReadObjects(filepath.Join(dir, t.Expansion))
		if err != nil {
			return fail(err)
		}
		if ts.expansion, err = ParseExpansionTemplates(objs); err != nil {
			return fail(err)
		}
		if len(ts.expansion) == 0 {
			return fail(fmt.Errorf("%s defines no ExpansionTemplate", t.Expansion))
		}
		ts.hasExpand = true
	}
	// One client serves every case without inventory: a review does not
	// change the client, so this is gator's fresh-client-per-case without
	// recompiling the template each time.
	shared, err := ts.newClient(ctx)
	if err != nil {
		return fail(err)
	}
	var out []CaseOutcome
	for _, c := range t.Cases {
		if c.Skip {
			out = append(out, CaseOutcome{Test: t.Name, Case: c.Name, Skipped: true})
			continue
		}
		n, err := runCase(ctx, ts, shared, c)
		out = append(out, CaseOutcome{Test: t.Name, Case: c.Name, Err: err, Reviews: n})
	}
	return out
}

func runCase(ctx context.Context, ts *testSetup, shared *client.Client, c Case) (int, error) {
	if c.Object == "" {
		return 0, errors.New("case has no object")
	}
	if len(c.Assertions) == 0 {
		return 0, errors.New("case has no assertions")
	}
	cl := shared
	if len(c.Inventory) > 0 {
		var err error
		if cl, err = ts.newClient(ctx); err != nil {
			return 0, err
		}
		for _, p := range c.Inventory {
			objs, err := ReadObjects(filepath.Join(ts.dir, p))
			if err != nil {
				return 0, err
			}
			for _, o := range objs {
				if _, err := cl.AddData(ctx, o); err != nil {
					return 0, fmt.Errorf("inventory %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
		}
	}
	obj, err := readOne(filepath.Join(ts.dir, c.Object))
	if err != nil {
		return 0, err
	}
	results, n, err := reviewCaseObject(ctx, cl, obj, ts)
	if err != nil {
		return n, err
	}
	for i, a := range c.Assertions {
		if err := a.Check(results); err != nil {
			return n, fmt.Errorf("assertion %d: %w", i, err)
		}
	}
	return n, nil
}

// reviewCaseObject reviews a case object the way gator verify does: an
// AdmissionReview is reviewed from its request (and, like gator, not
// expanded); any other object is reviewed as is and, when the test names an
// expansion, so is every resultant, with messages prefixed
// "[Implied by <template>]" as Gatekeeper aggregates them.
func reviewCaseObject(ctx context.Context, cl *client.Client, obj *unstructured.Unstructured, ts *testSetup) ([]*types.Result, int, error) {
	gvk := obj.GroupVersionKind()
	if gvk.Kind == "AdmissionReview" && gvk.Group == admissionv1.SchemeGroupVersion.Group {
		req, err := admissionRequest(obj)
		if err != nil {
			return nil, 0, err
		}
		resp, err := cl.Review(ctx, &RequestReview{Request: req, Source: SourceOriginal})
		if err != nil {
			return nil, 1, fmt.Errorf("review AdmissionRequest %s %s/%s: %w", req.Operation, req.Namespace, req.Name, err)
		}
		return resp.Results(), 1, nil
	}

	resp, err := cl.Review(ctx, &UnstructuredReview{Object: obj, Source: SourceOriginal})
	if err != nil {
		return nil, 1, fmt.Errorf("review %v %s/%s: %w", gvk, obj.GetNamespace(), obj.GetName(), err)
	}
	results := resp.Results()
	n := 1
	if !ts.hasExpand {
		return results, n, nil
	}
	resultants, err := Expand(obj, ts.expansion)
	if err != nil {
		return nil, n, err
	}
	for _, r := range resultants {
		rresp, err := cl.Review(ctx, &UnstructuredReview{Object: r.Object, Source: SourceGenerated})
		n++
		if err != nil {
			return nil, n, fmt.Errorf("review resultant %s %s: %w", r.Object.GetKind(), r.Object.GetName(), err)
		}
		results = append(results, implied(r, rresp.Results())...)
	}
	return results, n, nil
}

// admissionRequest validates an AdmissionReview case object as gator does:
// no unknown fields, a request with an object or oldObject that decode, and
// on DELETE the oldObject (required) stands in for the object.
func admissionRequest(obj *unstructured.Unstructured) (*admissionv1.AdmissionRequest, error) {
	var ar admissionv1.AdmissionReview
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &ar, true); err != nil {
		return nil, fmt.Errorf("invalid AdmissionReview: %w", err)
	}
	req := ar.Request
	if req == nil {
		return nil, errors.New("AdmissionReview has no request")
	}
	if req.Object.Raw == nil && req.OldObject.Raw == nil {
		return nil, errors.New("AdmissionRequest has neither object nor oldObject")
	}
	for _, raw := range [][]byte{req.Object.Raw, req.OldObject.Raw} {
		if raw == nil {
			continue
		}
		if err := (&unstructured.Unstructured{}).UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("AdmissionRequest object: %w", err)
		}
	}
	if req.Operation == admissionv1.Delete {
		if req.OldObject.Raw == nil {
			return nil, errors.New("DELETE AdmissionRequest without oldObject")
		}
		req.Object = req.OldObject
	}
	return req, nil
}
