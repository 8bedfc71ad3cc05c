package aggregate

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/jointly-dev/jointly/crypto"
)

// sessionSums runs a session and returns its sums.
func sessionSums(tb testing.TB, k *testKeys, plan *Plan, mults, cols [][]int64) *Sums {
	tb.Helper()
	up, err := NewUploader(plan, k.shares[uploadShare], testSeed)
	if err != nil {
		tb.Fatal(err)
	}
	ev, err := NewEvaluator(plan, k.shares[evalShare], k.cpk, k.evk, testSeed, mults)
	if err != nil {
		tb.Fatal(err)
	}
	acc, err := ev.NewAccumulator()
	if err != nil {
		tb.Fatal(err)
	}
	for c := range cols {
		if err := up.Upload(context.Background(), c, cols[c], 1, acc.Add); err != nil {
			tb.Fatal(err)
		}
	}
	s, err := ev.Sum(acc)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestPackMatchesTrace: packing every product, or any subset, gives the
// statistics a Trace per product gives, equal to the plaintext ones; each
// product's coefficient stays within its noise bound and every other
// coefficient is zero up to the largest bound of the pack.
func TestPackMatchesTrace(t *testing.T) {
	const xMax, yMax = 2000, 50
	k := keysFor(t, crypto.PresetTest)
	cfg := DefaultPlanConfig()
	cfg.MaxRecords = 1 << 13
	plan, err := NewPlan(k.params, BivariateCircuit(xMax, yMax), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mults, cols := bivariateData(3, 2*k.params.N()+77, overlapRandom, xMax, yMax, true)
	sums := sessionSums(t, k, plan, mults, cols)
	want := exactStats(plan.circuit, mults, cols)
	all := make([]int, len(plan.products))
	for i := range all {
		all[i] = i
	}
	for _, tc := range []struct {
		name     string
		products []int
	}{
		{"all", all},
		{"one", []int{2}},
		{"odd", []int{1, 3, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packs, err := sums.Pack(context.Background(), tc.products)
			if err != nil {
				t.Fatal(err)
			}
			dec := rlwe.NewDecryptor(k.params, k.ideal)
			pts := make([]*rlwe.Plaintext, len(packs))
			in := map[int]bool{}
			for g, pk := range packs {
				pts[g] = dec.DecryptNew(pk.Ct)
				for _, i := range pk.Products {
					in[i] = true
				}
				checkPackNoise(t, plan, pk, pts[g], mults, cols)
			}
			got, err := plan.DecodePacked(packs, pts)
			if err != nil {
				t.Fatal(err)
			}
			for s, st := range plan.circuit.Stats {
				var w int64
				for i, pr := range plan.products {
					if pr.Stat == s && in[i] {
						w += exactProduct(plan, i, mults, cols) << pr.Shift
					}
				}
				checkStat(t, st.Name, got[s], w, 1e-6)
				if len(tc.products) == len(all) {
					checkStat(t, st.Name, got[s], want[s], 1e-6)
				}
			}
		})
	}
	// The per-product Trace agrees.
	cts, err := sums.Finalize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Decode(decryptAll(k.params, k.ideal, cts))
	if err != nil {
		t.Fatal(err)
	}
	for s, st := range plan.circuit.Stats {
		checkStat(t, st.Name, got[s], want[s], 1e-6)
	}
	if _, err := plan.PackLayout([]int{3, 1}); err == nil {
		t.Error("PackLayout accepted products out of order")
	}
}

// checkPackNoise compares every coefficient of a decrypted pack with what
// it must hold: Δ·value at each product's coefficient, zero elsewhere.
func checkPackNoise(t *testing.T, plan *Plan, pk *Packed, pt *rlwe.Plaintext, mults, cols [][]int64) {
	t.Helper()
	level := pk.Ct.Level()
	r := plan.params.RingQ().AtLevel(level)
	v := r.NewPoly()
	r.INTT(atLevel(pt.Value, level), v)
	coeffs := make([]*big.Int, plan.params.N())
	for j := range coeffs {
		coeffs[j] = new(big.Int)
	}
	r.PolyToBigintCentered(v, 1, coeffs)
	bound := make([]float64, len(coeffs))
	var widest float64
	for k, i := range pk.Products {
		c := pk.Coefficient(k)
		w := new(big.Int).Lsh(big.NewInt(exactProduct(plan, i, mults, cols)), uint(plan.cols[plan.products[i].Column].LogDelta))
		coeffs[c].Sub(coeffs[c], w)
		bound[c] = plan.NoiseBound(i)
		widest = max(widest, bound[c])
	}
	for j, c := range coeffs {
		b := bound[j]
		if b == 0 {
			b = widest
		}
		if f, _ := new(big.Float).SetInt(c).Float64(); math.Abs(f) > b {
			t.Fatalf("coefficient %d: noise %.3g above bound %.3g", j, math.Abs(f), b)
		}
	}
}

// BenchmarkFinalize compares the two ways to finish a session of a query
// with tens of products (correlations of 2 × 3 columns and a rate by 3
// buckets): a Trace per product, and Pack. Run both in one invocation to
// compare:
//
//	go test ./aggregate -run '^$' -bench Finalize -benchtime 3x
func BenchmarkFinalize(b *testing.B) {
	k := keysFor(b, crypto.PresetCoef13)
	c, err := Compile(k.params, testRequest(1<<16, false))
	if err != nil {
		b.Fatal(err)
	}
	plan := c.Plan()
	u := 2 * k.params.N()
	w := newWorld(9, u, false)
	mults, err := c.EvaluatorColumns(w.xVals, w.xRows, u)
	if err != nil {
		b.Fatal(err)
	}
	cols, err := c.UploaderColumns(w.yVals, w.yRows, u)
	if err != nil {
		b.Fatal(err)
	}
	sums := sessionSums(b, k, plan, mults, cols)
	all := make([]int, len(plan.products))
	for i := range all {
		all[i] = i
	}
	b.Run(fmt.Sprintf("logN=13/products=%d/trace", len(all)), func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := sums.Finalize(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("logN=13/products=%d/pack", len(all)), func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := sums.Pack(context.Background(), all); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPackNoiseAndFlooding: an owner's DP noise lands in each product's own
// coefficient of a pack at that product's scale, nowhere else, and every
// coefficient is flooded at its product's width (the widest elsewhere).
func TestPackNoiseAndFlooding(t *testing.T) {
	k := keysFor(t, crypto.PresetTest)
	c, err := Compile(k.params, testRequest(1<<13, false))
	if err != nil {
		t.Fatal(err)
	}
	plan := c.Plan()
	all := make([]int, len(plan.products))
	for i := range all {
		all[i] = i
	}
	layout, err := plan.PackLayout(all)
	if err != nil {
		t.Fatal(err)
	}
	pack := layout[0]
	var draws []int64
	pt, err := c.PackNoise(pack, func(float64) (int64, error) {
		draws = append(draws, int64(len(draws)+1)*3)
		return draws[len(draws)-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stride := plan.PackStride(len(pack))
	for kk, i := range pack {
		v, err := plan.DecodeProductAt(i, pt, kk*stride)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(draws[kk]); v != want {
			t.Fatalf("product %d: noise decodes to %v, want %v", i, v, want)
		}
		if stride > 1 {
			if v, _ := plan.DecodeProductAt(i, pt, kk*stride+1); v != 0 {
				t.Fatalf("noise leaked into coefficient %d: %v", kk*stride+1, v)
			}
		}
	}
	widths, err := c.PackFlooding(pack)
	if err != nil {
		t.Fatal(err)
	}
	var widest float64
	for kk, i := range pack {
		if widths[kk*stride] != c.FloodingSigma(i) {
			t.Fatalf("product %d flooded at %g, want %g", i, widths[kk*stride], c.FloodingSigma(i))
		}
		widest = max(widest, c.FloodingSigma(i))
	}
	for j, w := range widths {
		if j%stride != 0 || j/stride >= len(pack) {
			if w != widest {
				t.Fatalf("coefficient %d flooded at %g, want the widest %g", j, w, widest)
			}
		}
	}
	if _, err := c.PackNoise([]int{pack[1], pack[0]}, func(float64) (int64, error) { return 0, nil }); err == nil {
		t.Error("PackNoise accepted products out of order")
	}
}
