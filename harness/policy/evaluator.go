package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/drivers/k8scel"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/expansion"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/expand"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	mutationtypes "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	frameworksapis "github.com/open-policy-agent/frameworks/constraint/pkg/apis"
)

// Engine selects which policy language evaluates a template.
type Engine string

const (
	// Rego evaluates every template with its Rego.
	Rego Engine = "rego"
	// CEL evaluates with CEL where a template carries it, Rego elsewhere.
	CEL Engine = "cel"
)

// ParseEngine accepts "rego" or "cel".
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(s); e {
	case Rego, CEL:
		return e, nil
	}
	return "", fmt.Errorf("engine %q: want rego or cel", s)
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := frameworksapis.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// NewClient returns a constraint client with Gatekeeper's target and the
// drivers for engine, in Gatekeeper's priority order (CEL before Rego).
func NewClient(engine Engine, enforcementPoints ...string) (*constraintclient.Client, error) {
	opts := []constraintclient.Opt{constraintclient.Targets(&target.K8sValidationTarget{})}
	if engine == CEL {
		cel, err := k8scel.New()
		if err != nil {
			return nil, fmt.Errorf("cel driver: %w", err)
		}
		opts = append(opts, constraintclient.Driver(cel))
	}
	rd, err := rego.New()
	if err != nil {
		return nil, fmt.Errorf("rego driver: %w", err)
	}
	opts = append(opts, constraintclient.Driver(rd))
	if len(enforcementPoints) == 0 {
		enforcementPoints = []string{util.WebhookEnforcementPoint}
	}
	opts = append(opts, constraintclient.EnforcementPoints(enforcementPoints...))
	return constraintclient.NewClient(opts...)
}

// Evaluator reviews objects against one bundle with one engine, as
// Gatekeeper's validating webhook would.
type Evaluator struct {
	engine Engine
	bundle *Bundle
	client *constraintclient.Client
}

// NewEvaluator compiles every template and constraint of b for engine.
func NewEvaluator(ctx context.Context, b *Bundle, engine Engine) (*Evaluator, error) {
	c, err := NewClient(engine)
	if err != nil {
		return nil, err
	}
	for _, t := range b.Templates {
		templ, err := reader.ToTemplate(scheme, t)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", t.GetName(), err)
		}
		if _, err := c.AddTemplate(ctx, templ); err != nil {
			return nil, fmt.Errorf("add template %s: %w", t.GetName(), err)
		}
	}
	for _, con := range b.Constraints {
		if _, err := c.AddConstraint(ctx, con); err != nil {
			return nil, fmt.Errorf("add constraint %s: %w", ConstraintName(con), err)
		}
	}
	return &Evaluator{engine: engine, bundle: b, client: c}, nil
}

// Engine reports the evaluator's engine.
func (e *Evaluator) Engine() Engine { return e.engine }

// Violation is one constraint's complaint about an object.
type Violation struct {
	Constraint        string         `json:"constraint"`
	Message           string         `json:"message"`
	EnforcementAction string         `json:"enforcementAction"`
	Details           map[string]any `json:"details,omitempty"`
}

// Denies reports whether the violation blocks admission.
func (v Violation) Denies() bool { return v.EnforcementAction == "deny" }

// ObjectRef names the object under review.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// Result is the verdict on one input object.
type Result struct {
	File       string      `json:"file"`
	Line       int         `json:"line,omitempty"`
	Object     ObjectRef   `json:"object"`
	Operation  string      `json:"operation,omitempty"` // set for AdmissionReview inputs
	Allowed    bool        `json:"allowed"`
	Violations []Violation `json:"violations"`
}

// ErrMissingNamespace is returned when a namespaced input's Namespace is not
// among the inputs, so namespaceSelector scoping cannot be decided.
var ErrMissingNamespace = errors.New("namespace not among the inputs")

// Check reviews every input. Namespace labels, which decide the bundle's
// namespaceSelector scope, come from the Namespace objects among the inputs
// (as `gator test` resolves them). Expansion (workload → Pod) and any
// mutators in the bundle are applied as in Gatekeeper's webhook.
func (e *Evaluator) Check(ctx context.Context, inputs []Input) ([]Result, error) {
	sess, err := e.newSession(inputs)
	if err != nil {
		return nil, err
	}
	// Reviews are independent and the constraint client is safe for
	// concurrent use (Gatekeeper's webhook shares one the same way), so use
	// every core; results keep the input order.
	results := make([]Result, len(inputs))
	errs := make([]error, len(inputs))
	forEachIndex(len(inputs), func(i int) {
		results[i], errs[i] = sess.review(ctx, inputs[i])
	})
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", inputs[i].File, inputs[i].Line, err)
		}
	}
	return results, nil
}

type session struct {
	e          *Evaluator
	namespaces map[string]*corev1.Namespace
	expander   *expand.Expander
}

