package stats

import (
	"fmt"
	"math"
	"testing"
)

// Upper 5 % and 1 % points of the chi-square distribution, as printed (to
// more digits) in the standard tables.
func TestChiSquareSFCriticalValues(t *testing.T) {
	for _, tc := range []struct {
		x, df, want, tol float64
	}{
		// Table entries (x to three decimals, p to four).
		{3.84, 1, 0.0500, 5e-5},
		{5.99, 2, 0.0500, 5e-5},
		{7.815, 3, 0.0500, 5e-5},
		{11.07, 5, 0.0500, 5e-5},
		{6.63, 1, 0.0100, 5e-5},
		{2.706, 1, 0.1000, 5e-5},
		// Full-precision critical values.
		{3.841458820694124, 1, 0.05, 1e-12},
		{5.991464547107979, 2, 0.05, 1e-12},
		{7.814727903251178, 3, 0.05, 1e-12},
		{9.487729036781154, 4, 0.05, 1e-12},
		{11.070497693516351, 5, 0.05, 1e-12},
		{18.307038053275146, 10, 0.05, 1e-12},
		{43.77297182574219, 30, 0.05, 1e-11},
		{124.34211340400407, 100, 0.05, 1e-11},
		{6.634896601021214, 1, 0.01, 1e-12},
		{15.086272469388987, 5, 0.01, 1e-12},
	} {
		t.Run(fmt.Sprintf("x=%g/df=%g", tc.x, tc.df), func(t *testing.T) {
			if got := ChiSquareSF(tc.x, tc.df); math.Abs(got-tc.want) > tc.tol {
				t.Errorf("ChiSquareSF = %.15g, want %g ± %g", got, tc.want, tc.tol)
			}
		})
	}
}

// Closed forms: df=1 is erfc(√(x/2)), df=3 adds √(2x/π)e^(−x/2), even df
// are a Poisson sum e^(−x/2) Σ_{k<df/2} (x/2)^k/k!. Compared in relative
// terms, including far tails where 1 − P would have lost every digit.
func TestChiSquareSFClosedForms(t *testing.T) {
	even := func(x float64, df int) float64 {
		var s, term float64 = 0, 1
		for k := 0; k < df/2; k++ {
			if k > 0 {
				term *= x / 2 / float64(k)
			}
			s += term
		}
		return math.Exp(-x/2) * s
	}
	for _, df := range []int{1, 2, 3, 4, 6, 10, 20} {
		for _, x := range []float64{0.001, 0.1, 0.5, 1, 2, 3.5, 7, 15, 30, 60, 150} {
			t.Run(fmt.Sprintf("df=%d/x=%g", df, x), func(t *testing.T) {
				var want float64
				switch {
				case df == 1:
					want = math.Erfc(math.Sqrt(x / 2))
				case df == 3:
					want = math.Erfc(math.Sqrt(x/2)) + math.Sqrt(2*x/math.Pi)*math.Exp(-x/2)
				default:
					want = even(x, df)
				}
				got := ChiSquareSF(x, float64(df))
				if math.Abs(got-want) > 1e-12*want+1e-300 {
					t.Errorf("ChiSquareSF(%g, %d) = %.16g, want %.16g", x, df, got, want)
				}
				if p := GammaP(float64(df)/2, x/2); math.Abs(p+got-1) > 1e-14 {
					t.Errorf("P + Q = %.17g, want 1", p+got)
				}
			})
		}
	}
}

func TestGammaP(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, x float64
		want float64
		tol  float64
	}{
		{"a=1 is exponential", 1, 0.7, 1 - math.Exp(-0.7), 1e-15},
		{"a=1/2 is erf", 0.5, 2.3, math.Erf(math.Sqrt(2.3)), 1e-14},
		{"a=1/2 small x", 0.5, 1e-8, math.Erf(1e-4), 1e-14},
		// P(a, a) → 1/2 + 1/(3√(2πa)) for large a (Temme's expansion).
		{"large a at the mode", 1e4, 1e4, 0.5 + 1/(3*math.Sqrt(2*math.Pi*1e4)), 1e-6},
		{"x=0", 3, 0, 0, 0},
		{"x=+Inf", 3, math.Inf(1), 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := GammaP(tc.a, tc.x); math.Abs(got-tc.want) > tc.tol {
				t.Errorf("GammaP(%g, %g) = %.16g, want %.16g", tc.a, tc.x, got, tc.want)
			}
		})
	}
	for _, bad := range [][2]float64{{0, 1}, {-1, 1}, {1, -1}, {math.NaN(), 1}, {1, math.NaN()}, {math.Inf(1), 1}} {
		if p, q := GammaP(bad[0], bad[1]), GammaQ(bad[0], bad[1]); !math.IsNaN(p) || !math.IsNaN(q) {
			t.Errorf("GammaP/Q(%g, %g) = %g, %g, want NaN", bad[0], bad[1], p, q)
		}
	}
	if got := ChiSquareSF(-1, 3); got != 1 {
		t.Errorf("ChiSquareSF(-1, 3) = %g, want 1", got)
	}
	if got := ChiSquareSF(1, 0); !math.IsNaN(got) {
		t.Errorf("ChiSquareSF(1, 0) = %g, want NaN", got)
	}
}
