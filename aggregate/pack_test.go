package aggregate

import (
	"context"
	"fmt"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// BenchmarkFinalize compares the two ways to finish a session of a query
// with tens of products (correlations of 2 × 3 columns and a rate by 3
// buckets): a Trace per product, and Pack. Run both in one invocation to
// compare:
//
//	go test ./aggregate -run '^$' -bench Finalize -benchtime 3x
func BenchmarkFinalize(b *testing.B) {
	k := uploadtest.KeysFor(b, crypto.PresetCoef13)
	c := mustCompile(b, k.Params, testRequest(1<<16, false))
	plan := c.Plan()
	mults, cols := newWorld(9, 2*k.Params.N(), false).columns(b, c)
	sums := uploadtest.Sums(b, k, plan, mults, cols)
	all := allProducts(plan)
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

// allProducts lists every product of plan, in order.
func allProducts(plan *upload.Plan) []int {
	all := make([]int, len(plan.Products()))
	for i := range all {
		all[i] = i
	}
	return all
}

// TestPackNoiseAndFlooding: an owner's DP noise lands in each product's own
// coefficient of a pack at that product's scale, nowhere else, and every
// coefficient is flooded at its product's width (the widest elsewhere).
func TestPackNoiseAndFlooding(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	c := mustCompile(t, k.Params, testRequest(1<<13, false))
	plan := c.Plan()
	layout, err := plan.PackLayout(allProducts(plan))
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
