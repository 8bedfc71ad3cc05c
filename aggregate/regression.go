package aggregate

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// RegressionRequest asks for the least-squares fit, with intercept, of an
// uploader column on evaluator columns over the common records:
// Outcome = β_0 + Σ_j β_j·Predictors[j] + ε. The sufficient statistics are
// n, Σx_j, Σx_j·x_k (the evaluator multiplies its own products x_j·x_k with
// the uploaded membership), Σx_j·y, Σy and Σy². The predictors' squares and
// products are multipliers, so their encoded ranges must stay under 2^24;
// the outcome's square is uploaded, in two digit columns when it is wider
// (square.go).
type RegressionRequest struct {
	Outcome    ColumnRef   // in Request.Y
	Predictors []ColumnRef // in Request.X, distinct, 1 to MaxPredictors
	// NoIntercept fits through the origin, Outcome = Σ_j β_j·Predictors[j]
	// + ε, with the uncentred R² = 1 − RSS/Σy². Under DP noise the
	// outcome and the predictors must have lo = 0, so that the released
	// sums are those of the values themselves (in exact mode the querier
	// moves them to the origin exactly).
	NoIntercept bool
}

// MaxPredictors bounds the predictors of one regression: XᵀX has
// p(p+1)/2 evaluator-side products, each one more multiplier.
const MaxPredictors = 16

// regSpec is one compiled RegressionRequest. Statistic indexes are in the
// shifted fixed-point units; xx is the upper triangle (j ≤ k).
type regSpec struct {
	outcome   int   // index into Compiled.ys
	preds     []int // indexes into Compiled.xs
	intercept bool
	label     string
	// sumX and sumY are nil and −1 for a fit through the origin under DP
	// noise, which does not need them.
	sumX  []int
	xx    [][]int
	sumY  int
	sumXY []int
	sumY2 int
}

// regressions marks the outcome's value and square and each predictor's
// value for laying out.
func (n columnNeeds) regressions(r Request) {
	for _, rg := range r.Regressions {
		j := indexOf(r.Y, rg.Outcome)
		n.yVal[j], n.ySq[j] = true, true
		for _, p := range rg.Predictors {
			n.xVal[indexOf(r.X, p)] = true
		}
	}
}

// regressions adds, per regression, Σy, Σy², and per predictor Σx, Σxy and
// the upper triangle of XᵀX, with one evaluator multiplier per product of
// two distinct predictors.
func (cb *circuitBuilder) regressions() {
	c, r := cb.c, cb.c.req
	c.pairMult = map[[2]int]int{}
	for _, rg := range r.Regressions {
		g := regSpec{outcome: indexOf(r.Y, rg.Outcome), intercept: !rg.NoIntercept, sumY: -1}
		y := c.ys[g.outcome]
		names := make([]string, len(rg.Predictors))
		for j, p := range rg.Predictors {
			g.preds = append(g.preds, indexOf(r.X, p))
			names[j] = p.String()
		}
		g.label = rg.Outcome.String() + " ~ " + strings.Join(names, " + ")
		if !g.intercept {
			g.label = rg.Outcome.String() + " ~ 0 + " + strings.Join(names, " + ")
		}
		// Exact mode moves the sums of a fit through the origin from the
		// shifted encoding back to the origin, which needs Σx and Σy.
		sums := g.intercept || r.Exact
		if sums {
			g.sumY = cb.addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val)
		}
		g.sumY2 = cb.addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq)
		g.xx = make([][]int, len(g.preds))
		for j, xj := range g.preds {
			a := c.xs[xj]
			if sums {
				g.sumX = append(g.sumX, cb.addStat("sum_x/"+a.info.Ref.Name, a.val, c.memberColumn))
			}
			g.sumXY = append(g.sumXY, cb.addStat("sum_xy/"+a.info.Ref.Name+"/"+y.info.Ref.Name, a.val, y.val))
			g.xx[j] = make([]int, len(g.preds))
			for k := j; k < len(g.preds); k++ {
				if k == j {
					g.xx[j][k] = cb.addStat("sum_x2/"+a.info.Ref.Name, a.sq, c.memberColumn)
					continue
				}
				// x_j·x_k, both the evaluator's: its own product, in a
				// canonical order so two regressions share it.
				lo, hi := min(xj, g.preds[k]), max(xj, g.preds[k])
				m, ok := c.pairMult[[2]int{lo, hi}]
				if !ok {
					p, q := c.xs[lo], c.xs[hi]
					m = cb.addMult("xx/"+p.info.Ref.Name+"/"+q.info.Ref.Name, p.fp.Max()*q.fp.Max(), p.fp.Unit()*q.fp.Unit())
					c.pairMult[[2]int{lo, hi}] = m
				}
				g.xx[j][k] = cb.addStat("sum_xx/"+c.xs[lo].info.Ref.Name+"/"+c.xs[hi].info.Ref.Name, m, c.memberColumn)
			}
		}
		c.regs = append(c.regs, g)
	}
}

