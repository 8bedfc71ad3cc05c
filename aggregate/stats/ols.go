package stats

import (
	"fmt"
	"math"
	"math/big"
)

// MaxCondition is the largest condition number OLS accepts: the 1-norm
// condition number of the predictors' cross-product matrix, centred (with
// an intercept) and scaled to unit diagonal, which measures how nearly
// collinear the predictors are and not their units or their distance from
// zero. Beyond it even the refined solve (spd.go) cannot promise a single
// correct digit, and predictors that collinear say nothing apart.
const MaxCondition = 1e12

// WarnCondition is the condition number (as MaxCondition) above which a fit
// should carry a warning: a plain float64 solve of the same sums would keep
// fewer than 10 of its 16 digits, and any error in the data, the rounding
// of a value to its column's grid or the DP noise, moves the coefficients
// by up to that many times its relative size. OLS still solves such a
// system to full precision; the warning is about what the data can say.
const WarnCondition = 1e6

// OLSInput holds the noisy sufficient statistics of a least-squares
// regression of y on the p columns of X.
type OLSInput struct {
	// N is the (noisy) number of observations.
	N float64
	// XtX is the p×p matrix XᵀX. Only its upper triangle is read; the
	// released statistic is symmetric with one noise draw per distinct entry.
	XtX [][]float64
	// Xty is the p-vector Xᵀy.
	Xty []float64
	// Yty is yᵀy.
	Yty float64
	// Intercept says column 0 of X is all ones, so XtX[0][0] is the count,
	// XtX[0][j] = Σx_j, Xty[0] = Σy, and R² is the usual centred one;
	// without it R² is the uncentred 1 − RSS/yᵀy.
	Intercept bool
}

// OLSNoise holds the DP noise standard deviations of the entries of XᵀX
// (upper triangle read) and of Xᵀy. Nil means exact (no noise).
type OLSNoise struct {
	XtX [][]float64
	Xty []float64
}

// OLSResult is a fitted regression.
type OLSResult struct {
	// Coef[j] is β_j with its 95 % interval (linear scale).
	Coef []Estimate
	// R2 is the coefficient of determination, clamped to [0, 1].
	R2 float64
	// Sigma2 is the residual variance RSS/(n − p), RSS clamped at 0.
	Sigma2 float64
	// DF is n − p.
	DF float64
	// Cond is the 1-norm condition number of the predictors' cross-product
	// matrix, centred when the model has an intercept and scaled to unit
	// diagonal (see MaxCondition and WarnCondition); 1 for an
	// intercept-only model.
	Cond float64

	fit *olsFit
}

// olsFit keeps what PredictionVariance needs.
type olsFit struct {
	sys       *spd // the centred cross-products; nil without predictors
	intercept bool
	invN      *big.Float // 1/XtX[0][0] with an intercept
	mean      []float64  // the predictors' means (with an intercept)
	sigma2    float64
	mid       [][]float64 // middle matrix of the DP sandwich
}

// olsSums are the sufficient statistics as exact rationals: a float64
// converts exactly, and exact mode's integers stay exact beyond 2^53.
type olsSums struct {
	xtx       [][]*big.Rat // full, symmetric
	xty       []*big.Rat
	yty       *big.Rat
	intercept bool
}

