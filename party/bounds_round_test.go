package party

import (
	"fmt"
	"testing"

	"github.com/jointly-dev/jointly/party/source"
)

// TestPublicBounds: an estimate is published rounded outward, onto the
// column's step (as a decimal reads, not an ulp off) or to three
// significant digits; a declared lo stays as it is.
func TestPublicBounds(t *testing.T) {
	step := func(s float64) *float64 { return &s }
	auto := &source.AutoBounds{Within: []float64{-1e9, 1e9}}
	for _, tc := range []struct {
		lo, hi     float64
		step       *float64
		declaredLo bool
		want       [2]float64
	}{
		{0, 2712.381, step(0.01), true, [2]float64{0, 2712.39}},
		{0, 2712.38, step(0.01), true, [2]float64{0, 2712.38}},
		{0, 57.3, step(1), true, [2]float64{0, 58}},
		{0, 1.1, step(0.25), true, [2]float64{0, 1.25}},
		{0, 7, step(3), true, [2]float64{0, 9}},
		{-367.21, 2712.38, nil, false, [2]float64{-368, 2720}},
		{0.0012345, 0.0034561, nil, false, [2]float64{0.00123, 0.00346}},
		{-0.5, 123456, nil, false, [2]float64{-0.5, 124000}},
		{5, 123456, nil, true, [2]float64{5, 124000}},
		{-2.005, 3.004, step(0.01), false, [2]float64{-2.01, 3.01}},
	} {
		t.Run(fmt.Sprintf("[%g,%g]", tc.lo, tc.hi), func(t *testing.T) {
			col := source.Column{Name: "x", Type: source.TypeNumeric, Step: tc.step, AutoBounds: auto}
			if tc.declaredLo {
				col.Lo = &tc.lo
			}
			lo, hi := publicBounds(tc.lo, tc.hi, col)
			if [2]float64{lo, hi} != tc.want {
				t.Fatalf("published [%v, %v], want %v", lo, hi, tc.want)
			}
			if tc.step != nil && (!source.OnGrid(lo, *tc.step) || !source.OnGrid(hi, *tc.step)) {
				t.Fatalf("[%v, %v] is off the step %g", lo, hi, *tc.step)
			}
		})
	}
}

// TestOrderBounds: two candidates selected independently for lo and hi
// come out in order, and apart.
func TestOrderBounds(t *testing.T) {
	cands := []float64{1, 4, 9}
	for _, tc := range []struct{ lo, hi, wantLo, wantHi float64 }{
		{1, 9, 1, 9}, {9, 4, 4, 9}, {4, 4, 4, 9}, {9, 9, 4, 9},
	} {
		if lo, hi := orderBounds(tc.lo, tc.hi, cands); lo != tc.wantLo || hi != tc.wantHi {
			t.Errorf("orderBounds(%g, %g) = %g, %g; want %g, %g", tc.lo, tc.hi, lo, hi, tc.wantLo, tc.wantHi)
		}
	}
}
