package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// newRand returns the keyed PRNG every test in this package draws from, so
// that each run sees the same data.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// bivariate draws n pairs with means mx, my, standard deviations sx, sy and
// correlation rho.
func bivariate(rng *rand.Rand, n int, mx, my, sx, sy, rho float64) (x, y []float64) {
	x, y = make([]float64, n), make([]float64, n)
	c := math.Sqrt(1 - rho*rho)
	for i := range x {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		x[i] = mx + sx*a
		y[i] = my + sy*(rho*a+c*b)
	}
	return x, y
}

// sumsOf computes the exact sufficient statistics of the raw vectors.
func sumsOf(x, y []float64) Sums {
	s := Sums{N: float64(len(x))}
	for i := range x {
		s.SumX += x[i]
		s.SumY += y[i]
		s.SumXX += x[i] * x[i]
		s.SumYY += y[i] * y[i]
		s.SumXY += x[i] * y[i]
	}
	return s
}

// addNoise returns s with independent N(0, σ²) noise on each component.
func addNoise(rng *rand.Rand, s Sums, nz Noise) Sums {
	return Sums{
		N:     s.N + nz.N*rng.NormFloat64(),
		SumX:  s.SumX + nz.SumX*rng.NormFloat64(),
		SumY:  s.SumY + nz.SumY*rng.NormFloat64(),
		SumXX: s.SumXX + nz.SumXX*rng.NormFloat64(),
		SumYY: s.SumYY + nz.SumYY*rng.NormFloat64(),
		SumXY: s.SumXY + nz.SumXY*rng.NormFloat64(),
	}
}

// twoPass returns mean, sample variance of x and the Pearson correlation of
// x and y by the textbook centred two-pass formulas.
func twoPass(x, y []float64) (mx, vx, r float64) {
	n := float64(len(x))
	var my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxx, syy, sxy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	return mx, sxx / (n - 1), sxy / math.Sqrt(sxx*syy)
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))) {
		t.Errorf("%s = %.12g, want %.12g (tol %g)", what, got, want, tol)
	}
}