func (e *Evaluator) newSession(inputs []Input) (*session, error) {
	s := &session{e: e, namespaces: map[string]*corev1.Namespace{}}
	objs := append([]*unstructured.Unstructured{}, e.bundle.Expansions...)
	objs = append(objs, e.bundle.Mutators...)
	for _, in := range inputs {
		if !isNamespace(in.Object) {
			continue
		}
		ns := &corev1.Namespace{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(in.Object.Object, ns); err != nil {
			return nil, fmt.Errorf("%s:%d: Namespace %s: %w", in.File, in.Line, in.Object.GetName(), err)
		}
		s.namespaces[ns.Name] = ns
		objs = append(objs, in.Object)
	}
	er, err := expand.NewExpander(objs)
	if err != nil {
		return nil, fmt.Errorf("expansion: %w", err)
	}
	s.expander = er
	return s, nil
}

func (s *session) namespaceFor(name string) (*corev1.Namespace, error) {
	if name == "" {
		return nil, nil
	}
	if ns, ok := s.namespaces[name]; ok {
		return ns, nil
	}
	return nil, fmt.Errorf("%w: %q (add its Namespace object so its labels decide the scope)", ErrMissingNamespace, name)
}

func (s *session) review(ctx context.Context, in Input) (Result, error) {
	if isAdmissionReview(in.Object) {
		return s.reviewAdmission(ctx, in)
	}
	obj := in.Object.DeepCopy()
	res := Result{File: in.File, Line: in.Line, Object: refOf(obj)}
	ns, err := s.namespaceFor(obj.GetNamespace())
	if err != nil {
		return res, fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	// Expanding first also runs the bundle's mutators on obj, as the
	// mutating webhook would before validation.
	resultants, err := s.expander.Expand(obj)
	if err != nil {
		return res, err
	}
	resp, err := s.e.review(ctx, &target.AugmentedUnstructured{Object: *obj, Namespace: ns, Source: mutationtypes.SourceTypeOriginal}, ns)
	if err != nil {
		return res, err
	}
	if err := s.e.reviewResultants(ctx, resp, resultants, ns, ""); err != nil {
		return res, err
	}
	res.fill(resp)
	return res, nil
}

func (s *session) reviewAdmission(ctx context.Context, in Input) (Result, error) {
	var ar admissionv1.AdmissionReview
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(in.Object.Object, &ar, true); err != nil {
		return Result{}, fmt.Errorf("AdmissionReview: %w", err)
	}
	req := ar.Request
	if req == nil || (req.Object.Raw == nil && req.OldObject.Raw == nil) {
		return Result{}, errors.New("AdmissionReview: request with object or oldObject required")
	}
	res := Result{
		File: in.File, Line: in.Line, Operation: string(req.Operation),
		Object: ObjectRef{APIVersion: gvString(req.Kind.Group, req.Kind.Version), Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name},
	}
	ns, err := s.namespaceFor(req.Namespace)
	if err != nil {
		return res, fmt.Errorf("AdmissionReview %s %s: %w", req.Kind.Kind, req.Name, err)
	}
	resp, err := s.e.review(ctx, &target.AugmentedReview{AdmissionRequest: req, Namespace: ns, Source: mutationtypes.SourceTypeOriginal, IsAdmission: true}, ns)
	if err != nil {
		return res, err
	}
	if req.Object.Raw != nil {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
			return res, fmt.Errorf("AdmissionReview request.object: %w", err)
		}
		obj.SetNamespace(req.Namespace)
		resultants, err := s.expander.Expand(obj)
		if err != nil {
			return res, err
		}
		if err := s.e.reviewResultants(ctx, resp, resultants, ns, req.Operation); err != nil {
			return res, err
		}
	}
	res.fill(resp)
	return res, nil
}

func (e *Evaluator) review(ctx context.Context, review any, ns *corev1.Namespace) (*types.Responses, error) {
	opts := []reviews.ReviewOpt{reviews.EnforcementPoint(util.WebhookEnforcementPoint)}
	if ns != nil {
		m, err := util.NamespaceToMap(ns)
		if err != nil {
			return nil, err
		}
		opts = append(opts, reviews.Namespace(m))
	}
	return e.client.Review(ctx, review, opts...)
}

// reviewResultants reviews the Pods a workload expands into and folds their
// violations into the workload's response, as Gatekeeper's webhook does.
func (e *Evaluator) reviewResultants(ctx context.Context, parent *types.Responses, resultants []*expansion.Resultant, ns *corev1.Namespace, op admissionv1.Operation) error {
	for _, r := range resultants {
		child, err := e.review(ctx, &target.AugmentedUnstructured{Object: *r.Obj, Namespace: ns, Operation: op, Source: mutationtypes.SourceTypeGenerated}, ns)
		if err != nil {
			return fmt.Errorf("review expanded %s: %w", r.Obj.GetKind(), err)
		}
		expansion.OverrideEnforcementAction(r.EnforcementAction, child)
		expansion.AggregateResponses(r.TemplateName, parent, child)
	}
	return nil
}

func (r *Result) fill(resp *types.Responses) {
	r.Violations = []Violation{}
	for _, tr := range resp.ByTarget {
		for _, v := range tr.Results {
			viol := Violation{Message: v.Msg, EnforcementAction: v.EnforcementAction}
			if v.Constraint != nil {
				viol.Constraint = ConstraintName(v.Constraint)
			}
			if d, ok := v.Metadata["details"].(map[string]any); ok {
				viol.Details = d
			}
			if v.EnforcementAction == "scoped" && slices.Contains(v.ScopedEnforcementActions, "deny") {
				viol.EnforcementAction = "deny"
			}
			r.Violations = append(r.Violations, viol)
		}
	}
	sort.Slice(r.Violations, func(i, j int) bool {
		a, b := r.Violations[i], r.Violations[j]
		if a.Constraint != b.Constraint {
			return a.Constraint < b.Constraint
		}
		return a.Message < b.Message
	})
	r.Allowed = !slices.ContainsFunc(r.Violations, Violation.Denies)
}

func refOf(o *unstructured.Unstructured) ObjectRef {
	return ObjectRef{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

func gvString(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}
