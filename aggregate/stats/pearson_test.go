package stats

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestPearsonMatchesTwoPass(t *testing.T) {
	for _, tc := range []struct {
		n              int
		mx, my, sx, sy float64
		rho            float64
	}{
		{n: 20, sx: 1, sy: 1, rho: 0},
		{n: 300, mx: 50, my: 2, sx: 10, sy: 0.5, rho: 0.6},
		{n: 2000, mx: -7, my: 300, sx: 3, sy: 80, rho: -0.35},
		{n: 10000, mx: 120, my: 0.3, sx: 40, sy: 0.2, rho: 0.97},
	} {
		t.Run(fmt.Sprintf("n=%d/rho=%g", tc.n, tc.rho), func(t *testing.T) {
			x, y := bivariate(newRand(uint64(tc.n)+7), tc.n, tc.mx, tc.my, tc.sx, tc.sy, tc.rho)
			_, _, want := twoPass(x, y)
			s := sumsOf(x, y)
			r, lo, hi, err := Pearson(s, Noise{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "r", r, want, 1e-9)
			// Exact mode: the plain Fisher-z interval.
			se := 1 / math.Sqrt(float64(tc.n)-3)
			near(t, "lo", lo, math.Tanh(math.Atanh(want)-Z95*se), 1e-9)
			near(t, "hi", hi, math.Tanh(math.Atanh(want)+Z95*se), 1e-9)
			// Swapping x and y must not change anything.
			sw := Sums{N: s.N, SumX: s.SumY, SumY: s.SumX, SumXX: s.SumYY, SumYY: s.SumXX, SumXY: s.SumXY}
			r2, _, _, err := Pearson(sw, Noise{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "r swapped", r2, r, 1e-12)
		})
	}
}

// Textbook Fisher-z intervals (e.g. r = 0.5, n = 100 → [0.337, 0.634]).
func TestPearsonFisherTextbook(t *testing.T) {
	for _, tc := range []struct {
		r, n           float64
		wantLo, wantHi float64
	}{
		{r: 0.5, n: 100, wantLo: 0.337, wantHi: 0.634},
		{r: -0.5, n: 100, wantLo: -0.634, wantHi: -0.337},
		{r: 0.3, n: 50, wantLo: 0.024, wantHi: 0.534},
		{r: 0, n: 28, wantLo: -0.373, wantHi: 0.373},
	} {
		t.Run(fmt.Sprintf("r=%g/n=%g", tc.r, tc.n), func(t *testing.T) {
			// Standardized sums: Σx = Σy = 0, Σx² = Σy² = n, Σxy = r·n.
			s := Sums{N: tc.n, SumXX: tc.n, SumYY: tc.n, SumXY: tc.r * tc.n}
			r, lo, hi, err := Pearson(s, Noise{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, "r", r, tc.r, 1e-12)
			near(t, "lo", lo, tc.wantLo, 5e-4)
			near(t, "hi", hi, tc.wantHi, 5e-4)
		})
	}
}

// The analytic gradient behind the DP term must match a numerical derivative
// of r in every one of the six sums.
func TestPearsonGradientNumerical(t *testing.T) {
	x, y := bivariate(newRand(11), 250, 20, -4, 6, 2, 0.45)
	s := sumsOf(x, y)
	r0, _, _, _ := Pearson(s, Noise{})
	bumps := []struct {
		name string
		set  func(*Sums, float64)
		nz   Noise
	}{
		{"n", func(s *Sums, h float64) { s.N += h }, Noise{N: 1}},
		{"sumx", func(s *Sums, h float64) { s.SumX += h }, Noise{SumX: 1}},
		{"sumy", func(s *Sums, h float64) { s.SumY += h }, Noise{SumY: 1}},
		{"sumxx", func(s *Sums, h float64) { s.SumXX += h }, Noise{SumXX: 1}},
		{"sumyy", func(s *Sums, h float64) { s.SumYY += h }, Noise{SumYY: 1}},
		{"sumxy", func(s *Sums, h float64) { s.SumXY += h }, Noise{SumXY: 1}},
	}
	for _, b := range bumps {
		t.Run(b.name, func(t *testing.T) {
			const h = 1e-3
			up, dn := s, s
			b.set(&up, h)
			b.set(&dn, -h)
			ru, _, _, _ := Pearson(up, Noise{})
			rd, _, _, _ := Pearson(dn, Noise{})
			grad := (ru - rd) / (2 * h)
			e, err := PearsonCI(s, b.nz)
			if err != nil {
				t.Fatal(err)
			}
			// NoiseSE is on the z scale: |∂r/∂S|·σ/(1 − r²) with σ = 1.
			got := e.NoiseSE * (1 - r0*r0)
			if math.Abs(got-math.Abs(grad)) > 1e-6*math.Max(math.Abs(grad), 1e-9) {
				t.Errorf("|∂r/∂%s| = %.10g, numerical %.10g", b.name, got, math.Abs(grad))
			}
		})
	}
}

func TestPearsonNoiseWidens(t *testing.T) {
	s := Sums{N: 100, SumXX: 100, SumYY: 100, SumXY: 50}
	_, lo0, hi0, err := Pearson(s, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	prevW := hi0 - lo0
	for _, sigma := range []float64{1, 5, 20} {
		e, err := PearsonCI(s, Noise{N: sigma, SumX: sigma, SumY: sigma, SumXX: sigma, SumYY: sigma, SumXY: sigma})
		if err != nil {
			t.Fatal(err)
		}
		if w := e.Hi - e.Lo; !(w > prevW) {
			t.Errorf("σ=%g: width %g not wider than %g", sigma, w, prevW)
		} else {
			prevW = w
		}
		near(t, "sampling SE", e.SamplingSE, 1/math.Sqrt(97), 1e-12)
		if e.Scale != FisherZ || !(e.Lo < 0.5 && 0.5 < e.Hi) {
			t.Errorf("σ=%g: got %+v", sigma, e)
		}
	}
}

func TestPearsonClamp(t *testing.T) {
	// Perfectly correlated exact data: r = 1 with a zero-width interval.
	s := Sums{N: 10, SumXX: 10, SumYY: 10, SumXY: 10}
	r, lo, hi, err := Pearson(s, Noise{})
	if err != nil || r != 1 || lo != 1 || hi != 1 {
		t.Errorf("exact r=1: got r=%g [%g, %g] err=%v", r, lo, hi, err)
	}
	// Noise pushed Σxy above what the variances allow: r is clamped.
	s = Sums{N: 50, SumXX: 50, SumYY: 50, SumXY: 52}
	e, err := PearsonCI(s, Noise{SumXY: 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Value != 1 || e.Hi != 1 || !(e.Lo < 1 && e.Lo > 0) || e.Scale != Linear {
		t.Errorf("noisy r>1: got %+v", e)
	}
	near(t, "lo", e.Lo, 1-Z95*3*50/2500, 1e-12)
	s.SumXY = -60
	e, err = PearsonCI(s, Noise{SumXY: 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Value != -1 || e.Lo != -1 || !(e.Hi > -1) {
		t.Errorf("noisy r<-1: got %+v", e)
	}
}

func TestPearsonErrors(t *testing.T) {
	ok := Sums{N: 100, SumX: 3, SumY: 4, SumXX: 100, SumYY: 100, SumXY: 50}
	for _, tc := range []struct {
		name string
		s    Sums
		nz   Noise
		want error
	}{
		{"n=3", Sums{N: 3, SumXX: 3, SumYY: 3, SumXY: 1}, Noise{}, ErrTooFewObservations},
		{"noisy n negative", Sums{N: -1, SumXX: 3, SumYY: 3, SumXY: 1}, Noise{}, ErrNonPositiveN},
		{"noisy n zero", Sums{N: 0, SumXX: 3, SumYY: 3, SumXY: 1}, Noise{}, ErrNonPositiveN},
		{"constant x", Sums{N: 10, SumX: 20, SumXX: 40, SumYY: 10, SumXY: 0}, Noise{}, ErrZeroVariance},
		{"constant y", Sums{N: 10, SumY: 20, SumYY: 40, SumXX: 10, SumXY: 0}, Noise{}, ErrZeroVariance},
		{"noisy negative variance", Sums{N: 10, SumX: 20, SumXX: 30, SumYY: 10}, Noise{}, ErrZeroVariance},
		{"nan", Sums{N: 10, SumXY: math.NaN(), SumXX: 1, SumYY: 1}, Noise{}, ErrNotFinite},
		{"inf", Sums{N: 10, SumXX: math.Inf(1), SumYY: 1}, Noise{}, ErrNotFinite},
		{"negative noise", ok, Noise{SumXY: -1}, ErrNegativeNoise},
		{"inf noise", ok, Noise{N: math.Inf(1)}, ErrNotFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := Pearson(tc.s, tc.nz)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