// OLS fits y on the columns of X by least squares from XᵀX, Xᵀy and yᵀy.
//
// The sums are taken as exact rationals. With an intercept they are first
// centred, exactly: C = S − s·sᵀ/n, c = u − s·t/n, S_yy = yᵀy − t²/n for
// S = Σx·xᵀ, s = Σx, u = Σx·y, t = Σy and n = XtX[0][0], so neither the
// predictors' distance from zero nor the fixed-point shift of their
// encoding costs any digit. The slopes solve C·β = c by Cholesky of C
// scaled to unit diagonal with iterative refinement against the exact C
// (spd.go), the intercept is ȳ − x̄ᵀβ, and RSS = S_yy − 2βᵀc + βᵀCβ and the
// quadratic forms of the standard errors are evaluated exactly at the
// refined β, so the solve's own error enters them squared.
//
// Sampling covariance: σ̂²(XᵀX)⁻¹ with σ̂² = RSS/(n − p); with an intercept
// Var(β_j) = σ̂²(C⁻¹)_jj and Var(β_0) = σ̂²(1/n + x̄ᵀC⁻¹x̄).
//
// DP covariance: with A = XᵀX and b = Xᵀy perturbed by dA (symmetric) and db,
// to first order dβ = A⁻¹(db − dA·β), so
//
//	Cov_dp(β) = A⁻¹ (diag(σ_b²) + M) A⁻¹,
//	M_ii = Σ_k β_k² σ_A,ik²,   M_ij = β_i β_j σ_A,ij² (i ≠ j),
//
// where M is the covariance of dA·β for symmetric noise (each distinct entry
// drawn once), and A⁻¹ is assembled from C⁻¹ and x̄. σ̂² and R² are computed
// from the noisy sums as they are (RSS clamped at 0); the noise on them,
// including the noise on n and yᵀy, is not propagated: it is a second-order
// effect on the standard errors.
//
// Errors: ErrDimension, ErrNotFinite, ErrNegativeNoise, ErrNonPositiveN,
// ErrTooFewObservations (n ≤ p), ErrSingular, ErrIllConditioned.
func OLS(in OLSInput, noise OLSNoise) (OLSResult, error) {
	p := len(in.Xty)
	if err := in.validate(noise, p); err != nil {
		return OLSResult{}, fmt.Errorf("ols: %w", err)
	}
	s := olsSums{xtx: make([][]*big.Rat, p), xty: make([]*big.Rat, p), yty: ratOf(in.Yty), intercept: in.Intercept}
	for i := range s.xtx {
		s.xtx[i] = make([]*big.Rat, p)
		s.xty[i] = ratOf(in.Xty[i])
	}
	for i := range s.xtx {
		for j := i; j < p; j++ {
			s.xtx[i][j] = ratOf(in.XtX[i][j])
			s.xtx[j][i] = s.xtx[i][j]
		}
	}
	res, err := s.fit(in.N, noise)
	if err != nil {
		return OLSResult{}, fmt.Errorf("ols: %w", err)
	}
	return res, nil
}

// fit solves the centred system of s; n is the count for the degrees of
// freedom.
func (s olsSums) fit(n float64, noise OLSNoise) (OLSResult, error) {
	p := len(s.xty)
	off := 0
	if s.intercept {
		off = 1
	}
	m := p - off
	c := make([][]*big.Rat, m)
	cy := make([]*big.Rat, m)
	syy := new(big.Rat).Set(s.yty)
	mean := make([]*big.Rat, m) // 0 without an intercept
	for j := range mean {
		mean[j] = new(big.Rat)
	}
	var n0, ybar *big.Rat
	if s.intercept {
		n0 = s.xtx[0][0]
		if n0.Sign() <= 0 {
			return OLSResult{}, ErrNonPositiveN
		}
		ybar = new(big.Rat).Quo(s.xty[0], n0)
		for j := range mean {
			mean[j].Quo(s.xtx[0][j+1], n0)
		}
		syy.Sub(syy, new(big.Rat).Mul(s.xty[0], ybar))
	}
	t := new(big.Rat)
	for j := range c {
		c[j] = make([]*big.Rat, m)
		for k := range c[j] {
			c[j][k] = new(big.Rat).Set(s.xtx[j+off][k+off])
			if s.intercept {
				c[j][k].Sub(c[j][k], t.Mul(s.xtx[0][j+1], mean[k]))
			}
		}
		cy[j] = new(big.Rat).Set(s.xty[j+off])
		if s.intercept {
			cy[j].Sub(cy[j], t.Mul(s.xtx[0][j+1], ybar))
		}
	}

	f := &olsFit{intercept: s.intercept, mean: make([]float64, m)}
	if s.intercept {
		f.invN = workOf(new(big.Rat).Inv(n0))
		for j := range mean {
			f.mean[j] = ratFloat(mean[j])
		}
	}
	var cw [][]*big.Float
	cyw, meanw := workVec(cy), workVec(mean)
	res := OLSResult{DF: n - float64(p), Cond: 1, fit: f}
	slopes := []float64{}
	if m > 0 {
		sys, err := newSPD(c)
		if err != nil {
			return OLSResult{}, err
		}
		res.Cond = sys.cond
		if !(sys.cond <= MaxCondition) {
			return OLSResult{}, fmt.Errorf("condition number above %g: %w", MaxCondition, ErrIllConditioned)
		}
		f.sys, cw = sys, sys.a
		if slopes, err = sys.solve(cyw); err != nil {
			return OLSResult{}, err
		}
	}

	// RSS at the refined slopes: S_yy − (2βᵀc − βᵀCβ).
	syyw := workOf(syy)
	rss := newWork().Sub(syyw, quadAt(cw, cyw, slopes))
	if rss.Sign() < 0 {
		rss.SetInt64(0)
	}
	f.sigma2 = workFloat(rss) / res.DF
	res.Sigma2 = f.sigma2
	if syy.Sign() > 0 {
		r2 := workFloat(newWork().Quo(newWork().Sub(syyw, rss), syyw))
		res.R2 = math.Min(math.Max(r2, 0), 1)
	}

	beta := make([]float64, 0, p)
	samp := make([]float64, 0, p)
	if s.intercept {
		b0, tw := workOf(ybar), newWork()
		for j, b := range slopes {
			b0.Sub(b0, tw.Mul(meanw[j], big.NewFloat(b)))
		}
		q, err := f.quad(meanw)
		if err != nil {
			return OLSResult{}, err
		}
		beta = append(beta, workFloat(b0))
		samp = append(samp, f.sigma2*workFloat(q.Add(q, f.invN)))
	}
	beta = append(beta, slopes...)
	for j := range slopes {
		e := make([]*big.Float, m)
		for k := range e {
			e[k] = newWork()
		}
		e[j].SetInt64(1)
		q, err := f.quad(e)
		if err != nil {
			return OLSResult{}, err
		}
		samp = append(samp, f.sigma2*workFloat(q))
	}
	if err := finite([]string{"coefficient"}, beta...); err != nil {
		return OLSResult{}, err
	}

	ainv, err := f.augmentedInverse(meanw)
	if err != nil {
		return OLSResult{}, err
	}
	f.mid = sandwichMiddle(beta, noise)
	res.Coef = make([]Estimate, p)
	for j := 0; j < p; j++ {
		dp := sandwich(ainv[j], f.mid)
		res.Coef[j] = newEstimate(beta[j], math.Max(samp[j], 0), dp, Linear)
	}
	return res, nil
}

