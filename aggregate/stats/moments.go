package stats

import (
	"fmt"
	"math"
)

// Sums holds the noisy bivariate sufficient statistics of one cell of a
// query: n, Σx, Σy, Σx², Σy², Σxy over the people in the cell.
type Sums struct {
	N, SumX, SumY, SumXX, SumYY, SumXY float64
}

// Noise holds the standard deviation of the DP noise that was added to each
// component of Sums (all 0 in exact mode). The noise on different components
// is independent.
type Noise struct {
	N, SumX, SumY, SumXX, SumYY, SumXY float64
}

// Moments holds the noisy univariate sufficient statistics n, Σx, Σx².
type Moments struct {
	N, Sum, SumSq float64
}

// MomentNoise holds the DP noise standard deviation of each component of Moments.
type MomentNoise struct {
	N, Sum, SumSq float64
}

// X returns the moments of the first variable.
func (s Sums) X() Moments { return Moments{N: s.N, Sum: s.SumX, SumSq: s.SumXX} }

// Y returns the moments of the second variable.
func (s Sums) Y() Moments { return Moments{N: s.N, Sum: s.SumY, SumSq: s.SumYY} }

// X returns the noise of the first variable's moments.
func (n Noise) X() MomentNoise { return MomentNoise{N: n.N, Sum: n.SumX, SumSq: n.SumXX} }

// Y returns the noise of the second variable's moments.
func (n Noise) Y() MomentNoise { return MomentNoise{N: n.N, Sum: n.SumY, SumSq: n.SumYY} }

var (
	momentNames = []string{"n", "sum", "sum of squares"}
)

func (m Moments) validate(nz MomentNoise, minN float64) error {
	if err := finite(momentNames, m.N, m.Sum, m.SumSq); err != nil {
		return err
	}
	if err := noiseOK(momentNames, nz.N, nz.Sum, nz.SumSq); err != nil {
		return err
	}
	if m.N <= 0 {
		return ErrNonPositiveN
	}
	if m.N < minN {
		return fmt.Errorf("need n >= %g: %w", minN, ErrTooFewObservations)
	}
	return nil
}

// sampleVariance is (Σx² − (Σx)²/n)/(n − 1), which can be negative when the
// sums are noisy. It is computed as (nΣx² − (Σx)²)/(n(n − 1)) with the
// difference good to about an ulp (diffProd), so a large mean costs no
// digits.
func (m Moments) sampleVariance() float64 {
	return diffProd(m.N, m.SumSq, m.Sum, m.Sum) / m.N / (m.N - 1)
}

// diffProd returns a·b − c·d to within about an ulp of the result, however
// much the two products cancel (Kahan's algorithm: the rounding error of
// c·d is recovered exactly by a fused multiply-add; Jeannerod, Louvet and
// Muller, Math. Comp. 82 (2013), bound it by 2 ulps).
func diffProd(a, b, c, d float64) float64 {
	w := c * d
	e := math.FMA(-c, d, w)
	f := math.FMA(a, b, -w)
	return f + e
}

// Mean returns the mean Σx/n with a 95 % interval on the linear scale.
//
// Sampling variance: s²/n, with s² the sample variance from the same noisy
// sums (clamped at 0). DP variance by the delta method on m = S/N, with
// ∂m/∂S = 1/N and ∂m/∂N = −m/N:
//
//	Var_dp(m) = (σ_S² + m²·σ_N²) / N².
//
// The interval uses the normal quantile Z95, not Student's t: the cells
// governance releases (min_group_size) are large enough for the difference
// to be small (t is 2.5 % wider at n = 50). It needs a noisy n of at
// least 2 for s².
func Mean(m Moments, nz MomentNoise) (Estimate, error) {
	if err := m.validate(nz, 2); err != nil {
		return Estimate{}, fmt.Errorf("mean: %w", err)
	}
	mean := m.Sum / m.N
	s2 := math.Max(m.sampleVariance(), 0)
	samp := s2 / m.N
	dp := (nz.Sum*nz.Sum + mean*mean*nz.N*nz.N) / (m.N * m.N)
	return newEstimate(mean, samp, dp, Linear), nil
}

// Variance returns the sample variance s² = (Σx² − (Σx)²/n)/(n − 1) with a
// 95 % interval built on the log scale, so that it stays positive.
//
// Sampling variance of log s² under normality: 2/(n − 1) (the normal-theory
// chi-square interval, to first order; heavy-tailed data make it too narrow
// because the fourth moment is not among the released sums). DP variance by
// the delta method with ∂v/∂Q = 1/(N−1), ∂v/∂S = −2m/(N−1),
// ∂v/∂N = (m² − v)/(N−1) (m = S/N), divided by v² for the log scale:
//
//	Var_dp(v) = (σ_Q² + 4m²σ_S² + (m² − v)²σ_N²) / (N − 1)².
//
// A noisy variance ≤ 0 returns ErrZeroVariance.
func Variance(m Moments, nz MomentNoise) (Estimate, error) {
	if err := m.validate(nz, 2); err != nil {
		return Estimate{}, fmt.Errorf("variance: %w", err)
	}
	v := m.sampleVariance()
	if !(v > 0) {
		return Estimate{}, fmt.Errorf("variance: %w", ErrZeroVariance)
	}
	mean := m.Sum / m.N
	d := m.N - 1
	dpV := (nz.SumSq*nz.SumSq + 4*mean*mean*nz.Sum*nz.Sum +
		sq(mean*mean-v)*nz.N*nz.N) / (d * d)
	return newEstimate(v, 2/d, dpV/(v*v), Log), nil
}

func sq(x float64) float64 { return x * x }
