package upload_test

import (
	"context"
	"math"
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// TestPackMatchesTrace: packing every product, or any subset, gives the
// statistics a Trace per product gives, equal to the plaintext ones; each
// product's coefficient stays within its noise bound and every other
// coefficient is zero up to the largest bound of the pack.
func TestPackMatchesTrace(t *testing.T) {
	const xMax, yMax = 2000, 50
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := bivariatePlan(t, k, 1<<13)
	mults, cols := bivariateData(3, 2*k.Params.N()+77, overlapRandom, xMax, yMax, true)
	sums := uploadtest.Sums(t, k, plan, mults, cols)
	want := uploadtest.ExactStats(plan.Circuit(), mults, cols)
	all := make([]int, len(plan.Products()))
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
			dec := rlwe.NewDecryptor(k.Params, k.Ideal)
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
			for s, st := range plan.Circuit().Stats {
				var w int64
				for i, pr := range plan.Products() {
					if pr.Stat == s && in[i] {
						w += uploadtest.ExactProduct(plan, i, mults, cols) << pr.Shift
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
	got, err := plan.Decode(uploadtest.DecryptAll(k.Params, k.Ideal, cts))
	if err != nil {
		t.Fatal(err)
	}
	for s, st := range plan.Circuit().Stats {
		checkStat(t, st.Name, got[s], want[s], 1e-6)
	}
	if _, err := plan.PackLayout([]int{3, 1}); err == nil {
		t.Error("PackLayout accepted products out of order")
	}
}

// checkPackNoise compares every coefficient of a decrypted pack with what
// it must hold: Δ·value at each product's coefficient, zero elsewhere.
func checkPackNoise(t *testing.T, plan *upload.Plan, pk *upload.Packed, pt *rlwe.Plaintext, mults, cols [][]int64) {
	t.Helper()
	level := pk.Ct.Level()
	r := plan.Parameters().RingQ().AtLevel(level)
	v := r.NewPoly()
	r.INTT(upload.AtLevel(pt.Value, level), v)
	coeffs := make([]*big.Int, plan.Parameters().N())
	for j := range coeffs {
		coeffs[j] = new(big.Int)
	}
	r.PolyToBigintCentered(v, 1, coeffs)
	bound := make([]float64, len(coeffs))
	var widest float64
	for k, i := range pk.Products {
		c := pk.Coefficient(k)
		w := new(big.Int).Lsh(big.NewInt(uploadtest.ExactProduct(plan, i, mults, cols)), uint(plan.Column(plan.Products()[i].Column).LogDelta))
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
