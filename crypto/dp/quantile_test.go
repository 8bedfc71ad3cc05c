package dp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// The defaults a node estimates a column's upper bound with (party,
// auto_bounds): the 0.98 quantile at ε = 0.1 over 2000 candidates evenly
// spaced in asinh over [0, 1e9].
const (
	acceptEpsilon    = 0.1
	acceptQuantile   = 0.98
	acceptCandidates = 2000
)

// TestQuantileHeavyTail is the acceptance test of automatic bounds: over
// 10,000 values of a heavy-tailed distribution, at ε = 0.1, the selected
// upper bound lands between the data's 90th and 99.9th percentiles in at
// least 95 of 100 runs (fresh data and fresh noise each run).
func TestQuantileHeavyTail(t *testing.T) {
	const n, runs = 10000, 100
	cands, err := QuantileCandidates(0, 1e9, acceptCandidates)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		draw func(r *rand.Rand) float64
	}{
		// Spend-like: median 100, a factor e^1.5 ≈ 4.5 per SD.
		{"lognormal/sigma=1.5", func(r *rand.Rand) float64 { return 100 * math.Exp(1.5*r.NormFloat64()) }},
		// Infinite variance: P[X > x] = (10/x)^1.5.
		{"pareto/alpha=1.5", func(r *rand.Rand) float64 { return 10 * math.Pow(1-r.Float64(), -1/1.5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := rand.New(rand.NewPCG(1, 2))
			s := NewSampler(keyedReader(7))
			values := make([]float64, n)
			var landed []float64 // the rank of each selection, as a fraction of n
			inside := 0
			for range runs {
				for i := range values {
					values[i] = tc.draw(data)
				}
				hi, err := s.Quantile(values, acceptQuantile, acceptEpsilon, cands)
				if err != nil {
					t.Fatal(err)
				}
				sorted := slices.Sorted(slices.Values(values))
				p90, p999 := sorted[n*900/1000-1], sorted[n*999/1000-1]
				if hi >= p90 && hi <= p999 {
					inside++
				}
				landed = append(landed, float64(sort.SearchFloat64s(sorted, hi))/n)
			}
			slices.Sort(landed)
			t.Logf("%d of %d runs in [p90, p99.9]; selected rank/n: min %.4f, 5%% %.4f, median %.4f, 95%% %.4f, max %.4f",
				inside, runs, landed[0], landed[runs/20], landed[runs/2], landed[runs-runs/20-1], landed[runs-1])
			if inside < 95 {
				t.Fatalf("%d of %d runs landed in [p90, p99.9], want at least 95", inside, runs)
			}
		})
	}
}

// pfDistribution is the exact output distribution of permute-and-flip
// with coins p, by enumerating every order of the candidates.
func pfDistribution(p []float64) []float64 {
	out := make([]float64, len(p))
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	var perms float64
	var visit func(k int)
	visit = func(k int) {
		if k == len(idx) {
			perms++
			reach := 1.0
			for _, c := range idx {
				out[c] += reach * p[c]
				reach *= 1 - p[c]
			}
			return
		}
		for i := k; i < len(idx); i++ {
			idx[k], idx[i] = idx[i], idx[k]
			visit(k + 1)
			idx[k], idx[i] = idx[i], idx[k]
		}
	}
	visit(0)
	for i := range out {
		out[i] /= perms
	}
	return out
}

// quantileCoins are the coins of Quantile: exp(ε·(score − max score)/2).
func quantileCoins(values []float64, q, eps float64, cands []float64) []float64 {
	scores := make([]float64, len(cands))
	best := math.Inf(-1)
	for i, c := range cands {
		below := 0
		for _, x := range values {
			if x < c {
				below++
			}
		}
		scores[i] = -math.Abs(float64(below) - q*float64(len(values)))
		best = max(best, scores[i])
	}
	p := make([]float64, len(cands))
	for i := range p {
		p[i] = math.Exp(eps * (scores[i] - best) / 2)
	}
	return p
}

// TestQuantileMatchesExactDistribution: the sampler selects each
// candidate as often as permute-and-flip's exact distribution says.
func TestQuantileMatchesExactDistribution(t *testing.T) {
	values := []float64{1, 2, 2, 3, 5, 8, 13, 21, 34, 55}
	cands := []float64{0, 2, 4, 10, 30, 100}
	for _, tc := range []struct{ q, eps float64 }{{0.5, 1}, {0.9, 0.5}, {0.2, 2}} {
		t.Run(fmt.Sprintf("q=%g/eps=%g", tc.q, tc.eps), func(t *testing.T) {
			p := pfDistribution(quantileCoins(values, tc.q, tc.eps, cands))
			exact := make(map[int]float64, len(p))
			for i, pi := range p {
				exact[i] = pi
			}
			const draws = 20000
			s := NewSampler(keyedReader(3))
			counts := map[int]int{}
			for range draws {
				c, err := s.Quantile(values, tc.q, tc.eps, cands)
				if err != nil {
					t.Fatal(err)
				}
				counts[slices.Index(cands, c)]++
			}
			if stat, crit := chiSquare(counts, exact, draws); stat > crit {
				t.Fatalf("chi² %.1f > %.1f: counts %v, exact %v", stat, crit, counts, p)
			}
		})
	}
}

