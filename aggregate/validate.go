package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/crypto/dp"
)

// validate checks the request (columns, owners, bounds, buckets, ε and δ)
// and fills its defaults, before anything is built.
func (c *Compiled) validate() error {
	r := &c.req
	if len(r.X) == 0 {
		return fmt.Errorf("%w: no evaluator (X) columns selected", ErrInvalidQuery)
	}
	if len(r.Y) == 0 {
		return fmt.Errorf("%w: no uploader (Y) columns selected", ErrInvalidQuery)
	}
	if r.Owners == 0 {
		r.Owners = QueryParties
	}
	if r.KeyHolders == 0 {
		r.KeyHolders = r.Owners
	}
	if r.Owners < 2 || r.Owners > maxOwners || r.KeyHolders < r.Owners || r.KeyHolders > maxOwners {
		return fmt.Errorf("%w: %d owners and %d key holders (want 2 <= owners <= key holders <= %d)", ErrInvalidQuery, r.Owners, r.KeyHolders, maxOwners)
	}
	if !r.Correlations && len(r.Rates) == 0 && len(r.Regressions) == 0 && len(r.Contingencies) == 0 {
		return fmt.Errorf("%w: no statistic requested (correlations, rates, regressions or contingency tables)", ErrInvalidQuery)
	}
	if !r.Exact {
		// The ranges first: nothing below may run on an ε or δ outside them.
		if err := dp.CheckBudget(r.Epsilon, r.Delta); err != nil {
			return fmt.Errorf("%w: privacy cost: %w", ErrInvalidQuery, err)
		}
		rho, err := dp.ZCDPRho(r.Epsilon, r.Delta)
		if err != nil {
			return fmt.Errorf("%w: privacy cost: %w", ErrInvalidQuery, err)
		}
		// The conversion costs tens of milliseconds: once. SizeRhoShare
		// of it pads the session sizes (padding.go).
		c.noise.rho = rho * (1 - SizeRhoShare)
	}
	side := func(kind string, cols []ColumnInfo) error {
		seen := map[string]bool{}
		for _, ci := range cols {
			if ci.Ref.Owner == "" || ci.Ref.Name == "" {
				return fmt.Errorf("%w: %s column %q needs an owner and a name", ErrInvalidQuery, kind, ci.Ref)
			}
			if ci.Ref.Owner != cols[0].Ref.Owner {
				return fmt.Errorf("%w: %s column %q is not from owner %q; each side has one owner", ErrInvalidQuery, kind, ci.Ref, cols[0].Ref.Owner)
			}
			if seen[ci.Ref.Name] {
				return fmt.Errorf("%w: duplicate %s column %q", ErrInvalidQuery, kind, ci.Ref)
			}
			seen[ci.Ref.Name] = true
			if math.IsNaN(ci.Lo) || math.IsNaN(ci.Hi) || math.IsInf(ci.Lo, 0) || math.IsInf(ci.Hi, 0) {
				return fmt.Errorf("%w: column %q bounds are not finite", ErrInvalidQuery, ci.Ref)
			}
			if !(ci.Lo < ci.Hi) {
				return fmt.Errorf("%w: column %q needs lo < hi", ErrInvalidQuery, ci.Ref)
			}
			if err := checkLevels(ci); err != nil {
				return err
			}
			if math.IsNaN(ci.Step) || math.IsInf(ci.Step, 0) || ci.Step < 0 {
				return fmt.Errorf("%w: column %q: step must be a positive number, or 0 for none", ErrInvalidQuery, ci.Ref)
			}
		}
		return nil
	}
	if err := side("X", r.X); err != nil {
		return err
	}
	if err := side("Y", r.Y); err != nil {
		return err
	}
	if r.X[0].Ref.Owner == r.Y[0].Ref.Owner {
		return fmt.Errorf("%w: X and Y both from owner %q", ErrInvalidQuery, r.X[0].Ref.Owner)
	}
	usedX, usedY := map[ColumnRef]bool{}, map[ColumnRef]bool{}
	if err := c.correlationSets(usedX, usedY); err != nil {
		return err
	}
	// edgesInside checks the buckets of a group-by column.
	edgesInside := func(what string, i int, ci ColumnInfo, edges []float64) error {
		if _, _, err := grouping(ci, edges); err != nil {
			return fmt.Errorf("%w: %s %d: %w", ErrInvalidQuery, what, i, err)
		}
		return nil
	}
	for i, rr := range r.Rates {
		xi, yi := indexOf(r.X, rr.By), indexOf(r.Y, rr.Events)
		bi := indexOf(r.Y, rr.By)
		if xi < 0 && bi < 0 {
			return fmt.Errorf("%w: rate %d: group-by column %q is neither an X nor a Y column", ErrInvalidQuery, i, rr.By)
		}
		if yi < 0 {
			return fmt.Errorf("%w: rate %d: events column %q is not a Y column", ErrInvalidQuery, i, rr.Events)
		}
		ei := indexOf(r.Y, rr.Exposure)
		if ei < 0 {
			return fmt.Errorf("%w: rate %d: exposure column %q is not a Y column", ErrInvalidQuery, i, rr.Exposure)
		}
		if r.Y[yi].Lo < 0 || r.Y[ei].Lo < 0 {
			return fmt.Errorf("%w: rate %d: events %q and exposure %q need lo >= 0", ErrInvalidQuery, i, rr.Events, rr.Exposure)
		}
		by := ColumnInfo{}
		if xi >= 0 {
			by = r.X[xi]
			usedX[rr.By] = true
		} else {
			by = r.Y[bi]
			usedY[rr.By] = true
		}
		if err := edgesInside("rate", i, by, rr.Edges); err != nil {
			return err
		}
		if _, _, err := ratePer(r.Y[ei], rr.Per); err != nil {
			return fmt.Errorf("%w: rate %d: %w", ErrInvalidQuery, i, err)
		}
		usedY[rr.Events], usedY[rr.Exposure] = true, true
	}
	for i, rg := range r.Regressions {
		if indexOf(r.Y, rg.Outcome) < 0 {
			if indexOf(r.X, rg.Outcome) >= 0 {
				return fmt.Errorf("%w: regression %d: outcome %q is an X column; the outcome must be the uploader's (Y)", ErrInvalidQuery, i, rg.Outcome)
			}
			return fmt.Errorf("%w: regression %d: outcome %q is not a Y column", ErrInvalidQuery, i, rg.Outcome)
		}
		usedY[rg.Outcome] = true
		if rg.NoIntercept && !r.Exact {
			// Under noise the released sums must be those of the values
			// themselves: moving them to the origin would correlate their
			// noise, which the intervals could not account for.
			for _, ref := range append([]ColumnRef{rg.Outcome}, rg.Predictors...) {
				if ci, ok := findColumn(r, ref); ok && ci.Lo != 0 {
					return fmt.Errorf("%w: regression %d through the origin: column %q needs lo = 0 under DP noise", ErrInvalidQuery, i, ref)
				}
			}
		}
		if len(rg.Predictors) == 0 {
			return fmt.Errorf("%w: regression %d of %q: no predictors", ErrInvalidQuery, i, rg.Outcome)
		}
		seen := map[ColumnRef]bool{}
		for _, p := range rg.Predictors {
			switch {
			case p == rg.Outcome:
				return fmt.Errorf("%w: regression %d: %q is both the outcome and a predictor", ErrInvalidQuery, i, p)
			case indexOf(r.X, p) >= 0:
				usedX[p] = true
			case indexOf(r.Y, p) >= 0:
				usedY[p] = true
			default:
				return fmt.Errorf("%w: regression %d: predictor %q is not a column of the query", ErrInvalidQuery, i, p)
			}
			if seen[p] {
				return fmt.Errorf("%w: regression %d: duplicate predictor %q", ErrInvalidQuery, i, p)
			}
			seen[p] = true
		}
		if n := regressionTerms(r, rg); n > MaxPredictors {
			return fmt.Errorf("%w: regression %d of %q: %d terms (a categorical predictor is one per level but the first), at most %d", ErrInvalidQuery, i, rg.Outcome, n, MaxPredictors)
		}
	}
	for i, ct := range r.Contingencies {
		xi, yi := indexOf(r.X, ct.X), indexOf(r.Y, ct.Y)
		if xi < 0 {
			return fmt.Errorf("%w: contingency %d: column %q is not an X column", ErrInvalidQuery, i, ct.X)
		}
		if yi < 0 {
			return fmt.Errorf("%w: contingency %d: column %q is not a Y column", ErrInvalidQuery, i, ct.Y)
		}
		if err := edgesInside("contingency", i, r.X[xi], ct.XEdges); err != nil {
			return err
		}
		if err := edgesInside("contingency", i, r.Y[yi], ct.YEdges); err != nil {
			return err
		}
		if (len(ct.XEdges)+1)*(len(ct.YEdges)+1) > MaxContingencyCells {
			return fmt.Errorf("%w: contingency %d of %q by %q: more than %d cells", ErrInvalidQuery, i, ct.X, ct.Y, MaxContingencyCells)
		}
		usedX[ct.X], usedY[ct.Y] = true, true
	}
	if err := c.validateProxies(usedX, usedY); err != nil {
		return err
	}
	// Every selected column must feed a statistic.
	for _, ci := range r.X {
		if !usedX[ci.Ref] {
			return fmt.Errorf("%w: X column %q is used by no statistic", ErrInvalidQuery, ci.Ref)
		}
	}
	for _, ci := range r.Y {
		if !usedY[ci.Ref] {
			return fmt.Errorf("%w: Y column %q is used by no statistic", ErrInvalidQuery, ci.Ref)
		}
	}
	return nil
}

// findColumn returns the X or Y column ref of r.
func findColumn(r *Request, ref ColumnRef) (ColumnInfo, bool) {
	if i := indexOf(r.X, ref); i >= 0 {
		return r.X[i], true
	}
	if i := indexOf(r.Y, ref); i >= 0 {
		return r.Y[i], true
	}
	return ColumnInfo{}, false
}

func indexOf(cols []ColumnInfo, ref ColumnRef) int {
	for i, ci := range cols {
		if ci.Ref == ref {
			return i
		}
	}
	return -1
}
