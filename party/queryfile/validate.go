package queryfile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// Validate checks that req is a joint request target can evaluate, by the
// rules of a query file: it selects something and costs a positive ε
// unless exact; its x columns are target.Node's own, each once; its y
// columns are one other owner's, or the declared pool's, each once; every
// column is used by a statistic (a correlation set counts); a
// regression's outcome is a y column (its predictors either); bucket edges
// are strictly increasing (none for a categorical column);
// and a pool has two or more other owners, each once, and a name no owner
// has. target.Owners must include target.Node.
func Validate(req party.JointRequest, target Target) error {
	v := validator{target: target}
	if !req.Correlations && len(req.Rates) == 0 && len(req.Regressions) == 0 && len(req.Contingencies) == 0 {
		return v.errorf("selects nothing")
	}
	if !req.Exact && !(req.Epsilon > 0) {
		return v.errorf("epsilon %v is not positive in a query that is not exact", req.Epsilon)
	}
	if p := req.Pool; p != nil {
		if slices.Contains(target.Owners, p.Name) || p.Name == target.Node {
			return v.errorf("pool %q has the name of a node", p.Name)
		}
		if len(p.Owners) < 2 {
			return v.errorf("pool %q has %d owners, not two or more", p.Name, len(p.Owners))
		}
		for k, o := range p.Owners {
			if !slices.Contains(target.Owners, o) || o == target.Node || slices.Contains(p.Owners[:k], o) {
				return v.errorf("pool %q: %q is not another data owner, or is listed twice", p.Name, o)
			}
		}
	}
	if len(req.X) == 0 || len(req.Y) == 0 {
		return v.errorf("%d x and %d y columns; a query needs both", len(req.X), len(req.Y))
	}
	for k, x := range req.X {
		if err := v.ref(x); err != nil {
			return err
		}
		if x.Owner != target.Node || !slices.Contains(target.Columns, x.Name) {
			return v.errorf("x column %s is not a column of %s", x, target.Node)
		}
		if slices.Contains(req.X[:k], x) {
			return v.errorf("x column %s is listed twice", x)
		}
	}
	yOwner := req.Y[0].Owner
	switch {
	case req.Pool != nil && yOwner != req.Pool.Name:
		return v.errorf("y column %s is not the pool %q's", req.Y[0], req.Pool.Name)
	case req.Pool == nil && (yOwner == target.Node || !slices.Contains(target.Owners, yOwner)):
		return v.errorf("y column %s is not another data owner's", req.Y[0])
	}
	for k, y := range req.Y {
		if err := v.ref(y); err != nil {
			return err
		}
		if y.Owner != yOwner {
			return v.errorf("y columns of %s and %s", yOwner, y.Owner)
		}
		if slices.Contains(req.Y[:k], y) {
			return v.errorf("y column %s is listed twice", y)
		}
	}
	return v.statistics(req)
}

// validator names the target in its errors.
type validator struct{ target Target }

func (v validator) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: query to %s: %s", ErrInvalid, v.target.Node, fmt.Sprintf(format, args...))
}

// ref checks the form of a column reference: owner.column, neither empty
// nor with a dot in the column.
func (v validator) ref(r aggregate.ColumnRef) error {
	if r.Owner == "" || r.Name == "" || strings.Contains(r.Owner, ".") || strings.Contains(r.Name, ".") {
		return v.errorf("column %q is not owner.column", r.Owner+"."+r.Name)
	}
	return nil
}

// statistics checks that every statistic names columns of the request,
// with increasing bucket edges, and that every column is used by one.
func (v validator) statistics(req party.JointRequest) error {
	used := map[aggregate.ColumnRef]bool{}
	use := func(what string, refs ...aggregate.ColumnRef) error {
		for _, r := range refs {
			if !slices.Contains(req.X, r) && !slices.Contains(req.Y, r) {
				return v.errorf("%s names %s, which is neither an x nor a y column", what, r)
			}
			used[r] = true
		}
		return nil
	}
	edges := func(what string, e []float64) error {
		for k := 1; k < len(e); k++ {
			if !(e[k] > e[k-1]) {
				return v.errorf("bucket edges of %s are not strictly increasing: %v", what, e)
			}
		}
		return nil
	}
	for _, r := range req.Rates {
		if err := use("a rate", r.Events, r.Exposure, r.By); err != nil {
			return err
		}
		if err := edges("the rate by "+r.By.String(), r.Edges); err != nil {
			return err
		}
	}
	for _, r := range req.Regressions {
		if len(r.Predictors) == 0 {
			return v.errorf("the regression of %s has no predictors", r.Outcome)
		}
		if err := use("a regression", append([]aggregate.ColumnRef{r.Outcome}, r.Predictors...)...); err != nil {
			return err
		}
		if !slices.Contains(req.Y, r.Outcome) {
			return v.errorf("%s", ownOutcome(r.Outcome, v.target.Node))
		}
	}
	for _, c := range req.Contingencies {
		if err := use("a contingency table", c.X, c.Y); err != nil {
			return err
		}
		if err := edges("the contingency table's "+c.X.String(), c.XEdges); err != nil {
			return err
		}
		if err := edges("the contingency table's "+c.Y.String(), c.YEdges); err != nil {
			return err
		}
	}
	if !req.Correlations && len(req.CorrelationX)+len(req.CorrelationY) > 0 {
		return v.errorf("correlation columns without correlations")
	}
	if by := req.CorrelationBy; by != (aggregate.ColumnRef{}) {
		if !req.Correlations {
			return v.errorf("correlations grouped by %s without correlations", by)
		}
		if slices.Contains(req.CorrelationX, by) || slices.Contains(req.CorrelationY, by) {
			return v.errorf("%s groups the correlations and is one of their columns", by)
		}
		if err := use("the correlations' grouping", by); err != nil {
			return err
		}
		if err := edges("the correlations by "+by.String(), req.CorrelationEdges); err != nil {
			return err
		}
	} else if len(req.CorrelationEdges) > 0 {
		return v.errorf("correlation buckets without a column to group by")
	}
	if req.Correlations && len(req.CorrelationX)+len(req.CorrelationY) == 0 {
		return nil // every x × y pair is used
	}
	for _, r := range req.CorrelationX {
		if !slices.Contains(req.X, r) {
			return v.errorf("correlation column %s is not an x column", r)
		}
		used[r] = true
	}
	for _, r := range req.CorrelationY {
		if !slices.Contains(req.Y, r) {
			return v.errorf("correlation column %s is not a y column", r)
		}
		used[r] = true
	}
	for _, r := range append(slices.Clone(req.X), req.Y...) {
		if !used[r] {
			return v.errorf("column %s is used by no statistic", r)
		}
	}
	return nil
}
