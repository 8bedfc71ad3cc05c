package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestRateKnownValues(t *testing.T) {
	// 100 claims over 1000 person-years: 0.1 with log-scale SE 1/√100.
	r, err := Rate(Bucket{Claims: 100, Exposure: 1000})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rate", r.Value, 0.1, 1e-15)
	near(t, "lo", r.Lo, 0.0822, 1e-4)
	near(t, "hi", r.Hi, 0.1217, 1e-4)
	near(t, "lo exact", r.Lo, 0.1*math.Exp(-Z95*0.1), 1e-14)

	// RR 2 with SE √(1/50 + 1/25) on the log scale: [1.237, 3.234].
	rr, err := RelativeRisk(Bucket{Claims: 50, Exposure: 1000}, Bucket{Claims: 25, Exposure: 1000})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "RR", rr.Value, 2, 1e-15)
	near(t, "RR lo", rr.Lo, 1.237, 1e-3)
	near(t, "RR hi", rr.Hi, 3.234, 1e-3)

	// DP noise on both totals adds (σ_C/C)² + (σ_E/E)² on the log scale.
	r, err = Rate(Bucket{Claims: 100, Exposure: 1000, ClaimsNoise: 10, ExposureNoise: 50})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "noise SE", r.NoiseSE, math.Sqrt(0.01+0.0025), 1e-15)
	near(t, "SE", r.SE, math.Sqrt(0.02+0.0025), 1e-15)
	near(t, "hi", r.Hi, 0.1*math.Exp(Z95*math.Sqrt(0.0225)), 1e-14)
	if r.Scale != Log {
		t.Errorf("scale %v, want log", r.Scale)
	}
}

func TestRatesPerBucket(t *testing.T) {
	buckets := []Bucket{
		{Claims: 40, Exposure: 1000, ClaimsNoise: 3, ExposureNoise: 3},
		{Claims: 55, Exposure: 1010, ClaimsNoise: 3, ExposureNoise: 3},
		{Claims: 90, Exposure: 990, ClaimsNoise: 3, ExposureNoise: 3},
	}
	for ref := range buckets {
		t.Run(fmt.Sprintf("ref=%d", ref), func(t *testing.T) {
			got, err := Rates(buckets, ref)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range buckets {
				want, _ := Rate(b)
				if got[i].Rate != want {
					t.Errorf("bucket %d rate %+v, want %+v", i, got[i].Rate, want)
				}
				if i == ref {
					if got[i].RR.Value != 1 || got[i].RR.Lo != 1 || got[i].RR.Hi != 1 {
						t.Errorf("reference RR %+v, want exactly 1", got[i].RR)
					}
					continue
				}
				near(t, "RR", got[i].RR.Value, want.Value/got[ref].Rate.Value, 1e-14)
				near(t, "RR SE²", sq(got[i].RR.SE), sq(want.SE)+sq(got[ref].Rate.SE), 1e-14)
			}
		})
	}
}

func TestRatesErrors(t *testing.T) {
	good := Bucket{Claims: 10, Exposure: 100}
	for _, tc := range []struct {
		name    string
		buckets []Bucket
		ref     int
		want    error
	}{
		{"ref negative", []Bucket{good, good}, -1, ErrBadReference},
		{"ref past end", []Bucket{good, good}, 2, ErrBadReference},
		{"empty", nil, 0, ErrBadReference},
		{"zero claims", []Bucket{good, {Claims: 0, Exposure: 100}}, 0, ErrNonPositiveCount},
		{"negative noisy claims", []Bucket{good, {Claims: -2, Exposure: 100}}, 0, ErrNonPositiveCount},
		{"negative noisy exposure", []Bucket{{Claims: 3, Exposure: -1}, good}, 1, ErrNonPositiveCount},
		{"nan", []Bucket{good, {Claims: math.NaN(), Exposure: 100}}, 0, ErrNotFinite},
		{"negative noise", []Bucket{good, {Claims: 5, Exposure: 100, ExposureNoise: -1}}, 0, ErrNegativeNoise},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Rates(tc.buckets, tc.ref); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := RelativeRisk(good, Bucket{Claims: 0, Exposure: 5}); !errors.Is(err, ErrNonPositiveCount) {
		t.Errorf("RelativeRisk with an empty reference: err = %v", err)
	}
}

// poisson draws a Poisson variate by Knuth's product method (fine for the
// means below 700 used here).
func poisson(rng *rand.Rand, lambda float64) float64 {
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// The relative-risk interval must cover the true RR about 95 % of the time
// when the claims are Poisson and both totals carry DP noise; ignoring the
// noise must under-cover.
func TestRelativeRiskCoverage(t *testing.T) {
	const (
		reps           = 2000
		e1, e0         = 2000.0, 1000.0
		rate1, rate0   = 0.05, 0.1
		sigmaC, sigmaE = 10.0, 20.0
	)
	truth := rate1 / rate0
	rng := newRand(5)
	var cover, naive int
	for i := 0; i < reps; i++ {
		b1 := Bucket{Claims: poisson(rng, rate1*e1) + sigmaC*rng.NormFloat64(), Exposure: e1 + sigmaE*rng.NormFloat64(), ClaimsNoise: sigmaC, ExposureNoise: sigmaE}
		b0 := Bucket{Claims: poisson(rng, rate0*e0) + sigmaC*rng.NormFloat64(), Exposure: e0 + sigmaE*rng.NormFloat64(), ClaimsNoise: sigmaC, ExposureNoise: sigmaE}
		rr, err := RelativeRisk(b1, b0)
		if err != nil {
			t.Fatal(err)
		}
		if rr.Lo <= truth && truth <= rr.Hi {
			cover++
		}
		b1.ClaimsNoise, b1.ExposureNoise, b0.ClaimsNoise, b0.ExposureNoise = 0, 0, 0, 0
		rr0, err := RelativeRisk(b1, b0)
		if err != nil {
			t.Fatal(err)
		}
		if rr0.Lo <= truth && truth <= rr0.Hi {
			naive++
		}
	}
	cov, ncov := float64(cover)/reps, float64(naive)/reps
	t.Logf("RR coverage with DP term %.4f, without %.4f", cov, ncov)
	if cov < 0.935 || cov > 0.965 {
		t.Errorf("coverage %.4f, want about 0.95", cov)
	}
	if ncov > 0.87 {
		t.Errorf("coverage without the DP term %.4f: the DP term should matter here", ncov)
	}
}