// quad returns bᵀC⁻¹b (0 without predictors).
func (f *olsFit) quad(b []*big.Float) (*big.Float, error) {
	if f.sys == nil {
		return newWork(), nil
	}
	return f.sys.quad(b)
}

// augmentedInverse returns (XᵀX)⁻¹ in float64 from C⁻¹: with an intercept,
// [[1/n + x̄ᵀC⁻¹x̄, −(C⁻¹x̄)ᵀ], [−C⁻¹x̄, C⁻¹]].
func (f *olsFit) augmentedInverse(mean []*big.Float) ([][]float64, error) {
	var ci [][]float64
	if f.sys != nil {
		ci = f.sys.inverse()
	}
	if !f.intercept {
		return ci, nil
	}
	m := len(mean)
	out := make([][]float64, m+1)
	for i := range out {
		out[i] = make([]float64, m+1)
	}
	q, err := f.quad(mean)
	if err != nil {
		return nil, err
	}
	out[0][0] = workFloat(q.Add(q, f.invN))
	if m == 0 {
		return out, nil
	}
	u, err := f.sys.solve(mean)
	if err != nil {
		return nil, err
	}
	for j := range u {
		out[0][j+1], out[j+1][0] = -u[j], -u[j]
		for k := range u {
			out[j+1][k+1] = ci[j][k]
		}
	}
	return out, nil
}

// sandwichMiddle returns diag(σ_b²) + M of the DP covariance, nil without
// noise.
func sandwichMiddle(beta []float64, noise OLSNoise) [][]float64 {
	if noise.XtX == nil && noise.Xty == nil {
		return nil
	}
	p := len(beta)
	mid := make([][]float64, p)
	for i := range mid {
		mid[i] = make([]float64, p)
	}
	sigA := func(i, j int) float64 {
		if noise.XtX == nil {
			return 0
		}
		if j < i {
			i, j = j, i
		}
		return noise.XtX[i][j]
	}
	for i := 0; i < p; i++ {
		if noise.Xty != nil {
			mid[i][i] += sq(noise.Xty[i])
		}
		for k := 0; k < p; k++ {
			mid[i][i] += sq(beta[k] * sigA(i, k))
		}
		for j := 0; j < p; j++ {
			if j != i {
				mid[i][j] += beta[i] * beta[j] * sq(sigA(i, j))
			}
		}
	}
	return mid
}

