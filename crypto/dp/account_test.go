package dp

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestZCDPConversion(t *testing.T) {
	for _, tc := range []struct{ rho, delta float64 }{{0.01, 1e-6}, {0.1, 1e-5}, {0.5, 1e-9}, {2, 1e-6}} {
		t.Run(fmt.Sprintf("rho=%g/delta=%g", tc.rho, tc.delta), func(t *testing.T) {
			eps := ZCDPEpsilon(tc.rho, tc.delta)
			classic := tc.rho + 2*math.Sqrt(tc.rho*math.Log(1/tc.delta))
			if eps > classic || eps < tc.rho {
				t.Errorf("eps %.6f outside [ρ, classic %.6f]", eps, classic)
			}
			// Inverse: δ at that ε is at most the requested δ, and a slightly
			// smaller ε would need a larger δ.
			if d := ZCDPDelta(tc.rho, eps); d > tc.delta*(1+1e-9) {
				t.Errorf("δ(ε) = %g > %g", d, tc.delta)
			}
			if d := ZCDPDelta(tc.rho, eps*0.999); d <= tc.delta {
				t.Errorf("ε is not tight: δ(0.999ε) = %g ≤ %g", d, tc.delta)
			}
		})
	}
}

// TestZCDPDeltaKnownValue pins the conversion to a value computed with the
// CKS20 reference implementation (cdp2adp.py, cdp_delta(0.5, 4)).
func TestZCDPDeltaKnownValue(t *testing.T) {
	// At ρ = 1/2 and ε = 4 the optimal α solves (2α−1)/2 − 4 + ln(1−1/α) = 0.
	got := ZCDPDelta(0.5, 4)
	alpha := 4.5
	for range 100 { // Newton on the derivative, independent of the bisection
		f := (2*alpha-1)*0.5 - 4 + math.Log1p(-1/alpha)
		df := 1 + 1/(alpha*(alpha-1))
		alpha -= f / df
	}
	want := math.Exp((alpha-1)*(alpha*0.5-4)+alpha*math.Log1p(-1/alpha)) / (alpha - 1)
	if math.Abs(got-want) > 1e-9*want {
		t.Errorf("ZCDPDelta(0.5, 4) = %g, want %g", got, want)
	}
	// Sanity against the classic tail bound exp(−(ε−ρ)²/(4ρ)), which is weaker.
	if classic := math.Exp(-(4 - 0.5) * (4 - 0.5) / 2); got > classic {
		t.Errorf("CKS20 δ %g worse than classic %g", got, classic)
	}
}

func TestGaussianSigmaRoundTrip(t *testing.T) {
	for _, tc := range []struct{ sens, eps, delta float64 }{
		{1, 1, 1e-6}, {1, 0.1, 1e-9}, {1000, 0.5, 1e-6}, {3, 5, 1e-5},
	} {
		t.Run(fmt.Sprintf("sens=%g/eps=%g/delta=%g", tc.sens, tc.eps, tc.delta), func(t *testing.T) {
			sigma, err := GaussianSigma(tc.sens, tc.eps, tc.delta)
			if err != nil {
				t.Fatal(err)
			}
			rho := GaussianRho(tc.sens, sigma)
			got := ZCDPEpsilon(rho, tc.delta)
			if got > tc.eps {
				t.Errorf("calibrated σ=%g spends ε=%.9f > %g", sigma, got, tc.eps)
			}
			if got < tc.eps*(1-1e-6) {
				t.Errorf("calibrated σ=%g is loose: ε=%.9f for target %g", sigma, got, tc.eps)
			}
			// σ scales linearly with the sensitivity.
			s2, _ := GaussianSigma(2*tc.sens, tc.eps, tc.delta)
			if math.Abs(s2/sigma-2) > 1e-6 {
				t.Errorf("σ(2Δ)/σ(Δ) = %g", s2/sigma)
			}
		})
	}
	for _, bad := range [][3]float64{{0, 1, 1e-6}, {math.NaN(), 1, 1e-6}, {math.Inf(1), 1, 1e-6}} {
		if _, err := GaussianSigma(bad[0], bad[1], bad[2]); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("GaussianSigma%v: %v", bad, err)
		}
	}
	for _, bad := range [][3]float64{{1, 0, 1e-6}, {1, 1, 0}, {1, 1, 1}, {1, 1e-20, 1e-6}} {
		if _, err := GaussianSigma(bad[0], bad[1], bad[2]); !errors.Is(err, ErrBudgetRange) {
			t.Errorf("GaussianSigma%v: %v", bad, err)
		}
	}
}

func TestSplitRhoAcrossStatistics(t *testing.T) {
	const eps, delta = 1.0, 1e-9
	rho, err := ZCDPRho(eps, delta)
	if err != nil {
		t.Fatal(err)
	}
	// Three statistics with different sensitivities, ρ split evenly: the
	// total cost must be the query's (ε, δ).
	sens := []float64{1, 250, 62500}
	var total float64
	for _, d := range sens {
		total += GaussianRho(d, SigmaForRho(d, rho/float64(len(sens))))
	}
	if got := ZCDPEpsilon(total, delta); got > eps || got < eps*(1-1e-6) {
		t.Errorf("split release costs ε=%.9f, want %g", got, eps)
	}
	if _, err := ZCDPRho(0, delta); !errors.Is(err, ErrBudgetRange) {
		t.Errorf("eps=0: %v", err)
	}
}

func TestLaplaceScale(t *testing.T) {
	if b, err := LaplaceScale(2, 0.5); err != nil || b != 4 {
		t.Errorf("LaplaceScale(2, 0.5) = %v, %v", b, err)
	}
	if _, err := LaplaceScale(1, 0); !errors.Is(err, ErrBudgetRange) {
		t.Errorf("eps=0: %v", err)
	}
	if _, err := LaplaceScale(math.NaN(), 1); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("sensitivity NaN: %v", err)
	}
	if _, err := LaplaceScale(1e305, MinEpsilon); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("infinite scale: %v", err)
	}
}
