package dp

import (
	"errors"
	"math"
	"math/big"
	"testing"
	"time"
)

// FuzzCalibration feeds every calibration and accounting function the same
// arbitrary float64s, as a peer or a query file could send them. Each must
// return promptly (within, rather than hang the fuzzer), accept exactly
// the costs CheckBudget accepts, and give sane numbers: a positive finite
// ρ that spends at most ε and is tight, a σ whose cost is at most that ρ,
// and noise that the sampler draws without error.
func FuzzCalibration(f *testing.F) {
	for _, seed := range [][4]float64{
		{1, 1e-6, 0.5, 1},
		{MinEpsilon, MinDelta, 1e-14, 1},
		{MaxEpsilon, MaxDelta, 900, 1 << 20},
		{1e-6, 0.01, 1e-4, 3},
		{1e-15, 1e-6, 1e-30, 1e-300},
		{1e-20, 1e-6, 5e-324, 5e-324},
		{5e-324, 5e-324, 5e-324, 5e-324},
		{1e300, 1e-300, 1e300, 1e300},
		{math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64},
		{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(1)},
		{math.NaN(), math.NaN(), math.NaN(), math.NaN()},
		{-1, -1e-6, -1, -1},
		{0, 0, 0, 0},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	s := NewSampler(keyedReader(7))
	f.Fuzz(func(t *testing.T, eps, delta, rho, sens float64) {
		within(t, 10*time.Second, "calibration", func() { checkCalibration(t, s, eps, delta, rho, sens) })
	})
}

// checkCalibration runs in a goroutine of its own, so it reports with
// Errorf, never Fatalf.
func checkCalibration(t *testing.T, s *Sampler, eps, delta, rho, sens float64) {
	inRange := eps >= MinEpsilon && eps <= MaxEpsilon && delta >= MinDelta && delta <= MaxDelta
	if err := CheckBudget(eps, delta); (err == nil) != inRange || (err != nil && !errors.Is(err, ErrBudgetRange)) {
		t.Errorf("CheckBudget(%g, %g) = %v", eps, delta, err)
	}

	// ρ for (ε, δ): positive, finite, within ε and tight.
	r, err := ZCDPRho(eps, delta)
	switch {
	case !inRange:
		if !errors.Is(err, ErrBudgetRange) {
			t.Errorf("ZCDPRho(%g, %g) = %g, %v; want ErrBudgetRange", eps, delta, r, err)
		}
	case err != nil || !(r > 0) || math.IsInf(r, 0):
		t.Errorf("ZCDPRho(%g, %g) = %g, %v", eps, delta, r, err)
	case ZCDPEpsilon(r, delta) > eps:
		t.Errorf("ZCDPRho(%g, %g) = %g spends ε = %.17g", eps, delta, r, ZCDPEpsilon(r, delta))
	case ZCDPEpsilon(r*(1+1e-6), delta) <= eps:
		t.Errorf("ZCDPRho(%g, %g) = %g is not tight", eps, delta, r)
	}

	// σ for (Δ, ε, δ): its cost is at most ρ.
	sigma, err := GaussianSigma(sens, eps, delta)
	normal := sens > 1e-290 && sens < 1e290 // no underflow in Δ²
	switch {
	case !inRange:
		if !errors.Is(err, ErrBudgetRange) && !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("GaussianSigma(%g, %g, %g) = %g, %v; want ErrBudgetRange", sens, eps, delta, sigma, err)
		}
	case err != nil:
		if normal && sens < 1e300*math.Sqrt(2*r) {
			t.Errorf("GaussianSigma(%g, %g, %g): %v", sens, eps, delta, err)
		}
	case !(sigma > 0) || math.IsInf(sigma, 0):
		t.Errorf("GaussianSigma(%g, %g, %g) = %g", sens, eps, delta, sigma)
	case normal && GaussianRho(sens/sigma, 1) > r: // Δ²/(2σ²) without overflow
		t.Errorf("GaussianSigma(%g, %g, %g) = %g costs ρ = %g > %g", sens, eps, delta, sigma, GaussianRho(sens/sigma, 1), r)
	}

	// The float-valued conversions are total: NaN only from NaN.
	if d := ZCDPDelta(rho, eps); math.IsNaN(d) != (math.IsNaN(rho) || math.IsNaN(eps)) || d < 0 || d > 1 {
		t.Errorf("ZCDPDelta(%g, %g) = %g", rho, eps, d)
	}
	if e := ZCDPEpsilon(rho, delta); math.IsNaN(e) != (math.IsNaN(rho) || math.IsNaN(delta)) || e < 0 {
		t.Errorf("ZCDPEpsilon(%g, %g) = %g", rho, delta, e)
	}
	if sg := SigmaForRho(sens, rho); math.IsNaN(sg) || sg < 0 {
		t.Errorf("SigmaForRho(%g, %g) = %g", sens, rho, sg)
	}

	// Laplace: the scale is Δ/ε for a valid ε and Δ.
	if b, err := LaplaceScale(sens, eps); err == nil {
		if !(b > 0) || math.IsInf(b, 0) || eps < MinEpsilon || eps > MaxEpsilon {
			t.Errorf("LaplaceScale(%g, %g) = %g", sens, eps, b)
		}
		if b <= 1<<40 {
			if _, err := s.DiscreteLaplace(new(big.Rat).SetFloat64(b)); err != nil {
				t.Errorf("DiscreteLaplace(%g): %v", b, err)
			}
		}
	} else if sens > 0 && !math.IsInf(sens, 0) && eps >= MinEpsilon && eps <= MaxEpsilon && sens/eps <= math.MaxFloat64 {
		t.Errorf("LaplaceScale(%g, %g): %v", sens, eps, err)
	}

	// Sigma2 rounds up, and the sampler draws at whatever it accepts.
	if s2, err := Sigma2(sens); err == nil {
		if s2.Cmp(new(big.Rat).Mul(new(big.Rat).SetFloat64(sens), new(big.Rat).SetFloat64(sens))) < 0 {
			t.Errorf("Sigma2(%g) = %s rounds down", sens, s2.FloatString(6))
		}
		if _, err := s.DiscreteGaussian(s2); err != nil {
			t.Errorf("DiscreteGaussian(Sigma2(%g)): %v", sens, err)
		}
	} else if sens > 0 && sens <= 1<<40 {
		t.Errorf("Sigma2(%g): %v", sens, err)
	}
}
