package aggregate

import (
	"errors"
	"math"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

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

// contingencyCells returns the count of every cell of a table and its
// chi-square test. The counts are released as they are (never suppressed,
// like every count); the test is post-processing of them.
func (c *Compiled) contingencyCells(t ctSpec, st, sig, dpSig []float64, base Cell, minGroupSize int) []Cell {
	xr, yr := c.xs[t.x].info.Ref.String(), c.ys[t.y].info.Ref.String()
	table := make([][]float64, len(t.cells))
	var out []Cell
	var total, cellSig float64
	for a, row := range t.cells {
		table[a] = make([]float64, len(row))
		for b, s := range row {
			v := st[s]
			table[a][b] = v
			total += v
			cellSig = math.Max(cellSig, sig[s])
			cell := base
			cell.Statistic, cell.X, cell.Y = CellCount, xr, yr
			cell.Group = "x=" + t.xLabels[a] + " y=" + t.yLabels[b]
			cell.Value, cell.N, cell.NoiseStd = v, v, dpSig[s]
			cell.CILow, cell.CIHigh = v-stats.Z95*sig[s], v+stats.Z95*sig[s]
			out = append(out, cell)
		}
	}
	chi := base
	chi.Statistic, chi.X, chi.Y, chi.N = CellChiSquare, xr, yr, total
	var res stats.ChiSquareResult
	chi = fillCell(chi, minGroupSize, func() (float64, float64, float64, float64, error) {
		var err error
		if res, err = stats.ChiSquare(table, cellSig); err != nil {
			return 0, 0, 0, 0, err
		}
		return res.AdjustedStatistic, 0, 0, chiSquareNoiseStd(table, cellSig) / res.NoiseFactor, nil
	})
	if !chi.Suppressed {
		chi.P = res.AdjustedP
	}
	return append(out, chi)
}

// chiSquareNoiseStd is the standard deviation independent N(0, σ²) noise
// on every cell gives Pearson's statistic, on the table as stats.ChiSquare
// reads it (negative cells clamped to 0, empty rows and columns left out):
// the first-order (delta) term σ²·Σ(∂χ²/∂O_ij)², with
//
//	χ² = N·Σ q − N,  q_kl = O_kl²/(R_k·C_l),
//	∂χ²/∂O_ij = Σq − 1 + N·(2·O_ij/(R_i·C_j) − Σ_l q_il/R_i − Σ_k q_kj/C_j),
//
// which vanishes under exact independence, plus the second-order term of
// the noise's own squares, which then dominates: Σ η_ij²/E_ij projected on
// the (r−1)(c−1) dimensions the margins leave, 2σ⁴·Σ(1/E_ij²)·DF/(r·c).
func chiSquareNoiseStd(table [][]float64, sigma float64) float64 {
	rows, cols := len(table), len(table[0])
	o := make([][]float64, rows)
	r, cs := make([]float64, rows), make([]float64, cols)
	for i, row := range table {
		o[i] = make([]float64, cols)
		for j, v := range row {
			o[i][j] = math.Max(v, 0)
			r[i] += o[i][j]
			cs[j] += o[i][j]
		}
	}
	var n, sumQ float64
	for _, v := range r {
		n += v
	}
	q := make([][]float64, rows)
	rowQ, colQ := make([]float64, rows), make([]float64, cols)
	for i := range o {
		q[i] = make([]float64, cols)
		for j := range o[i] {
			if r[i] > 0 && cs[j] > 0 {
				q[i][j] = o[i][j] * o[i][j] / (r[i] * cs[j])
				sumQ += q[i][j]
				rowQ[i] += q[i][j]
				colQ[j] += q[i][j]
			}
		}
	}
	var first, second float64
	keptR, keptC := 0, 0
	for i := range r {
		if r[i] > 0 {
			keptR++
		}
	}
	for j := range cs {
		if cs[j] > 0 {
			keptC++
		}
	}
	for i := range o {
		for j := range o[i] {
			if !(r[i] > 0 && cs[j] > 0) {
				continue
			}
			grad := sumQ - 1 + n*(2*o[i][j]/(r[i]*cs[j])-rowQ[i]/r[i]-colQ[j]/cs[j])
			first += grad * grad
			e := r[i] * cs[j] / n
			second += 1 / (e * e)
		}
	}
	df := float64((keptR - 1) * (keptC - 1))
	v := sigma*sigma*first + 2*math.Pow(sigma, 4)*second*df/float64(keptR*keptC)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // not reached on a table stats.ChiSquare accepted; keeps cells JSON-encodable
	}
	return math.Sqrt(v)
}