// sandwich returns vᵀ·mid·v, the DP variance of the combination whose
// coefficients in the released sums are v = A⁻¹g (0 without noise).
func sandwich(v []float64, mid [][]float64) float64 {
	if mid == nil {
		return 0
	}
	var dp float64
	for k := range v {
		if v[k] == 0 {
			continue
		}
		var t float64
		for m := range v {
			t += mid[k][m] * v[m]
		}
		dp += v[k] * t
	}
	if math.IsNaN(dp) {
		// Inf − Inf from noise scales so large the sandwich overflowed:
		// the noise swamps the estimate.
		return math.Inf(1)
	}
	return math.Max(dp, 0)
}

// PredictionVariance returns the sampling and DP variances of the fitted
// value at a point of the predictors (in the units of the sums), given by
// its offset d from their means in a model with an intercept, or by its
// coordinates without one. The intercept of a model whose predictors were
// shifted before summing (a fixed-point encoding) is such a fitted value,
// at the shifted origin: its variance comes out as a sum of non-negative
// terms, σ̂²(1/n + dᵀC⁻¹d), rather than as the difference of large ones.
func (r OLSResult) PredictionVariance(d []float64) (samp, dp float64, err error) {
	f := r.fit
	if f == nil || len(d) != len(f.mean) {
		return 0, 0, fmt.Errorf("ols: prediction at %d coordinates: %w", len(d), ErrDimension)
	}
	if err := finite([]string{"offset"}, d...); err != nil {
		return 0, 0, fmt.Errorf("ols: %w", err)
	}
	dr := make([]*big.Float, len(d))
	for j := range d {
		dr[j] = newWork().SetFloat64(d[j])
	}
	q, err := f.quad(dr)
	if err != nil {
		return 0, 0, fmt.Errorf("ols: %w", err)
	}
	u := make([]float64, len(d))
	if f.sys != nil {
		if u, err = f.sys.solve(dr); err != nil {
			return 0, 0, fmt.Errorf("ols: %w", err)
		}
	}
	v := u
	if f.intercept {
		q.Add(q, f.invN)
		// g = (1, x̄ + d): v = A⁻¹g = (1/n − x̄ᵀC⁻¹d, C⁻¹d).
		v0 := workFloat(f.invN)
		for j := range u {
			v0 -= f.mean[j] * u[j]
		}
		v = append([]float64{v0}, u...)
	}
	return math.Max(f.sigma2*workFloat(q), 0), sandwich(v, f.mid), nil
}

func (in OLSInput) validate(noise OLSNoise, p int) error {
	if p == 0 {
		return fmt.Errorf("no coefficients: %w", ErrDimension)
	}
	if len(in.XtX) != p {
		return fmt.Errorf("XtX has %d rows, Xty %d entries: %w", len(in.XtX), p, ErrDimension)
	}
	for i, row := range in.XtX {
		if len(row) != p {
			return fmt.Errorf("XtX row %d has %d entries, want %d: %w", i, len(row), p, ErrDimension)
		}
		for j := i; j < p; j++ {
			if err := finite([]string{"XtX"}, row[j]); err != nil {
				return err
			}
		}
	}
	for _, v := range in.Xty {
		if err := finite([]string{"Xty"}, v); err != nil {
			return err
		}
	}
	if err := finite([]string{"n", "yty"}, in.N, in.Yty); err != nil {
		return err
	}
	if noise.XtX != nil {
		if len(noise.XtX) != p {
			return fmt.Errorf("noise XtX has %d rows, want %d: %w", len(noise.XtX), p, ErrDimension)
		}
		for i, row := range noise.XtX {
			if len(row) != p {
				return fmt.Errorf("noise XtX row %d has %d entries, want %d: %w", i, len(row), p, ErrDimension)
			}
			if err := noiseOK([]string{"XtX"}, row[i:]...); err != nil {
				return err
			}
		}
	}
	if noise.Xty != nil {
		if len(noise.Xty) != p {
			return fmt.Errorf("noise Xty has %d entries, want %d: %w", len(noise.Xty), p, ErrDimension)
		}
		if err := noiseOK([]string{"Xty"}, noise.Xty...); err != nil {
			return err
		}
	}
	if in.N <= 0 {
		return ErrNonPositiveN
	}
	if in.N <= float64(p) {
		return fmt.Errorf("need n > %d coefficients: %w", p, ErrTooFewObservations)
	}
	return nil
}
