package dp

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// keyedReader is a deterministic stream so every statistical test below
// sees the same samples on every run.
func keyedReader(seed byte) io.Reader {
	var key [32]byte
	key[0] = seed
	return rand.NewChaCha8(key)
}

// pmf returns the exact probabilities of P[X=x] ∝ w(x) for |x| ≤ limit.
func pmf(limit int, w func(x float64) float64) map[int]float64 {
	p := make(map[int]float64, 2*limit+1)
	var z float64
	for x := -limit; x <= limit; x++ {
		p[x] = w(float64(x))
		z += p[x]
	}
	for x := range p {
		p[x] /= z
	}
	return p
}

func gaussianPMF(sigma2 float64) map[int]float64 {
	return pmf(int(20*math.Sqrt(sigma2))+20, func(x float64) float64 { return math.Exp(-x * x / (2 * sigma2)) })
}

func laplacePMF(b float64) map[int]float64 {
	return pmf(int(40*b)+40, func(x float64) float64 { return math.Exp(-math.Abs(x) / b) })
}

// chiSquare compares sample counts with an exact pmf. Cells with an expected
// count below 5 are pooled into the two tails. It returns the statistic and
// the critical value at significance 1e-4 (Wilson–Hilferty approximation).
func chiSquare(counts map[int]int, p map[int]float64, n int) (stat, crit float64) {
	lo, hi := 0, 0
	for x, px := range p {
		if px*float64(n) >= 5 {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	cells := 0
	add := func(obs int, exp float64) {
		d := float64(obs) - exp
		stat += d * d / exp
		cells++
	}
	var tailLoObs, tailHiObs int
	var tailLoExp, tailHiExp float64
	for x, px := range p {
		if x < lo {
			tailLoExp += px * float64(n)
		} else if x > hi {
			tailHiExp += px * float64(n)
		}
	}
	for x, c := range counts {
		if x < lo {
			tailLoObs += c
		} else if x > hi {
			tailHiObs += c
		}
	}
	for x := lo; x <= hi; x++ {
		add(counts[x], p[x]*float64(n))
	}
	if tailLoExp > 0 {
		add(tailLoObs, tailLoExp)
	}
	if tailHiExp > 0 {
		add(tailHiObs, tailHiExp)
	}
	k := float64(cells - 1)
	const z = 3.719 // standard normal quantile at 1 − 1e-4
	crit = k * math.Pow(1-2/(9*k)+z*math.Sqrt(2/(9*k)), 3)
	return stat, crit
}

func sampleMany(t testing.TB, n int, draw func() (int64, error)) (map[int]int, float64, float64) {
	counts := make(map[int]int)
	var sum, sumSq float64
	for range n {
		x, err := draw()
		if err != nil {
			t.Fatal(err)
		}
		counts[int(x)]++
		sum += float64(x)
		sumSq += float64(x) * float64(x)
	}
	mean := sum / float64(n)
	return counts, mean, sumSq/float64(n) - mean*mean
}

func moments(p map[int]float64) (mean, variance float64) {
	for x, px := range p {
		mean += float64(x) * px
	}
	for x, px := range p {
		d := float64(x) - mean
		variance += d * d * px
	}
	return mean, variance
}

// checkSamples draws n samples and checks them against the exact pmf p:
// the chi-square test of fit, a mean of 0 within 5 standard errors, and a
// variance within 5 standard errors of the sample variance, taken as
// √(varFactor/n)·σ² (varFactor follows from the shape's kurtosis).
func checkSamples(t *testing.T, n int, draw func() (int64, error), p map[int]float64, varFactor float64) {
	t.Helper()
	counts, mean, variance := sampleMany(t, n, draw)
	if stat, crit := chiSquare(counts, p, n); stat > crit {
		t.Errorf("chi-square %.1f > critical %.1f", stat, crit)
	}
	_, exactVar := moments(p)
	if se := math.Sqrt(exactVar / float64(n)); math.Abs(mean) > 5*se {
		t.Errorf("mean %.4f, want 0 ± %.4f", mean, 5*se)
	}
	if tol := 5 * exactVar * math.Sqrt(varFactor/float64(n)); math.Abs(variance-exactVar) > tol {
		t.Errorf("variance %.4f, want %.4f ± %.4f", variance, exactVar, tol)
	}
}

func TestDiscreteGaussianMatchesExactDistribution(t *testing.T) {
	const n = 40000
	for i, sigma2 := range []*big.Rat{big.NewRat(1, 4), big.NewRat(1, 1), big.NewRat(9, 2), big.NewRat(1000, 7)} {
		f, _ := sigma2.Float64()
		t.Run(fmt.Sprintf("sigma2=%s", sigma2.RatString()), func(t *testing.T) {
			s := NewSampler(keyedReader(byte(i + 1)))
			// The variance of a sample variance is about 2σ⁴/n for a
			// near-Gaussian shape.
			checkSamples(t, n, func() (int64, error) { return s.DiscreteGaussian(sigma2) }, gaussianPMF(f), 2)
		})
	}
}

// TestChiSquareRejectsWrongScale makes sure the goodness-of-fit test above
// has the power to catch a sampler whose variance is off by 10 %.
func TestChiSquareRejectsWrongScale(t *testing.T) {
	const n = 40000
	s := NewSampler(keyedReader(42))
	counts, _, _ := sampleMany(t, n, func() (int64, error) { return s.DiscreteGaussian(big.NewRat(11, 1)) })
	if stat, crit := chiSquare(counts, gaussianPMF(10), n); stat <= crit {
		t.Errorf("σ²=11 samples passed as σ²=10: chi-square %.1f ≤ %.1f", stat, crit)
	}
}

func TestDiscreteLaplaceMatchesExactDistribution(t *testing.T) {
	const n = 40000
	for i, scale := range []*big.Rat{big.NewRat(1, 3), big.NewRat(1, 1), big.NewRat(7, 2), big.NewRat(25, 1)} {
		f, _ := scale.Float64()
		t.Run(fmt.Sprintf("scale=%s", scale.RatString()), func(t *testing.T) {
			s := NewSampler(keyedReader(byte(100 + i)))
			// Laplace tails are heavier: the sample variance has a standard
			// error near √(5/n)·σ² (kurtosis 6).
			checkSamples(t, n, func() (int64, error) { return s.DiscreteLaplace(scale) }, laplacePMF(f), 5)
		})
	}
}

func TestBernoulliExp(t *testing.T) {
	const n = 50000
	for i, g := range []struct{ num, den int64 }{{0, 1}, {1, 2}, {1, 1}, {5, 2}, {7, 3}} {
		t.Run(fmt.Sprintf("gamma=%d/%d", g.num, g.den), func(t *testing.T) {
			s := NewSampler(keyedReader(byte(200 + i)))
			hits := 0
			for range n {
				ok, err := s.bernoulliExp(big.NewInt(g.num), big.NewInt(g.den))
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					hits++
				}
			}
			p := math.Exp(-float64(g.num) / float64(g.den))
			got := float64(hits) / n
			if tol := 5*math.Sqrt(p*(1-p)/n) + 1e-12; math.Abs(got-p) > tol {
				t.Errorf("rate %.4f, want %.4f ± %.4f", got, p, tol)
			}
		})
	}
}

// TestOwnersNoiseAdds checks the claim the release path relies on: when
// each of several owners adds its own independent sample, the variance of
// the total is the sum of the variances.
func TestOwnersNoiseAdds(t *testing.T) {
	const n, owners = 20000, 3
	sigma2 := big.NewRat(16, 1)
	_, one := moments(gaussianPMF(16))
	samplers := make([]*Sampler, owners)
	for i := range samplers {
		samplers[i] = NewSampler(keyedReader(byte(50 + i)))
	}
	_, _, variance := sampleMany(t, n, func() (int64, error) {
		var total int64
		for _, s := range samplers {
			x, err := s.DiscreteGaussian(sigma2)
			if err != nil {
				return 0, err
			}
			total += x
		}
		return total, nil
	})
	want := owners * one
	if tol := 5 * want * math.Sqrt(2.0/n); math.Abs(variance-want) > tol {
		t.Errorf("variance of the sum %.2f, want %.2f ± %.2f", variance, want, tol)
	}
	if got := CombinedSigma(4, owners); math.Abs(got*got-owners*16) > 1e-9 {
		t.Errorf("CombinedSigma² = %v, want %v", got*got, owners*16)
	}
}

func TestSigma2RoundsUp(t *testing.T) {
	for _, sigma := range []float64{1e-3, 0.1, 1, math.Pi, 12345.678} {
		r, err := Sigma2(sigma)
		if err != nil {
			t.Fatal(err)
		}
		exact := new(big.Rat).SetFloat64(sigma)
		exact.Mul(exact, exact)
		if r.Cmp(exact) < 0 {
			t.Errorf("Sigma2(%v) = %s below σ²", sigma, r.FloatString(12))
		}
		f, _ := r.Float64()
		if rel := (math.Sqrt(f) - sigma) / sigma; rel > 2e-6/sigma+1e-12 {
			t.Errorf("Sigma2(%v) rounds up too far: relative %g", sigma, rel)
		}
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := Sigma2(bad); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("Sigma2(%v): err %v, want ErrInvalidParameter", bad, err)
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	s := NewSampler(keyedReader(1))
	if _, err := s.DiscreteGaussian(big.NewRat(0, 1)); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("σ²=0: %v", err)
	}
	if _, err := s.DiscreteLaplace(big.NewRat(-1, 2)); !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("negative scale: %v", err)
	}
	empty := NewSampler(io.LimitReader(keyedReader(1), 3))
	if _, err := empty.DiscreteGaussian(big.NewRat(5, 1)); !errors.Is(err, ErrRandomness) {
		t.Errorf("exhausted source: %v", err)
	}
}

