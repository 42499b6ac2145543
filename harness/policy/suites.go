package policy

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/drivers/k8scel"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
)

// SuiteRun is the outcome of running gator suites under one engine.
type SuiteRun struct {
	Engine  Engine
	Results []verify.SuiteResult
	// Decisions holds, in call order, a summary of every review the suites
	// made: the same suites under another engine must produce the same list.
	Decisions []string
}

// Failures lists every failed suite, test and case with its error.
func (s SuiteRun) Failures() []string {
	var out []string
	for _, sr := range s.Results {
		if sr.Error != nil {
			out = append(out, fmt.Sprintf("%s: %v", sr.Path, sr.Error))
		}
		for _, tr := range sr.TestResults {
			if tr.Error != nil {
				out = append(out, fmt.Sprintf("%s / %s: %v", sr.Path, tr.Name, tr.Error))
			}
			for _, cr := range tr.CaseResults {
				if cr.Error != nil {
					out = append(out, fmt.Sprintf("%s / %s / %s: %v", sr.Path, tr.Name, cr.Name, cr.Error))
				}
			}
		}
	}
	return out
}

// Cases counts the suite cases that ran.
func (s SuiteRun) Cases() int {
	n := 0
	for _, sr := range s.Results {
		for _, tr := range sr.TestResults {
			for _, cr := range tr.CaseResults {
				if !cr.Skipped {
					n++
				}
			}
		}
	}
	return n
}

// RunSuites runs every gator Suite under dir (recursively) in fsys with
// upstream's own runner, evaluating with engine alone.
func RunSuites(ctx context.Context, fsys fs.FS, dir string, engine Engine) (SuiteRun, error) {
	run := SuiteRun{Engine: engine}
	suites, err := verify.ReadSuites(fsys, dir, dir, true)
	if err != nil {
		return run, fmt.Errorf("read suites: %w", err)
	}
	if len(suites) == 0 {
		return run, fmt.Errorf("no suites under %s", dir)
	}
	var recorded []*types.Responses
	newClient := func(opts ...gator.Opt) (gator.Client, error) {
		c, err := suiteClient(engine, opts...)
		if err != nil {
			return nil, err
		}
		return &recordingClient{Client: c, record: func(r *types.Responses) { recorded = append(recorded, r) }}, nil
	}
	runner, err := verify.NewRunner(fsys, newClient)
	if err != nil {
		return run, err
	}
	all, err := verify.NewFilter("")
	if err != nil {
		return run, err
	}
	for _, s := range suites {
		run.Results = append(run.Results, runner.Run(ctx, all, s))
	}
	// Summarise only now: expansion folds each Pod's violations into its
	// workload's response after the review returned.
	for _, r := range recorded {
		run.Decisions = append(run.Decisions, summarizeResponses(r))
	}
	return run, nil
}

func suiteClient(engine Engine, opts ...gator.Opt) (*constraintclient.Client, error) {
	args := []constraintclient.Opt{constraintclient.Targets(&target.K8sValidationTarget{})}
	var regoArgs []rego.Arg
	for _, o := range opts {
		a, r, err := o()
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
		regoArgs = append(regoArgs, r...)
	}
	if engine == CEL {
		cel, err := k8scel.New()
		if err != nil {
			return nil, err
		}
		args = append(args, constraintclient.Driver(cel))
	}
	rd, err := rego.New(regoArgs...)
	if err != nil {
		return nil, err
	}
	args = append(args, constraintclient.Driver(rd), constraintclient.EnforcementPoints(util.GatorEnforcementPoint))
	return constraintclient.NewClient(args...)
}

type recordingClient struct {
	*constraintclient.Client
	record func(*types.Responses)
}

func (c *recordingClient) Review(ctx context.Context, obj any, opts ...reviews.ReviewOpt) (*types.Responses, error) {
	r, err := c.Client.Review(ctx, obj, opts...)
	if err == nil {
		c.record(r)
	}
	return r, err
}

func summarizeResponses(resp *types.Responses) string {
	var parts []string
	for _, tr := range resp.ByTarget {
		for _, v := range tr.Results {
			name := "?"
			if v.Constraint != nil {
				name = ConstraintName(v.Constraint)
			}
			parts = append(parts, name+":"+v.EnforcementAction)
		}
	}
	slices.Sort(parts)
	return fmt.Sprint(len(parts), " ", strings.Join(parts, ","))
}
