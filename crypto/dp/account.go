package dp

import (
	"fmt"
	"math"
)

// GaussianRho is the zCDP cost ρ = Δ²/(2σ²) of adding discrete Gaussian
// noise N_Z(0, σ²) to an integer aggregate of ℓ2 sensitivity Δ (CKS20,
// Theorem 4; the discrete Gaussian matches the continuous one here).
// zCDP costs compose by addition: k releases cost Σρ_i.
func GaussianRho(sensitivity, sigma float64) float64 {
	return sensitivity * sensitivity / (2 * sigma * sigma)
}

// bisectSteps caps every search below. Each also stops once its interval
// no longer shrinks, within about 100 steps on the ranges CheckBudget
// admits; a search cut short still returns a valid bound, only a looser
// one.
const bisectSteps = 200

// ZCDPDelta returns the smallest δ for which ρ-zCDP implies (ε, δ)-DP
// according to the conversion of CKS20, Proposition 12 / Corollary 13:
//
//	δ = inf_{α>1} exp((α−1)(αρ−ε)) / (α−1) · (1 − 1/α)^α.
//
// The infimum is found by bisection on the derivative; any α gives a valid
// bound, so an imprecise search can only make δ larger (safe). It is total:
// ρ ≤ 0 gives 0, ρ = +Inf gives 1, ε = +Inf gives 0 and NaN gives NaN.
func ZCDPDelta(rho, eps float64) float64 {
	switch {
	case math.IsNaN(rho) || math.IsNaN(eps):
		return math.NaN()
	case rho <= 0 || math.IsInf(eps, 1):
		return 0
	case math.IsInf(rho, 1):
		return 1
	}
	if eps < 0 {
		eps = 0
	}
	// Below α = 1.01 the expression is numerically unstable, and the optimum
	// is only there when ε ≤ ρ, a regime where δ is large anyway.
	lo, hi := 1.01, math.Min((eps+1)/(2*rho)+2, math.MaxFloat64)
	alpha := lo
	for range bisectSteps {
		alpha = lo + (hi-lo)/2 // (lo+hi)/2 overflows near MaxFloat64
		if !(alpha > lo && alpha < hi) {
			break // lo and hi are adjacent floats
		}
		if (2*alpha-1)*rho-eps+math.Log1p(-1/alpha) < 0 {
			lo = alpha
		} else {
			hi = alpha
		}
	}
	delta := math.Exp((alpha-1)*(alpha*rho-eps)+alpha*math.Log1p(-1/alpha)) / (alpha - 1)
	return math.Min(delta, 1)
}