// constReader is a broken source: the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestSamplerBrokenSource: a source of constant bytes used to keep some
// rejection loops spinning forever (all zeros make every Bernoulli trial
// succeed). Every loop is capped, so the sampler returns, and a source of
// zeros is reported as ErrRandomness.
func TestSamplerBrokenSource(t *testing.T) {
	scales := []*big.Rat{big.NewRat(1, 4), big.NewRat(1, 1), big.NewRat(1000, 7), new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(1), 80), big.NewInt(3))}
	for _, b := range []byte{0x00, 0xff, 0x55} {
		for _, scale := range scales {
			t.Run(fmt.Sprintf("byte=%#x/scale=%s", b, scale.FloatString(2)), func(t *testing.T) {
				s := NewSampler(constReader(b))
				var errG, errL error
				within(t, 5*time.Second, "sampler", func() {
					_, errG = s.DiscreteGaussian(scale)
					_, errL = s.DiscreteLaplace(scale)
				})
				for _, err := range []error{errG, errL} {
					if b == 0 && !errors.Is(err, ErrRandomness) {
						t.Errorf("source of zeros: %v, want ErrRandomness", err)
					}
					if err != nil && !errors.Is(err, ErrRandomness) && !errors.Is(err, ErrOverflow) {
						t.Errorf("unexpected error: %v", err)
					}
				}
			})
		}
	}
}