// regressionCells fits one regression on the decoded statistics.
//
// The fit runs on the shifted fixed-point values x'_j = a_j·(x_j − lo_j)
// and y' = b·(y − lo_y) (a = 1/FixedPoint.Unit: 2^F, or 1/step), whose sums
// are exactly the released statistics, each with its own independent noise,
// which is what the DP sandwich of stats.OLS assumes; stats.OLS centres them
// exactly, so the shift costs no precision. Back in value units the slopes
// are β_j = β'_j·a_j/b, a positive rescaling of their intervals, and R² is
// unchanged. The intercept is the fitted value at the origin of the value
// units, β_0 = ȳ − Σ_j β_j·x̄_j, computed from the means in value units in
// rational arithmetic so that no bound moves its digits; its variance is
// that of the shifted fit's prediction at that point, whose offset from
// the shifted means is d_j = −a_j·x̄_j (stats.OLSResult.PredictionVariance),
// divided by b².
//
// A fit through the origin runs on x'_j + a_j·lo_j, the values in units of
// their grid (exactOLS; under DP noise lo = 0 and the released sums are
// those). An exact release is fitted from its integers (stats.OLSExact).
func (c *Compiled) regressionCells(g regSpec, r released, sig []float64, base Cell, minGroupSize int) []Cell {
	st := r.v
	off := 0 // index of the first slope
	if g.intercept {
		off = 1
	}
	p := len(g.preds) + off
	y := c.ys[g.outcome]
	n := st[c.statN]
	var res stats.OLSResult
	var fitErr error
	if r.x == nil {
		res, fitErr = stats.OLS(c.olsInput(g, st, sig))
	} else {
		res, fitErr = c.exactOLS(g, r)
	}
	uY := y.fp.Unit()
	scale := make([]float64, p) // a_j/b: shifted slope → value slope
	for j, xi := range g.preds {
		scale[j+off] = uY / c.xs[xi].fp.Unit()
	}

	cell := base
	cell.Y, cell.Group, cell.N = y.info.Ref.String(), g.label, n
	if fitErr == nil {
		cell.Condition = res.Cond
		if res.Cond > stats.WarnCondition {
			cell.Warning = fmt.Sprintf("ill-conditioned: the predictors' condition number %.2g exceeds %g, so any error in the data moves the coefficients by up to that many times as much", res.Cond, stats.WarnCondition)
		}
	}
	var out []Cell
	if g.intercept {
		intercept := cell
		intercept.Statistic = CellOLSIntercept
		out = append(out, fillCell(intercept, minGroupSize, func() (float64, float64, float64, float64, error) {
			if fitErr != nil {
				return 0, 0, 0, 0, fitErr
			}
			v, d := c.valueIntercept(g, r, res, scale)
			samp, dpv, err := res.PredictionVariance(d)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			se := math.Sqrt(samp+dpv) * uY
			return v, v - stats.Z95*se, v + stats.Z95*se, math.Sqrt(dpv) * uY, nil
		}))
	}
	for j, xi := range g.preds {
		coef := cell
		coef.Statistic, coef.X = CellOLSCoef, c.xs[xi].info.Ref.String()
		out = append(out, fillCell(coef, minGroupSize, func() (float64, float64, float64, float64, error) {
			if fitErr != nil {
				return 0, 0, 0, 0, fitErr
			}
			e, f := res.Coef[j+off], scale[j+off]
			return e.Value * f, e.Lo * f, e.Hi * f, e.NoiseSE * f, nil
		}))
	}
	r2 := cell
	r2.Statistic = CellR2
	out = append(out, fillCell(r2, minGroupSize, func() (float64, float64, float64, float64, error) {
		return res.R2, 0, 0, 0, fitErr
	}))
	return out
}

