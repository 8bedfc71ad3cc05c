package aggregate

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// countProduct is the plan product of the overall count.
func countProduct(t *testing.T, c *Compiled) int {
	t.Helper()
	for i, p := range c.Plan().Products() {
		if p.Stat == c.statN {
			return i
		}
	}
	t.Fatal("no count product")
	return -1
}

// TestCountNoiseStd checks the noise_std of a count cell against the
// spread of the noise the owners actually add: the sum of queryOwners
// discrete Gaussians drawn as NoisePlaintexts draws them, within 5 %. At
// a large ε the count's σ falls below 1 and the discrete Gaussian's
// standard deviation parts from σ (0.85σ at ε = 100, 0.25σ at ε = 200):
// a noise_std of σ√owners would fail.
func TestCountNoiseStd(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	w := newWorld(4, 2000, false)
	for _, tc := range []struct {
		eps   float64
		draws int
	}{{1, 4000}, {50, 8000}, {100, 10000}, {120, 20000}, {200, 120000}} {
		t.Run(fmt.Sprintf("eps=%g", tc.eps), func(t *testing.T) {
			req := testRequest(1<<13, false)
			req.Epsilon = tc.eps
			c := mustCompile(t, params, req)
			mults, cols := w.columns(t, c)
			st := exactFloats(c, mults, cols)
			cells, err := c.Results(st, queryOwners, 0)
			if err != nil {
				t.Fatal(err)
			}
			if cells[0].Statistic != CellCount {
				t.Fatalf("first cell %q, want the count", cells[0].Statistic)
			}
			reported := cells[0].NoiseStd
			sigma := c.ProductSigmas()[countProduct(t, c)]
			sample := NoiseSampler(dp.NewSampler(rand.New(rand.NewSource(int64(tc.eps)))))
			var sum2 float64
			for range tc.draws {
				var total int64
				for range queryOwners {
					eta, err := sample(sigma)
					if err != nil {
						t.Fatal(err)
					}
					total += eta
				}
				sum2 += float64(total * total)
			}
			empirical := math.Sqrt(sum2 / float64(tc.draws))
			t.Logf("ε = %g: σ %.4g per owner, noise_std %.4g, empirical SD %.4g (ratio %.3f), σ√owners %.4g",
				tc.eps, sigma, reported, empirical, empirical/reported, dp.CombinedSigma(sigma, queryOwners))
			if math.Abs(empirical/reported-1) > 0.05 {
				t.Errorf("count noise_std %.4g, empirical SD %.4g over %d releases", reported, empirical, tc.draws)
			}
		})
	}
}

// exactFloats is the exact statistics of the laid-out columns as a
// querier decodes them.
func exactFloats(c *Compiled, mults, cols [][]int64) []float64 {
	ex := uploadtest.ExactStats(c.Circuit(), mults, cols)
	out := make([]float64, len(ex))
	for s, v := range ex {
		out[s] = float64(v)
	}
	return out
}
