package aggregate

import (
	"errors"
	"math"
	"strings"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// RegressionRequest asks for the least-squares fit, with intercept, of an
// uploader column on evaluator columns over the common records:
// Outcome = β_0 + Σ_j β_j·Predictors[j] + ε. The sufficient statistics are
// n, Σx_j, Σx_j·x_k (the evaluator multiplies its own products x_j·x_k with
// the uploaded membership), Σx_j·y, Σy and Σy². Every column is squared, so
// its encoded range must stay under 2^24.
type RegressionRequest struct {
	Outcome    ColumnRef   // in Request.Y
	Predictors []ColumnRef // in Request.X, distinct, 1 to MaxPredictors
}

// MaxPredictors bounds the predictors of one regression: XᵀX has
// p(p+1)/2 evaluator-side products, each one more multiplier.
const MaxPredictors = 16

// regSpec is one compiled RegressionRequest. Statistic indexes are in the
// shifted fixed-point units; xx is the upper triangle (j ≤ k).
type regSpec struct {
	outcome int   // index into Compiled.ys
	preds   []int // indexes into Compiled.xs
	label   string
	sumX    []int
	xx      [][]int
	sumY    int
	sumXY   []int
	sumY2   int
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
		g := regSpec{outcome: indexOf(r.Y, rg.Outcome)}
		y := c.ys[g.outcome]
		names := make([]string, len(rg.Predictors))
		for j, p := range rg.Predictors {
			g.preds = append(g.preds, indexOf(r.X, p))
			names[j] = p.String()
		}
		g.label = rg.Outcome.String() + " ~ " + strings.Join(names, " + ")
		g.sumY = cb.addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val)
		g.sumY2 = cb.addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq)
		g.xx = make([][]int, len(g.preds))
		for j, xj := range g.preds {
			a := c.xs[xj]
			g.sumX = append(g.sumX, cb.addStat("sum_x/"+a.info.Ref.Name, a.val, c.memberColumn))
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
					m = cb.addMult("xx/"+p.info.Ref.Name+"/"+q.info.Ref.Name, p.fp.Max()*q.fp.Max(), p.fp.FracBits+q.fp.FracBits)
					c.pairMult[[2]int{lo, hi}] = m
				}
				g.xx[j][k] = cb.addStat("sum_xx/"+c.xs[lo].info.Ref.Name+"/"+c.xs[hi].info.Ref.Name, m, c.memberColumn)
			}
		}
		c.regs = append(c.regs, g)
	}
}

// errIntercept reports that the intercept's variance could not be computed
// although the fit succeeded (XᵀX lost definiteness in the solve).
var errIntercept = errors.New("intercept variance: XᵀX not positive definite")

