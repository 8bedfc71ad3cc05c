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
	"github.com/jointly-dev/jointly/crypto/dp"
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
	// Levels are the levels of Node's categorical columns, as its Info
	// lists them: Parse refuses cut points on them, and requires them on
	// Node's other columns. Nil when Node's description is not known (a
	// file checked on its own): the node checks then.
	Levels map[string][]string
}

// file is the HCL form of a joint query (see docs/results.md).
type file struct {
	Evaluator     string            `hcl:"evaluator,optional"`
	Purpose       string            `hcl:"purpose"`
	Epsilon       float64           `hcl:"epsilon,optional"`
	Delta         float64           `hcl:"delta,optional"` // default DefaultDelta
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
	// Intercept is true unless set to false: a fit through the origin.
	Intercept *bool `hcl:"intercept,optional"`
}

type contingencySpec struct {
	X        string    `hcl:"x"`
	XBuckets []float64 `hcl:"x_buckets,optional"` // none for a categorical column
	Y        string    `hcl:"y"`
	YBuckets []float64 `hcl:"y_buckets,optional"`
}

type correlationSpec struct {
	X []string `hcl:"x"`
	Y []string `hcl:"y"`
	// By groups the correlations by a column of either owner: within each
	// of its levels, or of its buckets cut at Buckets.
	By      string    `hcl:"by,optional"`
	Buckets []float64 `hcl:"buckets,optional"` // none for a categorical column
}

type rateSpec struct {
	Events   string    `hcl:"events"`
	Exposure string    `hcl:"exposure"`
	By       string    `hcl:"by"`
	Buckets  []float64 `hcl:"buckets,optional"` // none for a categorical column
	Per      string    `hcl:"per,optional"`     // a time unit; default year
}

// DefaultDelta is the δ of a query whose file leaves it out and is not
// exact. With a querier's default δ budget at a node
// (party.DefaultQuerierDelta, 1e-5) it allows a hundred queries, so that ε
// runs out first for a querier who asks at ε ≥ 0.1. A δ this small costs
// little: δ enters the noise through √ln(1/δ) (docs/privacy.md).
const DefaultDelta = 1e-7

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
	qf, err := decode(path, src)
	if err != nil {
		return party.JointRequest{}, err
	}
	if qf.Delta == 0 && !qf.Exact {
		qf.Delta = DefaultDelta
	}
	if qf.Evaluator != "" && target.Node != "" && qf.Evaluator != target.Node {
		return party.JointRequest{}, fmt.Errorf("%s: the query is for %s (evaluator), and the node it goes to is %s: send it to %s", path, qf.Evaluator, target.Node, qf.Evaluator)
	}
	b := &builder{path: path, target: target,
		req: party.JointRequest{Purpose: qf.Purpose, Epsilon: qf.Epsilon, Delta: qf.Delta, Exact: qf.Exact, Evaluator: qf.Evaluator}}
	for _, step := range []func() error{
		func() error { return b.selection(qf) },
		func() error { return b.pool(qf.Pools) },
		func() error { return b.correlations(qf.Correlations) },
		func() error { return b.rates(qf.Rates) },
		func() error { return b.regressions(qf.Regressions) },
		func() error { return b.contingencies(qf.Contingencies) },
		b.columns,
	} {
		if err := step(); err != nil {
			return party.JointRequest{}, err
		}
	}
	return b.req, nil
}

// decode parses the file's syntax, HCL or JSON by its name, and its schema.
func decode(path string, src []byte) (file, error) {
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
		msg := hcldiag.Format(diags)
		if isJSON := strings.EqualFold(filepath.Ext(path), ".json"); !isJSON && strings.HasPrefix(strings.TrimSpace(string(src)), "{") {
			msg += " (the file looks like JSON: a query in HCL's JSON syntax goes in a file whose name ends in .json)"
		}
		return file{}, errors.New(msg)
	}
	return qf, nil
}

// builder turns a decoded file into the request for its target, one kind
// of block at a time.
type builder struct {
	path   string
	target Target
	req    party.JointRequest
	// xs are the target's columns the file names, ys the others', each once
	// and in the order of their first mention.
	xs, ys []aggregate.ColumnRef
}

// buckets checks the cut points of a group-by column: strictly
// increasing, none for a categorical column of the target, some for any
// other column of the target (when its description is known). Another
// owner's columns are checked by the node.
func (b *builder) buckets(r aggregate.ColumnRef, column string, edges []float64) error {
	if r.Owner == b.target.Node && b.target.Levels != nil {
		if _, categorical := b.target.Levels[r.Name]; categorical && len(edges) > 0 {
			return b.errorf("%s is categorical: it is grouped by its levels (%s); leave out its buckets", column, strings.Join(b.target.Levels[r.Name], ", "))
		} else if !categorical && len(edges) == 0 {
			return b.errorf("buckets of %s are empty: a numeric column needs cut points (only a categorical one is grouped by its levels)", column)
		}
	}
	return checkBuckets(b.path, column, edges)
}