// olsInput returns the normal equations of g from the float64 statistics
// and their noise: with an intercept, column 0 is the count and the sums.
func (c *Compiled) olsInput(g regSpec, st, sig []float64) (stats.OLSInput, stats.OLSNoise) {
	off := 0
	if g.intercept {
		off = 1
	}
	p := len(g.preds) + off
	in := stats.OLSInput{N: st[c.statN], XtX: make([][]float64, p), Xty: make([]float64, p), Yty: st[g.sumY2], Intercept: g.intercept}
	nz := stats.OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
	for i := range in.XtX {
		in.XtX[i], nz.XtX[i] = make([]float64, p), make([]float64, p)
	}
	set := func(i, j, s int) {
		in.XtX[i][j], in.XtX[j][i] = st[s], st[s]
		nz.XtX[i][j], nz.XtX[j][i] = sig[s], sig[s]
	}
	if g.intercept {
		set(0, 0, c.statN)
		in.Xty[0], nz.Xty[0] = st[g.sumY], sig[g.sumY]
	}
	for j := range g.preds {
		if g.intercept {
			set(0, j+1, g.sumX[j])
		}
		for k := j; k < len(g.preds); k++ {
			set(j+off, k+off, g.xx[j][k])
		}
		in.Xty[j+off], nz.Xty[j+off] = st[g.sumXY[j]], sig[g.sumXY[j]]
	}
	return in, nz
}

// valueIntercept returns the intercept in value units, ȳ − Σ_j β_j·x̄_j with
// the means ȳ = lo_y + Σy'/(n·b) and x̄_j = lo_j + Σx'_j/(n·a_j) and the
// value slopes β_j = β'_j·scale_j, in rational arithmetic and rounded once,
// and the offset d_j = −a_j·x̄_j of the value origin from the shifted means.
func (c *Compiled) valueIntercept(g regSpec, r released, res stats.OLSResult, scale []float64) (float64, []float64) {
	rat := func(v float64) *big.Rat { return new(big.Rat).SetFloat64(v) }
	n := r.rat(c.statN)
	mean := func(fp FixedPoint, sum int) *big.Rat {
		m := new(big.Rat).Quo(r.rat(sum), n)
		m.Mul(m, rat(fp.Unit()))
		return m.Add(m, rat(fp.Lo))
	}
	v := mean(c.ys[g.outcome].fp, g.sumY)
	d := make([]float64, len(g.preds))
	t := new(big.Rat)
	for j, xi := range g.preds {
		fp := c.xs[xi].fp
		xm := mean(fp, g.sumX[j])
		v.Sub(v, t.Mul(xm, rat(res.Coef[j+1].Value*scale[j+1])))
		d[j], _ = t.Quo(xm, rat(-fp.Unit())).Float64()
	}
	out, _ := v.Float64()
	return out, d
}

