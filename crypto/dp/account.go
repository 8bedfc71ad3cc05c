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

// ZCDPDelta returns the smallest δ for which ρ-zCDP implies (ε, δ)-DP
// according to the conversion of CKS20, Proposition 12 / Corollary 13:
//
//	δ = inf_{α>1} exp((α−1)(αρ−ε)) / (α−1) · (1 − 1/α)^α.
//
// The infimum is found by bisection on the derivative; any α gives a valid
// bound, so an imprecise search can only make δ larger (safe).
func ZCDPDelta(rho, eps float64) float64 {
	if rho <= 0 {
		return 0
	}
	if eps < 0 {
		eps = 0
	}
	// Below α = 1.01 the expression is numerically unstable, and the optimum
	// is only there when ε ≤ ρ, a regime where δ is large anyway.
	lo, hi := 1.01, (eps+1)/(2*rho)+2
	alpha := lo
	for range 200 {
		alpha = (lo + hi) / 2
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
// ρ + 2√(ρ ln(1/δ)) (Bun and Steinke 2016), which starts the search.
func ZCDPEpsilon(rho, delta float64) float64 {
	if rho <= 0 || delta >= 1 {
		return 0
	}
	lo, hi := 0.0, rho+2*math.Sqrt(rho*math.Log(1/delta))
	for range 200 {
		mid := (lo + hi) / 2
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
// query with target (ε, δ) may split among its statistics.
func ZCDPRho(eps, delta float64) (float64, error) {
	switch {
	case !(eps > 0) || math.IsInf(eps, 0):
		return 0, fmt.Errorf("%w: epsilon %v", ErrInvalidParameter, eps)
	case !(delta > 0 && delta < 1):
		return 0, fmt.Errorf("%w: delta %v must be in (0, 1)", ErrInvalidParameter, delta)
	}
	// ZCDPEpsilon grows with ρ, so find the largest ρ whose ε fits. The
	// classic bound gives a feasible start: ρ with ρ + 2√(ρ L) = ε.
	l := math.Log(1 / delta)
	r := math.Sqrt(l+eps) - math.Sqrt(l)
	lo := r * r
	hi := lo
	for ZCDPEpsilon(hi, delta) <= eps {
		hi *= 2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if ZCDPEpsilon(mid, delta) <= eps {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= lo*1e-12 {
			break
		}
	}
	return lo, nil
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
	return SigmaForRho(sensitivity, rho), nil
}

// SigmaForRho is the σ at which a sensitivity-Δ release costs exactly ρ
// (rounded up by a relative 1e-9): σ = Δ/√(2ρ). A query splitting its ρ
// evenly over k statistics gives statistic i SigmaForRho(Δᵢ, ρ/k).
func SigmaForRho(sensitivity, rho float64) float64 {
	return sensitivity / math.Sqrt(2*rho) * (1 + 1e-9)
}

// LaplaceScale is the discrete Laplace scale b = Δ/ε that makes an integer
// aggregate of ℓ1 sensitivity Δ ε-DP (pure DP, δ = 0).
func LaplaceScale(sensitivity, eps float64) (float64, error) {
	if !(sensitivity > 0) || math.IsInf(sensitivity, 0) || !(eps > 0) || math.IsInf(eps, 0) {
		return 0, fmt.Errorf("%w: sensitivity %v, epsilon %v", ErrInvalidParameter, sensitivity, eps)
	}
	return sensitivity / eps, nil
}

// CombinedSigma is the standard deviation of the noise in a released value
// when each of owners data owners adds its own independent N_Z(0, σ²): the
// variances add, so the total is σ·√owners. Confidence intervals must use
// this, not σ.
func CombinedSigma(sigma float64, owners int) float64 {
	return sigma * math.Sqrt(float64(owners))
}
