package stats

import (
	"fmt"
	"math"
)

var sumNames = []string{"n", "sum x", "sum y", "sum x²", "sum y²", "sum xy"}

// Pearson returns the Pearson correlation r of the noisy sums, clamped to
// [−1, 1], and its 95 % Fisher-z interval widened for the DP noise. It is
// PearsonCI without the standard-error breakdown.
func Pearson(s Sums, noise Noise) (r, lo, hi float64, err error) {
	e, err := PearsonCI(s, noise)
	if err != nil {
		return 0, 0, 0, err
	}
	return e.Value, e.Lo, e.Hi, nil
}

// PearsonCI returns r = A/√(BC) with A = nΣxy − ΣxΣy, B = nΣx² − (Σx)²,
// C = nΣy² − (Σy)², and its 95 % interval on the Fisher-z scale.
//
// Sampling variance of z = atanh(r): 1/(n − 3). DP variance: the delta
// method gives Var_dp(r) = Σ_k (∂r/∂S_k)² σ_k² over the six sums, with
//
//	∂r/∂n   = Σxy/√(BC) − r/2·(Σx²/B + Σy²/C)
//	∂r/∂Σx  = −Σy/√(BC) + r·Σx/B
//	∂r/∂Σy  = −Σx/√(BC) + r·Σy/C
//	∂r/∂Σx² = −r·n/(2B)
//	∂r/∂Σy² = −r·n/(2C)
//	∂r/∂Σxy = n/√(BC)
//
// and on the z scale Var_dp(z) = Var_dp(r)/(1 − r²)². The interval is
// tanh(z ∓ 1.96·√(1/(n−3) + Var_dp(z))).
//
// When noise pushes |r| to 1 or beyond, r is clamped to ±1 and the Fisher
// transform is undefined; the interval is then the linear one
// [r − 1.96·NoiseSE_r, r] (or its mirror), clipped to [−1, 1], with the
// standard errors reported on the linear scale.
//
// Errors: ErrNotFinite, ErrNegativeNoise, ErrNonPositiveN (noisy n ≤ 0),
// ErrTooFewObservations (n < 4), ErrZeroVariance (B ≤ 0 or C ≤ 0).
func PearsonCI(s Sums, noise Noise) (Estimate, error) {
	if err := finite(sumNames, s.N, s.SumX, s.SumY, s.SumXX, s.SumYY, s.SumXY); err != nil {
		return Estimate{}, fmt.Errorf("pearson: %w", err)
	}
	if err := noiseOK(sumNames, noise.N, noise.SumX, noise.SumY, noise.SumXX, noise.SumYY, noise.SumXY); err != nil {
		return Estimate{}, fmt.Errorf("pearson: %w", err)
	}
	if s.N <= 0 {
		return Estimate{}, fmt.Errorf("pearson: %w", ErrNonPositiveN)
	}
	if s.N < 4 {
		return Estimate{}, fmt.Errorf("pearson: need n >= 4: %w", ErrTooFewObservations)
	}
	n := s.N
	// The centred sums, each to about an ulp however far the data sit
	// from zero (diffProd): nΣx² and (Σx)² agree in their leading digits
	// when the spread is small against the mean.
	a := diffProd(n, s.SumXY, s.SumX, s.SumY)
	b := diffProd(n, s.SumXX, s.SumX, s.SumX)
	c := diffProd(n, s.SumYY, s.SumY, s.SumY)
	// Finite sums can still overflow in the products above.
	if err := finite([]string{"n·Σxy − ΣxΣy", "n·Σx² − (Σx)²", "n·Σy² − (Σy)²"}, a, b, c); err != nil {
		return Estimate{}, fmt.Errorf("pearson: %w", err)
	}
	if !(b > 0) {
		return Estimate{}, fmt.Errorf("pearson: x: %w", ErrZeroVariance)
	}
	if !(c > 0) {
		return Estimate{}, fmt.Errorf("pearson: y: %w", ErrZeroVariance)
	}
	// √b·√c rather than √(bc): bc can overflow for large sums.
	root := math.Sqrt(b) * math.Sqrt(c)
	r := a / root

	// Gradient at the unclamped r: it is the estimator the noise went through.
	g := [6]float64{
		s.SumXY/root - r/2*(s.SumXX/b+s.SumYY/c),
		-s.SumY/root + r*s.SumX/b,
		-s.SumX/root + r*s.SumY/c,
		-r * n / (2 * b),
		-r * n / (2 * c),
		n / root,
	}
	sig := [6]float64{noise.N, noise.SumX, noise.SumY, noise.SumXX, noise.SumYY, noise.SumXY}
	var dpR float64
	for i := range g {
		// Skipped when exact: at extreme inputs a gradient can overflow and
		// Inf·0 would poison the sum with NaN.
		if sig[i] != 0 {
			dpR += sq(g[i] * sig[i])
		}
	}

	if math.Abs(r) >= 1 {
		r = math.Copysign(1, r)
		e := Estimate{Value: r, Lo: r, Hi: r, SE: math.Sqrt(dpR), NoiseSE: math.Sqrt(dpR), Scale: Linear}
		if r > 0 {
			e.Lo = math.Max(-1, r-Z95*e.SE)
		} else {
			e.Hi = math.Min(1, r+Z95*e.SE)
		}
		return e, nil
	}
	return newEstimate(r, 1/(n-3), dpR/sq(1-r*r), FisherZ), nil
}