// regressionCells fits one regression on the decoded statistics.
//
// The fit runs on the shifted fixed-point values x'_j = a_j·(x_j − lo_j)
// and y' = b·(y − lo_y) (a_j = 2^F_j, b = 2^F_y), whose sums are exactly
// the released statistics, each with its own independent noise, which is
// what the DP sandwich of stats.OLS assumes. Back in value units the slopes
// are β_j = β'_j·a_j/b, a positive rescaling of their intervals, and R² is
// unchanged. The intercept is a combination of every shifted coefficient,
//
//	β_0 = lo_y + gᵀβ'/b,  g = (1, −a_1·lo_1, …, −a_p·lo_p),
//
// so its variance needs the covariance of β', not only the per-coefficient
// variances stats.OLS reports: olsCombinationVariance computes gᵀCov(β')g
// with the same sampling and first-order DP formulas.
func (c *Compiled) regressionCells(g regSpec, st, sig []float64, base Cell, minGroupSize int) []Cell {
	p := len(g.preds) + 1
	y := c.ys[g.outcome]
	n := st[c.statN]
	in := stats.OLSInput{N: n, XtX: make([][]float64, p), Xty: make([]float64, p), Yty: st[g.sumY2], Intercept: true}
	nz := stats.OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
	for i := range in.XtX {
		in.XtX[i], nz.XtX[i] = make([]float64, p), make([]float64, p)
	}
	set := func(i, j, s int) {
		in.XtX[i][j], in.XtX[j][i] = st[s], st[s]
		nz.XtX[i][j], nz.XtX[j][i] = sig[s], sig[s]
	}
	set(0, 0, c.statN)
	in.Xty[0], nz.Xty[0] = st[g.sumY], sig[g.sumY]
	for j := range g.preds {
		set(0, j+1, g.sumX[j])
		for k := j; k < len(g.preds); k++ {
			set(j+1, k+1, g.xx[j][k])
		}
		in.Xty[j+1], nz.Xty[j+1] = st[g.sumXY[j]], sig[g.sumXY[j]]
	}
	res, fitErr := stats.OLS(in, nz)
	unitY := math.Exp2(float64(y.fp.FracBits))
	scale := make([]float64, p) // a_j/b: shifted slope → value slope
	gv := make([]float64, p)
	gv[0] = 1
	for j, xi := range g.preds {
		x := c.xs[xi]
		a := math.Exp2(float64(x.fp.FracBits))
		scale[j+1] = a / unitY
		gv[j+1] = -a * x.fp.Lo
	}
	beta := make([]float64, p)
	if fitErr == nil {
		for j := range beta {
			beta[j] = res.Coef[j].Value
		}
	}

	cell := base
	cell.Y, cell.Group, cell.N = y.info.Ref.String(), g.label, n
	var out []Cell
	intercept := cell
	intercept.Statistic = CellOLSIntercept
	out = append(out, fillCell(intercept, minGroupSize, func() (float64, float64, float64, float64, error) {
		if fitErr != nil {
			return 0, 0, 0, 0, fitErr
		}
		samp, dpv, err := olsCombinationVariance(in.XtX, nz, beta, res.Sigma2, gv)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		var gb float64
		for j := range gv {
			gb += gv[j] * beta[j]
		}
		v := y.fp.Lo + gb/unitY
		se := math.Sqrt(samp+dpv) / unitY
		return v, v - stats.Z95*se, v + stats.Z95*se, math.Sqrt(dpv) / unitY, nil
	}))
	for j, xi := range g.preds {
		coef := cell
		coef.Statistic, coef.X = CellOLSCoef, c.xs[xi].info.Ref.String()
		out = append(out, fillCell(coef, minGroupSize, func() (float64, float64, float64, float64, error) {
			if fitErr != nil {
				return 0, 0, 0, 0, fitErr
			}
			e, f := res.Coef[j+1], scale[j+1]
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

// olsCombinationVariance returns the sampling and the first-order DP
// variance of gᵀβ for the least-squares β of XᵀX = a (symmetric, full):
// σ̂²·gᵀa⁻¹g and vᵀ(diag σ_b² + M)v with v = a⁻¹g and M the covariance of
// dA·β for symmetric noise drawn once per distinct entry (the sandwich of
// stats.OLS, whose diagonal it reproduces for g a unit vector).
func olsCombinationVariance(a [][]float64, nz stats.OLSNoise, beta []float64, sigma2 float64, g []float64) (samp, dp float64, err error) {
	p := len(g)
	// Solve a v = g on a scaled to unit diagonal, as stats.OLS factors it.
	d := make([]float64, p)
	for i := range d {
		if !(a[i][i] > 0) {
			return 0, 0, errIntercept
		}
		d[i] = 1 / math.Sqrt(a[i][i])
	}
	l := make([][]float64, p)
	for i := range l {
		l[i] = make([]float64, p)
	}
	for j := 0; j < p; j++ {
		s := 1.0 // scaled diagonal
		for k := 0; k < j; k++ {
			s -= l[j][k] * l[j][k]
		}
		if !(s > 0) {
			return 0, 0, errIntercept
		}
		l[j][j] = math.Sqrt(s)
		for i := j + 1; i < p; i++ {
			t := a[i][j] * d[i] * d[j]
			for k := 0; k < j; k++ {
				t -= l[i][k] * l[j][k]
			}
			l[i][j] = t / l[j][j]
		}
	}
	w := make([]float64, p)
	for i := 0; i < p; i++ { // L u = D g
		t := d[i] * g[i]
		for k := 0; k < i; k++ {
			t -= l[i][k] * w[k]
		}
		w[i] = t / l[i][i]
	}
	for i := p - 1; i >= 0; i-- { // Lᵀ w = u
		t := w[i]
		for k := i + 1; k < p; k++ {
			t -= l[k][i] * w[k]
		}
		w[i] = t / l[i][i]
	}
	v := make([]float64, p)
	for i := range v {
		v[i] = d[i] * w[i]
		samp += g[i] * v[i]
	}
	samp *= sigma2
	sq := func(x float64) float64 { return x * x }
	for i := 0; i < p; i++ {
		mid := sq(nz.Xty[i])
		for k := 0; k < p; k++ {
			mid += sq(beta[k] * nz.XtX[i][k])
		}
		dp += v[i] * mid * v[i]
		for j := 0; j < p; j++ {
			if j != i {
				dp += v[i] * beta[i] * beta[j] * sq(nz.XtX[i][j]) * v[j]
			}
		}
	}
	if math.IsNaN(samp) || math.IsNaN(dp) {
		return 0, 0, errIntercept
	}
	return math.Max(samp, 0), math.Max(dp, 0), nil
}
