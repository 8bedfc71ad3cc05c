package queryfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/hcldiag"
)

// Target is the node a query is sent to, as its Info describes it: the
// query's x columns are its own, its y columns one other owner's or a
// pool's.
type Target struct {
	// Node is the evaluating node's name.
	Node string
	// Owners are the federation's data owners, Node among them.
	Owners []string
	// Columns are Node's columns.
	Columns []string
}

// file is the HCL form of a joint query (see docs/results.md).
type file struct {
	Purpose       string            `hcl:"purpose"`
	Epsilon       float64           `hcl:"epsilon,optional"`
	Delta         float64           `hcl:"delta,optional"`
	Exact         bool              `hcl:"exact,optional"`
	Correlations  []correlationSpec `hcl:"correlation,block"`
	Rates         []rateSpec        `hcl:"rate,block"`
	Regressions   []regressionSpec  `hcl:"regression,block"`
	Contingencies []contingencySpec `hcl:"contingency,block"`
	Pools         []poolSpec        `hcl:"pool,block"`
}

// poolSpec pools the y columns of owners with disjoint customers; the
// query's columns name the pool as their node.
type poolSpec struct {
	Name   string   `hcl:"name,label"`
	Owners []string `hcl:"owners"`
}

type regressionSpec struct {
	Outcome    string   `hcl:"outcome"`
	Predictors []string `hcl:"predictors"`
}

type contingencySpec struct {
	X        string    `hcl:"x"`
	XBuckets []float64 `hcl:"x_buckets"`
	Y        string    `hcl:"y"`
	YBuckets []float64 `hcl:"y_buckets"`
}

type correlationSpec struct {
	X []string `hcl:"x"`
	Y []string `hcl:"y"`
}

type rateSpec struct {
	Events   string    `hcl:"events"`
	Exposure string    `hcl:"exposure"`
	By       string    `hcl:"by"`
	Buckets  []float64 `hcl:"buckets"`
}

// parseRef splits "node.column".
func parseRef(s string) (aggregate.ColumnRef, error) {
	owner, name, ok := strings.Cut(s, ".")
	if !ok || owner == "" || name == "" || strings.Contains(name, ".") {
		return aggregate.ColumnRef{}, fmt.Errorf("column %q must be written node.column", s)
	}
	return aggregate.ColumnRef{Owner: owner, Name: name}, nil
}

// ErrInvalid is wrapped by every error of Parse and Validate.
var ErrInvalid = errors.New("queryfile: invalid query")

// fileError is a mistake in a query file. Its text is what the researcher
// reads: the file, the line where there is one, and what is wrong.
type fileError struct{ msg string }

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return ErrInvalid }

// Parse parses the query file at path, whose contents are src, into a
// joint request for target: HCL, or HCL's JSON syntax when path ends in
// .json. Columns of target.Node become the request's x, those of the
// other owner (or of the pool the file declares) its y. Every request it
// returns passes Validate.
func Parse(path string, src []byte, target Target) (party.JointRequest, error) {
	req, err := parse(path, src, target)
	if err != nil {
		return party.JointRequest{}, &fileError{msg: err.Error()}
	}
	return req, nil
}