func (b *builder) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", b.path, fmt.Sprintf(format, args...))
}

// selection requires a statistic, and a privacy cost unless exact.
func (b *builder) selection(qf file) error {
	if len(qf.Correlations) == 0 && len(qf.Rates) == 0 && len(qf.Regressions) == 0 && len(qf.Contingencies) == 0 {
		return b.errorf("the query selects nothing: add a correlation, rate, regression or contingency block")
	}
	if !qf.Exact && !(qf.Epsilon > 0) {
		return b.errorf("epsilon must be positive (or exact = true where every node allows it)")
	}
	check := dp.CheckBudget
	if qf.Exact {
		check = dp.CheckExactBudget
	}
	if err := check(qf.Epsilon, qf.Delta); err != nil {
		return b.errorf("%v", err)
	}
	return nil
}

// pool checks the pool the file declares, if any: one at most, named
// unlike any node, of two or more other owners.
func (b *builder) pool(pools []poolSpec) error {
	if len(pools) > 1 {
		return b.errorf("one pool per query (%d declared)", len(pools))
	}
	owners := b.target.Owners
	for _, p := range pools {
		if slices.Contains(owners, p.Name) {
			return b.errorf("pool %q has the name of a node; pick another name", p.Name)
		}
		if len(p.Owners) < 2 {
			return b.errorf("pool %q needs at least two owners", p.Name)
		}
		for k, o := range p.Owners {
			if !slices.Contains(owners, o) || o == b.target.Node || slices.Contains(p.Owners[:k], o) {
				return b.errorf("pool %q: %q is not another data owner, or is listed twice (data owners: %s; the query goes to %s)", p.Name, o, strings.Join(owners, ", "), b.target.Node)
			}
		}
		b.req.Pool = &party.Pool{Name: p.Name, Owners: p.Owners}
	}
	return nil
}

// add resolves a column reference of the file and records it as an x
// column (the target's) or a y column (another owner's or the pool's).
func (b *builder) add(s string) (aggregate.ColumnRef, error) {
	r, err := parseRef(s)
	if err != nil {
		return r, fmt.Errorf("%s: %w", b.path, err)
	}
	owners := b.target.Owners
	if !slices.Contains(owners, r.Owner) && (b.req.Pool == nil || r.Owner != b.req.Pool.Name) {
		return r, b.errorf("unknown node %q in %q (data owners: %s)", r.Owner, s, strings.Join(owners, ", "))
	}
	if r.Owner == b.target.Node {
		if !slices.Contains(b.target.Columns, r.Name) {
			return r, b.errorf("node %s has no column %q (columns: %s)", r.Owner, r.Name, strings.Join(b.target.Columns, ", "))
		}
		if !slices.Contains(b.xs, r) {
			b.xs = append(b.xs, r)
		}
	} else if !slices.Contains(b.ys, r) {
		b.ys = append(b.ys, r)
	}
	return r, nil
}