// errWithheld is the reason of the cells of a regression some of whose
// statistics stage two withheld.
var errWithheld = errors.New("statistics withheld below min_group_size")

// origin returns lo/Unit, the encoding of the value 0 on a column's grid
// relative to its lower bound: x/u = x' + origin. A declared step has lo
// on its grid, so it is the integer lo/step.
func origin(fp FixedPoint) *big.Rat {
	if fp.Step > 0 {
		return new(big.Rat).SetFloat64(math.Round(fp.Lo / fp.Step))
	}
	o := new(big.Rat).SetFloat64(fp.Lo)
	return o.Mul(o, new(big.Rat).SetFloat64(math.Exp2(float64(fp.FracBits))))
}

// exactOLS fits regression g from the exact statistics of r. A fit through
// the origin first moves the sums to it: with z_j = x'_j + o_j and
// w = y' + o_y (origin), Σz_j·z_k = Σx'_j·x'_k + o_k·Σx'_j + o_j·Σx'_k +
// o_j·o_k·n, and Σz_j·w, Σw² likewise, all exactly.
func (c *Compiled) exactOLS(g regSpec, r released) (stats.OLSResult, error) {
	ids := []int{c.statN, g.sumY2}
	if g.sumY >= 0 {
		ids = append(ids, g.sumY)
	}
	ids = append(ids, g.sumX...)
	ids = append(ids, g.sumXY...)
	for _, row := range g.xx {
		for _, s := range row {
			if s >= 0 {
				ids = append(ids, s)
			}
		}
	}
	if r.exact(ids...) == nil {
		return stats.OLSResult{}, errWithheld
	}
	rat := func(s int) *big.Rat { return new(big.Rat).SetInt(r.x[s]) }
	off := 0
	if g.intercept {
		off = 1
	}
	p := len(g.preds) + off
	in := stats.OLSExactInput{N: rat(c.statN), XtX: make([][]*big.Rat, p), Xty: make([]*big.Rat, p), Yty: rat(g.sumY2), Intercept: g.intercept}
	for i := range in.XtX {
		in.XtX[i] = make([]*big.Rat, p)
	}
	set := func(i, j int, v *big.Rat) { in.XtX[i][j], in.XtX[j][i] = v, v }
	if g.intercept {
		set(0, 0, rat(c.statN))
		in.Xty[0] = rat(g.sumY)
		for j := range g.preds {
			set(0, j+1, rat(g.sumX[j]))
		}
	}
	for j := range g.preds {
		for k := j; k < len(g.preds); k++ {
			set(j+off, k+off, rat(g.xx[j][k]))
		}
		in.Xty[j+off] = rat(g.sumXY[j])
	}
	if !g.intercept {
		n := in.N
		// moved returns Σ(a + o_a)(b + o_b) from Σab, Σa, Σb and n.
		moved := func(ab *big.Rat, sa, sb *big.Rat, oa, ob *big.Rat) *big.Rat {
			out := new(big.Rat).Set(ab)
			t := new(big.Rat)
			out.Add(out, t.Mul(ob, sa))
			out.Add(out, t.Mul(oa, sb))
			return out.Add(out, t.Mul(t.Mul(oa, ob), n))
		}
		oy := origin(c.ys[g.outcome].fp)
		sy := rat(g.sumY)
		ox := make([]*big.Rat, len(g.preds))
		sx := make([]*big.Rat, len(g.preds))
		for j, xi := range g.preds {
			ox[j], sx[j] = origin(c.xs[xi].fp), rat(g.sumX[j])
		}
		for j := range g.preds {
			for k := j; k < len(g.preds); k++ {
				set(j, k, moved(in.XtX[j][k], sx[j], sx[k], ox[j], ox[k]))
			}
			in.Xty[j] = moved(in.Xty[j], sx[j], sy, ox[j], oy)
		}
		in.Yty = moved(in.Yty, sy, sy, oy, oy)
	}
	return stats.OLSExact(in)
}
