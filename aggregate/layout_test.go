package aggregate

import (
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto/upload"
)

func TestFixedPointEncode(t *testing.T) {
	tests := []struct {
		name string
		f    FixedPoint
		in   float64
		want int64
	}{
		{"integer", FixedPoint{Lo: 0, Hi: 100}, 42, 42},
		{"clamp-high", FixedPoint{Lo: 0, Hi: 100}, 1e9, 100},
		{"clamp-low", FixedPoint{Lo: 0, Hi: 100}, -5, 0},
		{"negative-lo-shift", FixedPoint{Lo: -10, Hi: 10}, -10, 0},
		{"negative-lo-mid", FixedPoint{Lo: -10, Hi: 10}, 3, 13},
		{"fraction", FixedPoint{Lo: 0, Hi: 1, FracBits: 8}, 0.5, 128},
		{"fraction-round", FixedPoint{Lo: -1, Hi: 1, FracBits: 2}, 0.2, 5},
		{"nan", FixedPoint{Lo: 0, Hi: 1}, math.NaN(), 0},
		{"cents", FixedPoint{Lo: 0, Hi: 100, Step: 0.01}, 0.29, 29},
		{"cents-shifted", FixedPoint{Lo: -20.5, Hi: 100, Step: 0.01}, 19.99, 4049},
		{"tenths", FixedPoint{Lo: 80, Hi: 120, Step: 0.1}, 116.9, 369},
		{"thousands", FixedPoint{Lo: 0, Hi: 3e6, Step: 1000}, 1.35e6, 1350},
		{"inf", FixedPoint{Lo: 0, Hi: 7}, math.Inf(1), 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Encode(tc.in); got != tc.want {
				t.Errorf("Encode(%v) = %d, want %d", tc.in, got, tc.want)
			}
			if got := tc.f.Encode(tc.in); got < 0 || got > tc.f.Max() {
				t.Errorf("Encode(%v) = %d outside [0, %d]", tc.in, got, tc.f.Max())
			}
		})
	}
}

func TestFixedPointValidate(t *testing.T) {
	bad := []FixedPoint{
		{Lo: 1, Hi: 0},
		{Lo: math.NaN(), Hi: 1},
		{Lo: 0, Hi: math.Inf(1)},
		{Lo: 0, Hi: 1, FracBits: -1},
		{Lo: 0, Hi: 1, FracBits: 31},
		{Lo: 0, Hi: 1 << 40, FracBits: 10},
		{Lo: 0, Hi: 1, Step: -0.1},
		{Lo: 0, Hi: 1, Step: math.NaN()},
		{Lo: 0.005, Hi: 1, Step: 0.01},
		{Lo: 0, Hi: 1e9, Step: 1e-6},
	}
	for i, f := range bad {
		if err := f.Validate(); !errors.Is(err, upload.ErrInvalidLayout) {
			t.Errorf("case %d: Validate() = %v, want ErrInvalidLayout", i, err)
		}
	}
	if err := (FixedPoint{Lo: -5, Hi: 5, FracBits: 4}).Validate(); err != nil {
		t.Errorf("valid bounds rejected: %v", err)
	}
	if err := (FixedPoint{Lo: -0.3, Hi: 1000.7, Step: 0.1}).Validate(); err != nil {
		t.Errorf("valid bounds on a grid of tenths rejected: %v", err)
	}
}

// OnGrid tells a multiple of a decimal step from a value between two,
// through the rounding of both in float64.
func TestOnGrid(t *testing.T) {
	for _, tc := range []struct {
		v, step float64
		want    bool
	}{
		{0.29, 0.01, true}, {0.1 + 0.2, 0.1, true}, {116.9, 0.1, true}, {-3.7, 0.1, true},
		{123456789.01, 0.01, true}, {1e-5 * 3368421, 1e-5, true}, {2.25e10 + 5e7, 1e8, false}, {9e12, 1e8, true},
		{0.295, 0.01, false}, {0.1, 0.25, false}, {1.5, 1, false}, {123456789.015, 0.01, false},
	} {
		if got := OnGrid(tc.v, tc.step); got != tc.want {
			t.Errorf("OnGrid(%v, %v) = %v, want %v", tc.v, tc.step, got, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	f := FixedPoint{Lo: 0, Hi: 10}
	got, err := Layout(6, []int{4, 0, 2}, []float64{7, 3, 99}, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{3, 0, 10, 0, 7, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Layout = %v, want %v", got, want)
		}
	}
	m, err := Membership(6, []int{4, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 0, 1, 0, 1, 0}; !equalInts(m, want) {
		t.Errorf("Membership = %v, want %v", m, want)
	}
	if got := upload.Indicator([]int64{2, 1, 2, 0}, 2); !equalInts(got, []int64{1, 0, 1, 0}) {
		t.Errorf("Indicator = %v", got)
	}
}

func TestLayoutRejects(t *testing.T) {
	f := FixedPoint{Lo: 0, Hi: 10}
	tests := []struct {
		name  string
		union int
		rows  []int
		vals  []float64
	}{
		{"duplicate-row", 4, []int{1, 1}, []float64{1, 2}},
		{"row-out-of-range", 4, []int{4}, []float64{1}},
		{"negative-row", 4, []int{-1}, []float64{1}},
		{"length-mismatch", 4, []int{1, 2}, []float64{1}},
		{"more-rows-than-union", 1, []int{0, 1}, []float64{1, 2}},
		{"nan", 4, []int{0}, []float64{math.NaN()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Layout(tc.union, tc.rows, tc.vals, f); !errors.Is(err, upload.ErrInvalidLayout) {
				t.Errorf("Layout error = %v, want ErrInvalidLayout", err)
			}
		})
	}
}

// TestUnshift checks the shift correction against a direct computation on
// the common records.
func TestUnshift(t *testing.T) {
	fx := FixedPoint{Lo: -3, Hi: 5, FracBits: 2}
	fy := FixedPoint{Lo: -1.5, Hi: 2, FracBits: 1}
	// Common records only (the shifted sums below run over them).
	xs := []float64{-3, 0.25, 4.75, 1}
	ys := []float64{2, -1.5, 0.5, -0.5}
	var sxy, sxm, smy, sx, sx2, wantXY, wantX, wantX2 float64
	for i := range xs {
		xe, ye := float64(fx.Encode(xs[i])), float64(fy.Encode(ys[i]))
		sxy += xe * ye
		sxm += xe
		smy += ye
		sx += xe
		sx2 += xe * xe
		wantXY += xs[i] * ys[i]
		wantX += xs[i]
		wantX2 += xs[i] * xs[i]
	}
	n := float64(len(xs))
	if got := UnshiftProduct(sxy, sxm, smy, n, fx, fy); math.Abs(got-wantXY) > 1e-12 {
		t.Errorf("UnshiftProduct = %v, want %v", got, wantXY)
	}
	if got := UnshiftSum(sx, n, fx); math.Abs(got-wantX) > 1e-12 {
		t.Errorf("UnshiftSum = %v, want %v", got, wantX)
	}
	if got := UnshiftProduct(sx2, sx, sx, n, fx, fx); math.Abs(got-wantX2) > 1e-12 {
		t.Errorf("UnshiftProduct(x, x) = %v, want %v", got, wantX2)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
