package dp

import "math"

// exactVarianceSigma is the σ from which DiscreteGaussianVariance returns
// σ² itself. By Poisson summation the variance of N_Z(0, σ²) differs from
// σ² by a relative amount below 8π²σ²·e^(−2π²σ²) (CKS20, Fact 18), which
// is 1.6e-32 at σ = 2 and far below float64 precision from σ = 3 on.
const exactVarianceSigma = 3

// DiscreteGaussianVariance returns the variance of the discrete Gaussian
// the sampler draws for sigma: N_Z(0, σ'²) at σ' = Sigma2(sigma)'s rounding,
// Σ x²·e^(−x²/2σ'²) / Σ e^(−x²/2σ'²) over the integers. It is below σ'²,
// markedly so for σ below 1 (about half of σ² at σ = 0.4, and next to
// nothing at σ = 0.25, where almost every sample is 0), which is why a
// count released at a large ε must not report σ as its noise's spread. It
// is σ'² itself from σ = 3 on, 0 for sigma ≤ 0 and NaN for an invalid
// sigma.
func DiscreteGaussianVariance(sigma float64) float64 {
	if sigma == 0 {
		return 0
	}
	s2, err := Sigma2(sigma)
	if err != nil {
		return math.NaN()
	}
	v, _ := s2.Float64()
	if sigma >= exactVarianceSigma {
		return v
	}
	// Terms beyond |x| = 10σ' + 1 weigh less than e^-50 of the x = 0 term.
	var z, m float64
	limit := int(10*math.Sqrt(v)) + 1
	for x := limit; x >= 1; x-- { // smallest terms first
		w := math.Exp(-float64(x*x) / (2 * v))
		z += 2 * w
		m += 2 * float64(x*x) * w
	}
	return m / (z + 1)
}
