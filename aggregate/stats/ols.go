package stats

import (
	"fmt"
	"math"
)

// MaxCondition is the largest condition number (1-norm, after scaling XᵀX to
// unit diagonal) OLS accepts. Beyond it the normal equations lose more than
// 12 of float64's ~16 digits and the coefficients are noise.
const MaxCondition = 1e12

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
	// Intercept says column 0 of X is all ones, so Xty[0] = Σy and R² is
	// the usual centred one; without it R² is the uncentred 1 − RSS/yᵀy.
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
	// Cond is the 1-norm condition number of XᵀX scaled to unit diagonal.
	Cond float64
}

// OLS solves the normal equations XᵀX β = Xᵀy by Cholesky factorization of
// XᵀX scaled to unit diagonal (so the condition check reflects collinearity,
// not the units of the columns).
//
// Sampling covariance: σ̂²(XᵀX)⁻¹ with σ̂² = (yᵀy − βᵀXᵀy)/(n − p).
//
// DP covariance: with A = XᵀX and b = Xᵀy perturbed by dA (symmetric) and db,
// to first order dβ = A⁻¹(db − dA·β), so
//
//	Cov_dp(β) = A⁻¹ (diag(σ_b²) + M) A⁻¹,
//	M_ii = Σ_k β_k² σ_A,ik²,   M_ij = β_i β_j σ_A,ij² (i ≠ j),
//
// where M is the covariance of dA·β for symmetric noise (each distinct entry
// drawn once). σ̂² and R² are computed from the noisy sums as they are (RSS
// clamped at 0); the noise on them, including the noise on n and yᵀy, is not
// propagated: it is a second-order effect on the standard errors.
//
// Errors: ErrDimension, ErrNotFinite, ErrNegativeNoise, ErrNonPositiveN,
// ErrTooFewObservations (n ≤ p), ErrSingular, ErrIllConditioned.
func OLS(in OLSInput, noise OLSNoise) (OLSResult, error) {
	p := len(in.Xty)
	if err := in.validate(noise, p); err != nil {
		return OLSResult{}, fmt.Errorf("ols: %w", err)
	}
	a := make([][]float64, p)
	for i := range a {
		a[i] = make([]float64, p)
		for j := range a[i] {
			if j >= i {
				a[i][j] = in.XtX[i][j]
			} else {
				a[i][j] = in.XtX[j][i]
			}
		}
	}
	// Equilibrate: a' = D a D with D = diag(1/√a_ii).
	dscale := make([]float64, p)
	for i := range a {
		if !(a[i][i] > 0) {
			return OLSResult{}, fmt.Errorf("ols: column %d: %w", i, ErrSingular)
		}
		dscale[i] = 1 / math.Sqrt(a[i][i])
	}
	as := make([][]float64, p)
	for i := range as {
		as[i] = make([]float64, p)
		for j := range as[i] {
			as[i][j] = a[i][j] * dscale[i] * dscale[j]
		}
	}
	l, err := cholesky(as)
	if err != nil {
		return OLSResult{}, fmt.Errorf("ols: %w", err)
	}
	invS := choleskyInverse(l)
	cond := norm1(as) * norm1(invS)
	if !(cond <= MaxCondition) {
		return OLSResult{}, fmt.Errorf("ols: condition number above %g: %w", MaxCondition, ErrIllConditioned)
	}
	// A⁻¹ = D (a')⁻¹ D.
	inv := make([][]float64, p)
	for i := range inv {
		inv[i] = make([]float64, p)
		for j := range inv[i] {
			inv[i][j] = invS[i][j] * dscale[i] * dscale[j]
		}
	}
	beta := make([]float64, p)
	for i := range beta {
		for j := range beta {
			beta[i] += inv[i][j] * in.Xty[j]
		}
	}

	var bXty float64
	for i := range beta {
		bXty += beta[i] * in.Xty[i]
	}
	rss := math.Max(in.Yty-bXty, 0)
	res := OLSResult{DF: in.N - float64(p), Cond: cond}
	res.Sigma2 = rss / res.DF
	tss := in.Yty
	if in.Intercept {
		tss -= in.Xty[0] * in.Xty[0] / in.N
	}
	// rss/tss is NaN only when both overflowed; R² then says nothing.
	if r2 := 1 - rss/tss; tss > 0 && !math.IsNaN(r2) {
		res.R2 = math.Min(math.Max(r2, 0), 1)
	}

	// Middle matrix of the DP sandwich: diag(σ_b²) + M.
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
	res.Coef = make([]Estimate, p)
	for j := 0; j < p; j++ {
		// (A⁻¹ mid A⁻¹)_jj = Σ_kl inv_jk mid_kl inv_lj.
		var dp float64
		for k := 0; k < p; k++ {
			if inv[j][k] == 0 {
				continue
			}
			var t float64
			for m := 0; m < p; m++ {
				t += mid[k][m] * inv[m][j]
			}
			dp += inv[j][k] * t
		}
		if math.IsNaN(dp) {
			// Inf − Inf from noise scales so large the sandwich overflowed:
			// the noise swamps the coefficient.
			dp = math.Inf(1)
		}
		res.Coef[j] = newEstimate(beta[j], res.Sigma2*inv[j][j], math.Max(dp, 0), Linear)
	}
	return res, nil
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

// singularPivot is the smallest pivot accepted in the Cholesky factorization
// of a unit-diagonal matrix: a smaller one means a column is, to rounding,
// a combination of the previous ones.
const singularPivot = 1e-14

// cholesky returns the lower-triangular L with a = L Lᵀ.
func cholesky(a [][]float64) ([][]float64, error) {
	p := len(a)
	l := make([][]float64, p)
	for i := range l {
		l[i] = make([]float64, p)
	}
	for j := 0; j < p; j++ {
		d := a[j][j]
		for k := 0; k < j; k++ {
			d -= l[j][k] * l[j][k]
		}
		if !(d > singularPivot) {
			return nil, fmt.Errorf("column %d: %w", j, ErrSingular)
		}
		l[j][j] = math.Sqrt(d)
		for i := j + 1; i < p; i++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			l[i][j] = s / l[j][j]
		}
	}
	return l, nil
}

// choleskyInverse returns (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹.
func choleskyInverse(l [][]float64) [][]float64 {
	p := len(l)
	// w = L⁻¹ by forward substitution, column by column.
	w := make([][]float64, p)
	for i := range w {
		w[i] = make([]float64, p)
	}
	for c := 0; c < p; c++ {
		for i := c; i < p; i++ {
			s := 0.0
			if i == c {
				s = 1
			}
			for k := c; k < i; k++ {
				s -= l[i][k] * w[k][c]
			}
			w[i][c] = s / l[i][i]
		}
	}
	inv := make([][]float64, p)
	for i := range inv {
		inv[i] = make([]float64, p)
	}
	for i := 0; i < p; i++ {
		for j := 0; j <= i; j++ {
			var s float64
			for k := i; k < p; k++ {
				s += w[k][i] * w[k][j]
			}
			inv[i][j], inv[j][i] = s, s
		}
	}
	return inv
}

func norm1(a [][]float64) float64 {
	var m float64
	for j := range a {
		var s float64
		for i := range a {
			s += math.Abs(a[i][j])
		}
		m = math.Max(m, s)
	}
	return m
}
