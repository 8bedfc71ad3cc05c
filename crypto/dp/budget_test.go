package dp

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// The values a peer or a query file can put in ε or δ that are not a
// privacy cost: tiny, huge, negative and not finite.
var badCosts = []float64{0, math.Copysign(0, -1), -1, 5e-324, 1e-300, 1e-20, 1e300, math.MaxFloat64,
	math.Inf(1), math.Inf(-1), math.NaN()}

// badEpsilons are also out of range for ε: 1e-15 is where √(L+ε) − √L
// used to round to 0.
var badEpsilons = append([]float64{1e-15, 1e-7, math.Nextafter(MinEpsilon, 0), math.Nextafter(MaxEpsilon, math.Inf(1)), 1e4}, badCosts...)

// within fails t unless f returns within d: no calibration may spin,
// whatever its input.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
	}
}

func TestCheckBudget(t *testing.T) {
	for _, tc := range []struct{ eps, delta float64 }{
		{MinEpsilon, MinDelta}, {MaxEpsilon, MaxDelta}, {1, 1e-6}, {8, 1e-6}, {0.5, 1e-9},
	} {
		if err := CheckBudget(tc.eps, tc.delta); err != nil {
			t.Errorf("CheckBudget(%g, %g): %v", tc.eps, tc.delta, err)
		}
	}
	epsRange, deltaRange := "[1e-06, 1000]", "[1e-15, 0.01]"
	for _, eps := range badEpsilons {
		t.Run(fmt.Sprintf("epsilon=%g", eps), func(t *testing.T) {
			err := CheckBudget(eps, 1e-6)
			if !errors.Is(err, ErrBudgetRange) || !strings.Contains(err.Error(), "epsilon") || !strings.Contains(err.Error(), epsRange) {
				t.Fatalf("want an error naming epsilon and %s, got %v", epsRange, err)
			}
		})
	}
	badDelta := append([]float64{math.Nextafter(MinDelta, 0), 1e-16, math.Nextafter(MaxDelta, 1), 0.5, 1}, badCosts...)
	for _, delta := range badDelta {
		t.Run(fmt.Sprintf("delta=%g", delta), func(t *testing.T) {
			err := CheckBudget(1, delta)
			if !errors.Is(err, ErrBudgetRange) || !strings.Contains(err.Error(), "delta") || !strings.Contains(err.Error(), deltaRange) {
				t.Fatalf("want an error naming delta and %s, got %v", deltaRange, err)
			}
		})
	}
}

// TestCheckExactBudget: an exact query declares no privacy cost, since it
// has none to charge; any ε or δ is refused, naming what to do.
func TestCheckExactBudget(t *testing.T) {
	if err := CheckExactBudget(0, 0); err != nil {
		t.Errorf("CheckExactBudget(0, 0): %v", err)
	}
	for _, tc := range []struct{ eps, delta float64 }{
		{0, 1e-6}, {8, 0}, {8, 1e-6}, {MaxEpsilon, MaxDelta},
		{1e-20, 0}, {-1, 0}, {math.NaN(), 0}, {math.Inf(1), 0}, {1e300, 0},
		{0, 1e-20}, {0, -1e-6}, {0, math.NaN()}, {0, 0.5}, {0, math.Inf(1)},
	} {
		if err := CheckExactBudget(tc.eps, tc.delta); !errors.Is(err, ErrBudgetRange) || !strings.Contains(err.Error(), "leave epsilon and delta out") {
			t.Errorf("CheckExactBudget(%g, %g) = %v, want ErrBudgetRange", tc.eps, tc.delta, err)
		}
	}
}

// TestZCDPRhoOverRange checks the conversion at the corners of the
// accepted ranges: ρ is positive and finite, spends at most ε, and is
// tight (a slightly larger ρ would spend more).
func TestZCDPRhoOverRange(t *testing.T) {
	for _, eps := range []float64{MinEpsilon, 1e-3, 1, 10, MaxEpsilon} {
		for _, delta := range []float64{MinDelta, 1e-9, 1e-6, MaxDelta} {
			t.Run(fmt.Sprintf("eps=%g/delta=%g", eps, delta), func(t *testing.T) {
				rho, err := ZCDPRho(eps, delta)
				if err != nil {
					t.Fatal(err)
				}
				if !(rho > 0) || math.IsInf(rho, 0) {
					t.Fatalf("ρ = %g", rho)
				}
				if got := ZCDPEpsilon(rho, delta); got > eps {
					t.Errorf("ρ = %g spends ε = %.15g > %g", rho, got, eps)
				}
				if got := ZCDPEpsilon(rho*(1+1e-9), delta); got <= eps {
					t.Errorf("ρ = %g is not tight: 1.000000001ρ still spends ε = %.15g", rho, got)
				}
			})
		}
	}
}

// TestCalibrationRefusesBadCosts is the regression test for ε = 1e-20,
// on which ZCDPRho used to spin forever: every calibration refuses each
// bad ε and δ at once, with ErrBudgetRange.
func TestCalibrationRefusesBadCosts(t *testing.T) {
	for _, v := range badEpsilons {
		t.Run(fmt.Sprintf("epsilon=%g", v), func(t *testing.T) {
			within(t, 5*time.Second, "calibration", func() {
				for name, err := range map[string]error{
					"ZCDPRho":       second(ZCDPRho(v, 1e-6)),
					"GaussianSigma": second(GaussianSigma(1, v, 1e-6)),
					"LaplaceScale":  second(LaplaceScale(1, v)),
				} {
					if !errors.Is(err, ErrBudgetRange) {
						t.Errorf("%s: %v, want ErrBudgetRange", name, err)
					}
				}
			})
		})
	}
	for _, v := range badCosts {
		t.Run(fmt.Sprintf("delta=%g", v), func(t *testing.T) {
			within(t, 5*time.Second, "calibration", func() {
				for name, err := range map[string]error{
					"ZCDPRho":       second(ZCDPRho(1, v)),
					"GaussianSigma": second(GaussianSigma(1, 1, v)),
				} {
					if !errors.Is(err, ErrBudgetRange) {
						t.Errorf("%s: %v, want ErrBudgetRange", name, err)
					}
				}
			})
		})
	}
}

func second(_ float64, err error) error { return err }

// TestAccountingTotal feeds the float-valued conversions every special
// value: they return at once, and NaN only for a NaN input.
func TestAccountingTotal(t *testing.T) {
	specials := append([]float64{1, 0.5, 1e-6}, badCosts...)
	within(t, 10*time.Second, "accounting", func() {
		for _, x := range specials {
			for _, y := range specials {
				nan := math.IsNaN(x) || math.IsNaN(y)
				if d := ZCDPDelta(x, y); math.IsNaN(d) != nan || d < 0 || d > 1 {
					t.Errorf("ZCDPDelta(%g, %g) = %g", x, y, d)
				}
				if e := ZCDPEpsilon(x, y); math.IsNaN(e) != nan || e < 0 {
					t.Errorf("ZCDPEpsilon(%g, %g) = %g", x, y, e)
				}
				if s := SigmaForRho(x, y); math.IsNaN(s) || s < 0 {
					t.Errorf("SigmaForRho(%g, %g) = %g", x, y, s)
				}
			}
		}
	})
	// An invalid ρ or sensitivity never means less noise.
	for _, rho := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if s := SigmaForRho(1, rho); !math.IsInf(s, 1) {
			t.Errorf("SigmaForRho(1, %g) = %g, want +Inf", rho, s)
		}
	}
}