// TestQuantilePrivacy: on neighbouring data sets (one value added,
// removed or replaced), no candidate's probability changes by more than a
// factor e^ε, computed exactly.
func TestQuantilePrivacy(t *testing.T) {
	base := []float64{1, 2, 2, 3, 5, 8, 13, 21}
	cands := []float64{0, 1.5, 2.5, 4, 9, 20, 50}
	neighbours := map[string][]float64{
		"add below":    append([]float64{-1}, base...),
		"add above":    append(slices.Clone(base), 100),
		"remove":       base[1:],
		"remove top":   base[:len(base)-1],
		"replace low":  append([]float64{100}, base[1:]...),
		"replace high": append(slices.Clone(base[:len(base)-1]), -5),
	}
	for _, q := range []float64{0.1, 0.5, 0.98} {
		for _, eps := range []float64{0.1, 1, 3} {
			p := pfDistribution(quantileCoins(base, q, eps, cands))
			for name, nb := range neighbours {
				pn := pfDistribution(quantileCoins(nb, q, eps, cands))
				for i := range p {
					if r := math.Abs(math.Log(p[i] / pn[i])); r > eps+1e-12 {
						t.Errorf("q=%g ε=%g %s: candidate %g: log ratio %.4f > ε", q, eps, name, cands[i], r)
					}
				}
			}
		}
	}
}

func TestQuantileCandidates(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		k    int
	}{{0, 1e9, 2000}, {-1e6, 1e6, 1001}, {0, 1, 50}, {-5, -1, 10}} {
		t.Run(fmt.Sprintf("[%g,%g]/k=%d", tc.a, tc.b, tc.k), func(t *testing.T) {
			c, err := QuantileCandidates(tc.a, tc.b, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) != tc.k || c[0] != tc.a || c[len(c)-1] != tc.b {
				t.Fatalf("%d candidates from %g to %g", len(c), c[0], c[len(c)-1])
			}
			for i := 1; i < len(c); i++ {
				if !(c[i] > c[i-1]) {
					t.Fatalf("candidates %d and %d: %g, %g", i-1, i, c[i-1], c[i])
				}
			}
		})
	}
	// Log-like far from 0: over [0, 1e9] consecutive candidates above 100
	// are about 1.07 % apart.
	c, _ := QuantileCandidates(0, 1e9, 2000)
	for i := 1; i < len(c); i++ {
		if c[i-1] > 100 {
			if r := c[i]/c[i-1] - 1; math.Abs(r-0.0107) > 0.0005 {
				t.Fatalf("ratio %g at %g", r, c[i])
			}
		}
	}
	for _, bad := range []struct {
		a, b float64
		k    int
	}{{1, 1, 10}, {2, 1, 10}, {0, math.Inf(1), 10}, {math.NaN(), 1, 10}, {0, 1, 1}, {0, 1, MaxQuantileCandidates + 1}} {
		if _, err := QuantileCandidates(bad.a, bad.b, bad.k); !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("QuantileCandidates(%g, %g, %d): %v", bad.a, bad.b, bad.k, err)
		}
	}
}

func TestQuantileErrors(t *testing.T) {
	s := NewSampler(keyedReader(1))
	cands := []float64{0, 1, 2}
	for _, tc := range []struct {
		name   string
		values []float64
		q, eps float64
		cands  []float64
		want   error
	}{
		{"q 0", []float64{1}, 0, 1, cands, ErrInvalidParameter},
		{"q 1", []float64{1}, 1, 1, cands, ErrInvalidParameter},
		{"q NaN", []float64{1}, math.NaN(), 1, cands, ErrInvalidParameter},
		{"eps 0", []float64{1}, 0.5, 0, cands, ErrBudgetRange},
		{"eps NaN", []float64{1}, 0.5, math.NaN(), cands, ErrBudgetRange},
		{"no candidates", []float64{1}, 0.5, 1, nil, ErrInvalidParameter},
		{"unsorted", []float64{1}, 0.5, 1, []float64{0, 2, 1}, ErrInvalidParameter},
		{"repeated", []float64{1}, 0.5, 1, []float64{0, 1, 1}, ErrInvalidParameter},
		{"infinite candidate", []float64{1}, 0.5, 1, []float64{0, math.Inf(1)}, ErrInvalidParameter},
		{"NaN value", []float64{1, math.NaN()}, 0.5, 1, cands, ErrInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Quantile(tc.values, tc.q, tc.eps, tc.cands); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	// No values: every candidate scores 0, and any may be selected.
	if c, err := s.Quantile(nil, 0.5, 1, cands); err != nil || !slices.Contains(cands, c) {
		t.Fatalf("no values: %g, %v", c, err)
	}
	// A broken source fails instead of spinning.
	if _, err := NewSampler(constReader(0xff)).Quantile([]float64{1, 2}, 0.5, 1, cands); !errors.Is(err, ErrRandomness) {
		t.Fatalf("constant source: %v", err)
	}
}

func BenchmarkQuantile(b *testing.B) {
	cands, _ := QuantileCandidates(0, 1e9, acceptCandidates)
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]float64, 100000)
	for i := range values {
		values[i] = 100 * math.Exp(1.5*r.NormFloat64())
	}
	s := NewSampler(nil)
	b.ResetTimer()
	for range b.N {
		if _, err := s.Quantile(values, acceptQuantile, acceptEpsilon, cands); err != nil {
			b.Fatal(err)
		}
	}
}
