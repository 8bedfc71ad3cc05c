package stats

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestMeanVarianceMatchRawData(t *testing.T) {
	for _, tc := range []struct {
		n      int
		mx, sx float64
	}{
		{n: 10, mx: 0, sx: 1},
		{n: 500, mx: 120, sx: 35},
		{n: 5000, mx: -3.5, sx: 0.01},
		{n: 20000, mx: 1000, sx: 400},
	} {
		t.Run(fmt.Sprintf("n=%d/mean=%g/sd=%g", tc.n, tc.mx, tc.sx), func(t *testing.T) {
			x, y := bivariate(newRand(uint64(tc.n)), tc.n, tc.mx, 0, tc.sx, 1, 0.3)
			wantM, wantV, _ := twoPass(x, y)
			s := sumsOf(x, y)
			m, err := Mean(s.X(), MomentNoise{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "mean", m.Value, wantM, 1e-9)
			// Exact mode: the interval is the plain z interval m ± 1.96 s/√n.
			near(t, "mean SE", m.SE, math.Sqrt(wantV/float64(tc.n)), 1e-9)
			near(t, "mean lo", m.Lo, wantM-Z95*math.Sqrt(wantV/float64(tc.n)), 1e-9)
			if m.NoiseSE != 0 {
				t.Errorf("exact mode NoiseSE = %g, want 0", m.NoiseSE)
			}
			v, err := Variance(s.X(), MomentNoise{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "variance", v.Value, wantV, 1e-9)
			if !(v.Lo < v.Value && v.Value < v.Hi) || v.Lo <= 0 {
				t.Errorf("variance interval [%g, %g] does not bracket %g in (0, ∞)", v.Lo, v.Hi, v.Value)
			}
			near(t, "log-variance SE", v.SE, math.Sqrt(2/float64(tc.n-1)), 1e-12)
		})
	}
}

// The DP term must match the delta-method formula, and must be the only
// thing that changes when noise is declared.
func TestMeanVarianceNoiseTerm(t *testing.T) {
	m := Moments{N: 400, Sum: 2000, SumSq: 400*25 + 399*9} // mean 5, s² = 9
	nz := MomentNoise{N: 3, Sum: 40, SumSq: 900}
	exact, err := Mean(m, MomentNoise{})
	if err != nil {
		t.Fatal(err)
	}
	noisy, err := Mean(m, nz)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "mean", noisy.Value, 5, 1e-12)
	near(t, "sampling SE", noisy.SamplingSE, exact.SE, 1e-12)
	near(t, "sampling SE", noisy.SamplingSE, math.Sqrt(9.0/400), 1e-12)
	near(t, "noise SE", noisy.NoiseSE, math.Sqrt(40*40+25*9)/400, 1e-12)
	near(t, "SE", noisy.SE, math.Hypot(noisy.SamplingSE, noisy.NoiseSE), 1e-12)
	near(t, "hi", noisy.Hi, 5+Z95*noisy.SE, 1e-12)

	v, err := Variance(m, nz)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "variance", v.Value, 9, 1e-12)
	wantDP := math.Sqrt(900*900+4*25*40*40+(25-9)*(25-9)*9) / 399 / 9
	near(t, "variance noise SE (log scale)", v.NoiseSE, wantDP, 1e-12)
	near(t, "variance hi", v.Hi, 9*math.Exp(Z95*v.SE), 1e-12)
}

// The delta-method gradient of the variance must match a numerical derivative.
func TestVarianceGradientNumerical(t *testing.T) {
	m := Moments{N: 57, Sum: 301.5, SumSq: 2210.25}
	f := func(mm Moments) float64 { return mm.sampleVariance() }
	v := f(m)
	for _, tc := range []struct {
		name string
		nz   MomentNoise
		bump func(Moments, float64) Moments
	}{
		{"n", MomentNoise{N: 1}, func(a Moments, h float64) Moments { a.N += h; return a }},
		{"sum", MomentNoise{Sum: 1}, func(a Moments, h float64) Moments { a.Sum += h; return a }},
		{"sumsq", MomentNoise{SumSq: 1}, func(a Moments, h float64) Moments { a.SumSq += h; return a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const h = 1e-5
			grad := (f(tc.bump(m, h)) - f(tc.bump(m, -h))) / (2 * h)
			e, err := Variance(m, tc.nz)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "|∂v|/v", e.NoiseSE, math.Abs(grad)/v, 1e-6)
		})
	}
}

func TestMomentsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Moments
		nz   MomentNoise
		want error
	}{
		{"nan sum", Moments{N: 10, Sum: math.NaN(), SumSq: 1}, MomentNoise{}, ErrNotFinite},
		{"inf n", Moments{N: math.Inf(1), Sum: 1, SumSq: 1}, MomentNoise{}, ErrNotFinite},
		{"negative noise", Moments{N: 10, Sum: 1, SumSq: 5}, MomentNoise{Sum: -1}, ErrNegativeNoise},
		{"nan noise", Moments{N: 10, Sum: 1, SumSq: 5}, MomentNoise{N: math.NaN()}, ErrNotFinite},
		{"noisy n negative", Moments{N: -2, Sum: 1, SumSq: 5}, MomentNoise{}, ErrNonPositiveN},
		{"noisy n zero", Moments{N: 0, Sum: 1, SumSq: 5}, MomentNoise{}, ErrNonPositiveN},
		{"n below 2", Moments{N: 1.5, Sum: 1, SumSq: 5}, MomentNoise{}, ErrTooFewObservations},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Mean(tc.m, tc.nz); !errors.Is(err, tc.want) {
				t.Errorf("Mean: err = %v, want %v", err, tc.want)
			}
			if _, err := Variance(tc.m, tc.nz); !errors.Is(err, tc.want) {
				t.Errorf("Variance: err = %v, want %v", err, tc.want)
			}
		})
	}
	// Noise can drive Σx² below (Σx)²/n: the variance is then undefined but
	// the mean is still reported, with its sampling part clamped at 0.
	m := Moments{N: 10, Sum: 10, SumSq: 9}
	if _, err := Variance(m, MomentNoise{}); !errors.Is(err, ErrZeroVariance) {
		t.Errorf("Variance of negative noisy variance: err = %v, want ErrZeroVariance", err)
	}
	e, err := Mean(m, MomentNoise{Sum: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e.SamplingSE != 0 || e.NoiseSE != 0.2 {
		t.Errorf("Mean with negative noisy variance: SamplingSE=%g NoiseSE=%g, want 0 and 0.2", e.SamplingSE, e.NoiseSE)
	}
}