// addAll resolves several references.
func (b *builder) addAll(ss ...string) ([]aggregate.ColumnRef, error) {
	refs := make([]aggregate.ColumnRef, 0, len(ss))
	for _, s := range ss {
		r, err := b.add(s)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// correlations sets the correlation columns: every column a correlation
// block names, the target's as x and the others' as y. Pearson r covers
// every pair of them, and no other column gets a mean, variance or r.
// Grouped (by), they are computed within each group instead; every block
// then names the same by and buckets.
func (b *builder) correlations(cs []correlationSpec) error {
	for k, c := range cs {
		if len(c.X) == 0 || len(c.Y) == 0 {
			return b.errorf("a correlation block needs columns in both x and y")
		}
		if k > 0 && (c.By != cs[0].By || !slices.Equal(c.Buckets, cs[0].Buckets)) {
			return b.errorf("the correlation blocks group by %s and %s: all of a query's correlations are grouped alike (one block can name every column)",
				groupingText(cs[0].By, cs[0].Buckets), groupingText(c.By, c.Buckets))
		}
		if c.By == "" && len(c.Buckets) > 0 {
			return b.errorf("a correlation block has buckets but no by column to cut")
		}
		refs, err := b.addAll(append(slices.Clone(c.X), c.Y...)...)
		if err != nil {
			return err
		}
		for _, r := range refs {
			switch {
			case r.Owner == b.target.Node && !slices.Contains(b.req.CorrelationX, r):
				b.req.CorrelationX = append(b.req.CorrelationX, r)
			case r.Owner != b.target.Node && !slices.Contains(b.req.CorrelationY, r):
				b.req.CorrelationY = append(b.req.CorrelationY, r)
			}
		}
		b.req.Correlations = true
	}
	if b.req.Correlations && (len(b.req.CorrelationX) == 0 || len(b.req.CorrelationY) == 0) {
		return b.errorf("the correlation blocks must name columns of %s (the node the query is sent to) and of one other owner or pool", b.target.Node)
	}
	if len(cs) == 0 || cs[0].By == "" {
		return nil
	}
	by, err := b.add(cs[0].By)
	if err != nil {
		return err
	}
	if slices.Contains(b.req.CorrelationX, by) || slices.Contains(b.req.CorrelationY, by) {
		return b.errorf("%s groups the correlations and is one of their columns: leave it out of x and y", cs[0].By)
	}
	if err := b.buckets(by, cs[0].By, cs[0].Buckets); err != nil {
		return err
	}
	b.req.CorrelationBy, b.req.CorrelationEdges = by, cs[0].Buckets
	return nil
}

// groupingText describes the grouping of a correlation block.
func groupingText(by string, buckets []float64) string {
	switch {
	case by == "":
		return "nothing"
	case len(buckets) == 0:
		return by
	}
	return fmt.Sprintf("%s at %v", by, buckets)
}

func (b *builder) rates(rs []rateSpec) error {
	for _, r := range rs {
		refs, err := b.addAll(r.Events, r.Exposure, r.By)
		if err != nil {
			return err
		}
		if err := b.buckets(refs[2], r.By, r.Buckets); err != nil {
			return err
		}
		if _, ok := aggregate.TimeUnit(r.Per); r.Per != "" && !ok {
			return b.errorf("the rate of %s is per day, week, month or year, not per %q", r.Events, r.Per)
		}
		b.req.Rates = append(b.req.Rates, aggregate.RateRequest{Events: refs[0], Exposure: refs[1], By: refs[2], Edges: r.Buckets, Per: r.Per})
	}
	return nil
}

func (b *builder) regressions(rs []regressionSpec) error {
	for _, r := range rs {
		outcome, err := b.add(r.Outcome)
		if err != nil {
			return err
		}
		if len(r.Predictors) == 0 {
			return b.errorf("the regression of %s has no predictors", r.Outcome)
		}
		predictors, err := b.addAll(r.Predictors...)
		if err != nil {
			return err
		}
		noIntercept := r.Intercept != nil && !*r.Intercept
		b.req.Regressions = append(b.req.Regressions, aggregate.RegressionRequest{Outcome: outcome, Predictors: predictors, NoIntercept: noIntercept})
	}
	return nil
}

func (b *builder) contingencies(cs []contingencySpec) error {
	for _, ct := range cs {
		refs, err := b.addAll(ct.X, ct.Y)
		if err != nil {
			return err
		}
		if err := b.buckets(refs[0], ct.X, ct.XBuckets); err != nil {
			return err
		}
		if err := b.buckets(refs[1], ct.Y, ct.YBuckets); err != nil {
			return err
		}
		b.req.Contingencies = append(b.req.Contingencies, aggregate.ContingencyRequest{X: refs[0], XEdges: ct.XBuckets, Y: refs[1], YEdges: ct.YBuckets})
	}
	return nil
}

// columns sets the request's x and y: the target's columns, and those of
// one other owner, or of the declared pool.
func (b *builder) columns() error {
	xs, ys := b.xs, b.ys
	for _, y := range ys {
		if y.Owner != ys[0].Owner {
			return b.errorf("columns of %s and %s: a query joins the node it is sent to with one other owner", ys[0].Owner, y.Owner)
		}
	}
	if len(xs) == 0 && len(ys) > 0 {
		return b.errorf("the query uses only columns of %s, and the node it is sent to is %s: a query joins columns of the node it is sent to with those of one other owner or pool, so it needs a column of %s (or, sent to %s, one of another owner's)",
			ys[0].Owner, b.target.Node, b.target.Node, ys[0].Owner)
	}
	if len(xs) == 0 || len(ys) == 0 {
		return b.errorf("the query must use columns of %s (the node it is sent to) and of one other owner or pool", b.target.Node)
	}
	if p := b.req.Pool; p != nil && ys[0].Owner != p.Name {
		return b.errorf("pool %q is declared but the columns are %s's; name pooled columns %s.<column>", p.Name, ys[0].Owner, p.Name)
	}
	for _, r := range b.req.Regressions {
		if r.Outcome.Owner == b.target.Node {
			return b.errorf("%s", ownOutcome(r.Outcome, b.target.Node))
		}
	}
	b.req.X, b.req.Y = xs, ys
	return nil
}

// checkBuckets requires strictly increasing bucket edges; none group a
// categorical column by its levels.
func checkBuckets(path, column string, edges []float64) error {
	for k := 1; k < len(edges); k++ {
		if !(edges[k] > edges[k-1]) {
			return fmt.Errorf("%s: buckets of %s must be strictly increasing, got %v", path, column, edges)
		}
	}
	return nil
}

// ownOutcome says why a regression whose outcome is a column of node, the
// node the query goes to, cannot be evaluated there.
func ownOutcome(outcome aggregate.ColumnRef, node string) string {
	return fmt.Sprintf("the outcome %s of a regression is %s's own column: a regression's outcome is another owner's, so send the query to another owner's node", outcome, node)
}