// TestLargeScale exercises the big-integer path (σ² beyond 2^64 in the
// intermediate products) and checks the sample is plausibly scaled.
func TestLargeScale(t *testing.T) {
	s := NewSampler(keyedReader(9))
	sigma2, err := Sigma2(3e7)
	if err != nil {
		t.Fatal(err)
	}
	var sumSq float64
	const n = 400
	for range n {
		x, err := s.DiscreteGaussian(sigma2)
		if err != nil {
			t.Fatal(err)
		}
		sumSq += float64(x) * float64(x)
	}
	if sd := math.Sqrt(sumSq / n); sd < 0.8*3e7 || sd > 1.2*3e7 {
		t.Errorf("sample sd %.3g, want about 3e7", sd)
	}
}

func BenchmarkSample(b *testing.B) {
	for _, sigma := range []float64{1, 1e3, 1e6} {
		s2, _ := Sigma2(sigma)
		b.Run(fmt.Sprintf("Gaussian/sigma=%g", sigma), func(b *testing.B) {
			s := NewSampler(nil)
			for b.Loop() {
				if _, err := s.DiscreteGaussian(s2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Laplace/scale=100", func(b *testing.B) {
		s := NewSampler(nil)
		for b.Loop() {
			if _, err := s.DiscreteLaplace(big.NewRat(100, 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDiscreteGaussianVariance checks the variance against the exact pmf
// and against the sampler, where it parts from σ² (σ < 1).
func TestDiscreteGaussianVariance(t *testing.T) {
	for _, sigma := range []float64{0.1, 0.25, 0.4, 0.7, 1, 1.5, 2.9, 3, 7, 1000} {
		s2, _ := Sigma2(sigma)
		f, _ := s2.Float64()
		_, want := moments(gaussianPMF(f))
		if got := DiscreteGaussianVariance(sigma); math.Abs(got-want) > 1e-12*math.Max(want, 1e-300) && math.Abs(got-want) > 1e-15 {
			t.Errorf("σ = %v: variance %.15g, exact %.15g", sigma, got, want)
		}
	}
	if v := DiscreteGaussianVariance(0); v != 0 {
		t.Errorf("σ = 0: variance %v", v)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if v := DiscreteGaussianVariance(bad); !math.IsNaN(v) {
			t.Errorf("σ = %v: variance %v, want NaN", bad, v)
		}
	}
	// The sampler's spread at σ = 0.4 is 0.71σ, not σ.
	const n = 40000
	sigma := 0.4
	s2, _ := Sigma2(sigma)
	s := NewSampler(keyedReader(77))
	_, _, variance := sampleMany(t, n, func() (int64, error) { return s.DiscreteGaussian(s2) })
	want := DiscreteGaussianVariance(sigma)
	if math.Abs(math.Sqrt(variance/want)-1) > 0.03 {
		t.Errorf("σ = %v: sampled SD %.4f, DiscreteGaussianVariance gives %.4f", sigma, math.Sqrt(variance), math.Sqrt(want))
	}
	if r := math.Sqrt(want) / sigma; r > 0.75 || r < 0.65 {
		t.Errorf("σ = %v: SD/σ = %.3f, expected about 0.71", sigma, r)
	}
}