func parse(path string, src []byte, target Target) (party.JointRequest, error) {
	var qf file
	parse := hclparse.NewParser().ParseHCL
	if strings.EqualFold(filepath.Ext(path), ".json") {
		parse = hclparse.NewParser().ParseJSON // the same query in HCL's JSON syntax
	}
	f, diags := parse(src, path)
	if !diags.HasErrors() {
		diags = gohcl.DecodeBody(f.Body, nil, &qf)
	}
	if diags.HasErrors() {
		return party.JointRequest{}, errors.New(hcldiag.Format(diags))
	}
	evaluator, owners, columns := target.Node, target.Owners, target.Columns
	req := party.JointRequest{Purpose: qf.Purpose, Epsilon: qf.Epsilon, Delta: qf.Delta, Exact: qf.Exact}
	if len(qf.Correlations) == 0 && len(qf.Rates) == 0 && len(qf.Regressions) == 0 && len(qf.Contingencies) == 0 {
		return req, fmt.Errorf("%s: the query selects nothing: add a correlation, rate, regression or contingency block", path)
	}
	if !qf.Exact && !(qf.Epsilon > 0) {
		return req, fmt.Errorf("%s: epsilon must be positive (or exact = true where every node allows it)", path)
	}
	if len(qf.Pools) > 1 {
		return req, fmt.Errorf("%s: one pool per query (%d declared)", path, len(qf.Pools))
	}
	for _, p := range qf.Pools {
		if slices.Contains(owners, p.Name) {
			return req, fmt.Errorf("%s: pool %q has the name of a node; pick another name", path, p.Name)
		}
		if len(p.Owners) < 2 {
			return req, fmt.Errorf("%s: pool %q needs at least two owners", path, p.Name)
		}
		for k, o := range p.Owners {
			if !slices.Contains(owners, o) || o == evaluator || slices.Contains(p.Owners[:k], o) {
				return req, fmt.Errorf("%s: pool %q: %q is not another data owner, or is listed twice (data owners: %s; the query goes to %s)", path, p.Name, o, strings.Join(owners, ", "), evaluator)
			}
		}
		req.Pool = &party.Pool{Name: p.Name, Owners: p.Owners}
	}
	var xs, ys []aggregate.ColumnRef
	add := func(s string) (aggregate.ColumnRef, error) {
		r, err := parseRef(s)
		if err != nil {
			return r, fmt.Errorf("%s: %w", path, err)
		}
		if !slices.Contains(owners, r.Owner) && (req.Pool == nil || r.Owner != req.Pool.Name) {
			return r, fmt.Errorf("%s: unknown node %q in %q (data owners: %s)", path, r.Owner, s, strings.Join(owners, ", "))
		}
		if r.Owner == evaluator {
			if !slices.Contains(columns, r.Name) {
				return r, fmt.Errorf("%s: node %s has no column %q (columns: %s)", path, r.Owner, r.Name, strings.Join(columns, ", "))
			}
			if !slices.Contains(xs, r) {
				xs = append(xs, r)
			}
		} else if !slices.Contains(ys, r) {
			ys = append(ys, r)
		}
		return r, nil
	}
	for _, c := range qf.Correlations {
		if len(c.X) == 0 || len(c.Y) == 0 {
			return req, fmt.Errorf("%s: a correlation block needs columns in both x and y", path)
		}
		for _, s := range append(append([]string{}, c.X...), c.Y...) {
			if _, err := add(s); err != nil {
				return req, err
			}
		}
		req.Correlations = true
	}
	for _, r := range qf.Rates {
		ev, err := add(r.Events)
		if err != nil {
			return req, err
		}
		ex, err := add(r.Exposure)
		if err != nil {
			return req, err
		}
		by, err := add(r.By)
		if err != nil {
			return req, err
		}
		if err := checkBuckets(path, r.By, r.Buckets); err != nil {
			return req, err
		}
		req.Rates = append(req.Rates, aggregate.RateRequest{Events: ev, Exposure: ex, By: by, Edges: r.Buckets})
	}
	for _, r := range qf.Regressions {
		outcome, err := add(r.Outcome)
		if err != nil {
			return req, err
		}
		if len(r.Predictors) == 0 {
			return req, fmt.Errorf("%s: the regression of %s has no predictors", path, r.Outcome)
		}
		reg := aggregate.RegressionRequest{Outcome: outcome}
		for _, p := range r.Predictors {
			ref, err := add(p)
			if err != nil {
				return req, err
			}
			reg.Predictors = append(reg.Predictors, ref)
		}
		req.Regressions = append(req.Regressions, reg)
	}
	for _, ct := range qf.Contingencies {
		x, err := add(ct.X)
		if err != nil {
			return req, err
		}
		y, err := add(ct.Y)
		if err != nil {
			return req, err
		}
		if err := checkBuckets(path, ct.X, ct.XBuckets); err != nil {
			return req, err
		}
		if err := checkBuckets(path, ct.Y, ct.YBuckets); err != nil {
			return req, err
		}
		req.Contingencies = append(req.Contingencies, aggregate.ContingencyRequest{X: x, XEdges: ct.XBuckets, Y: y, YEdges: ct.YBuckets})
	}
	// x are the evaluator's columns, y the other owner's or the pool's.
	for _, y := range ys {
		if y.Owner != ys[0].Owner {
			return req, fmt.Errorf("%s: columns of %s and %s: a query joins the node it is sent to with one other owner", path, ys[0].Owner, y.Owner)
		}
	}
	if len(xs) == 0 || len(ys) == 0 {
		return req, fmt.Errorf("%s: the query must use columns of %s (the node it is sent to) and of one other owner or pool", path, evaluator)
	}
	if req.Pool != nil && ys[0].Owner != req.Pool.Name {
		return req, fmt.Errorf("%s: pool %q is declared but the columns are %s's; name pooled columns %s.<column>", path, req.Pool.Name, ys[0].Owner, req.Pool.Name)
	}
	req.X, req.Y = xs, ys
	return req, nil
}

// checkBuckets requires non-empty, strictly increasing bucket edges.
func checkBuckets(path, column string, edges []float64) error {
	if len(edges) == 0 {
		return fmt.Errorf("%s: buckets of %s are empty", path, column)
	}
	for k := 1; k < len(edges); k++ {
		if !(edges[k] > edges[k-1]) {
			return fmt.Errorf("%s: buckets of %s must be strictly increasing, got %v", path, column, edges)
		}
	}
	return nil
}