// ZCDPEpsilon returns the smallest ε for which ρ-zCDP implies (ε, δ)-DP
// under the CKS20 conversion. It is never larger than the classic bound
// ρ + 2√(ρ ln(1/δ)) (Bun and Steinke 2016), which starts the search. It is
// total: ρ ≤ 0 or δ ≥ 1 give 0, ρ = +Inf or δ ≤ 0 give +Inf and NaN gives
// NaN.
func ZCDPEpsilon(rho, delta float64) float64 {
	switch {
	case math.IsNaN(rho) || math.IsNaN(delta):
		return math.NaN()
	case rho <= 0 || delta >= 1:
		return 0
	case math.IsInf(rho, 1) || delta <= 0:
		return math.Inf(1)
	}
	lo, hi := 0.0, rho+2*math.Sqrt(rho*-math.Log(delta))
	for range bisectSteps {
		mid := lo + (hi-lo)/2
		if !(mid > lo && mid < hi) {
			break
		}
		if ZCDPDelta(rho, mid) <= delta {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// ZCDPRho is the largest zCDP cost ρ that is still (ε, δ)-DP under the
// CKS20 conversion (up to a relative 1e-12, rounded down): the budget a
// query with target (ε, δ) may split among its statistics. (ε, δ) must
// pass CheckBudget; the result is then positive and finite.
//
// Solving ZCDPDelta's bound δ(α) ≤ δ for ρ at a fixed α gives
//
//	ρ(α) = (ε + (ln δ + ln(α−1) − α·ln(1−1/α)) / (α−1)) / α,
//
// and every α > 1 makes ρ(α) a valid cost, so ρ is their maximum: a
// golden-section search over ln(α−1), on the α range ZCDPDelta searches.
// An imprecise search can only make ρ smaller (safe). The result is
// checked against ZCDPEpsilon before it is returned.
func ZCDPRho(eps, delta float64) (float64, error) {
	if err := CheckBudget(eps, delta); err != nil {
		return 0, err
	}
	lnDelta := math.Log(delta)
	rhoAt := func(t float64) float64 { // α = 1 + e^t
		am1 := math.Exp(t)
		alpha := 1 + am1
		return (eps + (lnDelta+t-alpha*math.Log1p(-1/alpha))/am1) / alpha
	}
	// The classic bound ρ + 2√(ρL) = ε gives a ρ below the optimum, and
	// so (ZCDPDelta) an α above it: √ρ = √(L+ε) − √L, written without the
	// cancellation that rounds it to 0 for a tiny ε.
	l := -lnDelta
	r := eps / (math.Sqrt(l+eps) + math.Sqrt(l))
	a, b := math.Log(0.01), math.Log((eps+1)/(2*r*r)+1)
	const invPhi = 0.6180339887498949 // (√5 − 1)/2
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	rc, rd := rhoAt(c), rhoAt(d)
	for range bisectSteps {
		if !(b-a > 1e-13*math.Max(1, math.Abs(a))) {
			break
		}
		if rc >= rd {
			b, d, rd = d, c, rc
			c = b - invPhi*(b-a)
			rc = rhoAt(c)
		} else {
			a, c, rc = c, d, rd
			d = a + invPhi*(b-a)
			rd = rhoAt(d)
		}
	}
	// Rounding in ρ(α) is a few ulps; the margin covers it.
	rho := math.Max(rc, rd) * (1 - 1e-12)
	if !(rho > 0) || math.IsInf(rho, 0) || ZCDPEpsilon(rho, delta) > eps {
		return 0, fmt.Errorf("%w: no zCDP cost for epsilon %g and delta %g", ErrNoConvergence, eps, delta)
	}
	return rho, nil
}

// GaussianSigma calibrates the discrete Gaussian: the smallest σ (up to a
// relative 1e-9, rounded up) such that noise N_Z(0, σ²) on an aggregate of
// sensitivity Δ is (ε, δ)-DP under the CKS20 conversion. For a vector of
// statistics released together, pass its ℓ2 sensitivity and give every
// coordinate this σ. Pass the result to Sigma2 to get the exact rational
// the sampler takes.
func GaussianSigma(sensitivity, eps, delta float64) (float64, error) {
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v", ErrInvalidParameter, sensitivity)
	}
	rho, err := ZCDPRho(eps, delta)
	if err != nil {
		return 0, err
	}
	sigma := SigmaForRho(sensitivity, rho)
	if math.IsInf(sigma, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v needs an infinite sigma at epsilon %g", ErrInvalidParameter, sensitivity, eps)
	}
	return sigma, nil
}

// SigmaForRho is the σ at which a sensitivity-Δ release costs exactly ρ
// (rounded up by a relative 1e-9): σ = Δ/√(2ρ). A query splitting its ρ
// evenly over k statistics gives statistic i SigmaForRho(Δᵢ, ρ/k). Δ = 0
// needs no noise and gives 0. Otherwise, unless 0 < Δ < ∞ and 0 < ρ < ∞,
// it returns +Inf, which Sigma2 refuses: an invalid input never means less
// noise.
func SigmaForRho(sensitivity, rho float64) float64 {
	if sensitivity == 0 {
		return 0
	}
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) || !(rho > 0) || math.IsInf(rho, 0) {
		return math.Inf(1)
	}
	return roundUp(sensitivity, sensitivity/math.Sqrt(2*rho)*(1+1e-9))
}

// roundUp keeps a scale calibrated for a positive sensitivity from
// underflowing to 0, which would mean no noise at all.
func roundUp(sensitivity, scale float64) float64 {
	if sensitivity > 0 && scale == 0 {
		return math.SmallestNonzeroFloat64
	}
	return scale
}

// LaplaceScale is the discrete Laplace scale b = Δ/ε that makes an integer
// aggregate of ℓ1 sensitivity Δ ε-DP (pure DP, δ = 0). ε must lie in
// [MinEpsilon, MaxEpsilon].
func LaplaceScale(sensitivity, eps float64) (float64, error) {
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v", ErrInvalidParameter, sensitivity)
	}
	if err := checkEpsilon(eps); err != nil {
		return 0, err
	}
	b := roundUp(sensitivity, sensitivity/eps)
	if math.IsInf(b, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v needs an infinite scale at epsilon %g", ErrInvalidParameter, sensitivity, eps)
	}
	return b, nil
}

// CombinedSigma is the standard deviation of the noise in a released value
// when each of owners data owners adds its own independent N_Z(0, σ²): the
// variances add, so the total is σ·√owners. Confidence intervals must use
// this, not σ.
func CombinedSigma(sigma float64, owners int) float64 {
	return sigma * math.Sqrt(float64(owners))
}
