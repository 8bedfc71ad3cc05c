package stats

import (
	"testing"
)

// Coverage: each repetition draws a fresh sample of n people from a known
// population, computes the exact sums, adds DP noise of known σ, and checks
// whether the 95 % interval covers the population value. With the DP term
// the coverage must be close to 95 %; with the noise declared as 0 (the
// interval a naive analysis would report) it must fall well short, which
// shows that the DP term is what makes the intervals honest.
//
// The binomial sd of a coverage over 2000 repetitions is 0.005; the bands
// allow for that and for the first-order error of the delta method.
func TestCoverage(t *testing.T) {
	const (
		reps           = 2000
		n              = 200
		mx, my, sx, sy = 4.0, 2.0, 3.0, 2.0
		rho            = 0.5
	)
	pearsonNoise := func(k float64) Noise {
		return Noise{N: 1 * k, SumX: 10 * k, SumY: 10 * k, SumXX: 100 * k, SumYY: 60 * k, SumXY: 120 * k}
	}
	for _, tc := range []struct {
		name           string
		noise          Noise
		truth          float64
		ci             func(Sums, Noise) (Estimate, error)
		lo, hi         float64 // accepted coverage band with the DP term
		naiveMax       float64 // the naive interval must cover at most this
		minNoiseToSamp float64 // mean NoiseSE/SamplingSE the case must reach
	}{
		{
			// DP noise about as large as the sampling error.
			name: "pearson/noise=sampling", noise: pearsonNoise(0.5), truth: rho, ci: PearsonCI,
			lo: 0.935, hi: 0.97, naiveMax: 0.85, minNoiseToSamp: 0.9,
		},
		{
			// DP noise twice the sampling error: the noise is additive on the
			// r scale, so the Fisher-z interval errs on the wide side.
			name: "pearson/noise=2×sampling", noise: pearsonNoise(1), truth: rho, ci: PearsonCI,
			lo: 0.94, hi: 0.985, naiveMax: 0.70, minNoiseToSamp: 1.8,
		},
		{
			name: "mean", noise: Noise{N: 2, SumX: 50}, truth: mx,
			ci: func(s Sums, nz Noise) (Estimate, error) { return Mean(s.X(), nz.X()) },
			lo: 0.935, hi: 0.965, naiveMax: 0.85, minNoiseToSamp: 0.9,
		},
		{
			name: "variance", noise: Noise{N: 1, SumX: 10, SumXX: 200}, truth: sx * sx,
			ci: func(s Sums, nz Noise) (Estimate, error) { return Variance(s.X(), nz.X()) },
			lo: 0.935, hi: 0.965, naiveMax: 0.85, minNoiseToSamp: 0.9,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRand(2026)
			var cover, naive int
			var ratio float64
			for i := 0; i < reps; i++ {
				x, y := bivariate(rng, n, mx, my, sx, sy, rho)
				s := addNoise(rng, sumsOf(x, y), tc.noise)
				e, err := tc.ci(s, tc.noise)
				if err != nil {
					t.Fatalf("rep %d: %v", i, err)
				}
				if e.Lo <= tc.truth && tc.truth <= e.Hi {
					cover++
				}
				ratio += e.NoiseSE / e.SamplingSE / reps
				e0, err := tc.ci(s, Noise{})
				if err != nil {
					t.Fatalf("rep %d: %v", i, err)
				}
				if e0.Lo <= tc.truth && tc.truth <= e0.Hi {
					naive++
				}
			}
			cov, ncov := float64(cover)/reps, float64(naive)/reps
			t.Logf("coverage with DP term %.4f, without %.4f, mean NoiseSE/SamplingSE %.2f", cov, ncov, ratio)
			if cov < tc.lo || cov > tc.hi {
				t.Errorf("coverage %.4f outside [%g, %g]", cov, tc.lo, tc.hi)
			}
			if ratio < tc.minNoiseToSamp {
				t.Errorf("mean NoiseSE/SamplingSE %.2f < %g: the noise is too small for this case", ratio, tc.minNoiseToSamp)
			}
			if ncov > tc.naiveMax {
				t.Errorf("coverage without the DP term %.4f > %g: the DP term should matter here", ncov, tc.naiveMax)
			}
		})
	}
}
