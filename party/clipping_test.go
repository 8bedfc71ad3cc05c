package party_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestJointQueryReportsClipping declares bounds that cut part of each
// owner's values and checks over two real nodes that the exact result
// says, per column, exactly which share of the common customers was
// clipped, that r is the plaintext r of the clamped values, and that a
// DP release reports a noisy share near it with its noise.
func TestJointQueryReportsClipping(t *testing.T) {
	r, i := jointWorld(t, 600, 0.5)
	// Upper bounds at the median of spend and the lower quartile of
	// exposure (most customers have the full 12 months): every value above
	// is clipped.
	for _, b := range []struct {
		tbl  *party.Table
		col  string
		frac float64
	}{{r, "spend_alcohol", 0.5}, {i, "exposure_months", 0.25}} {
		v := slices.Clone(b.tbl.Values[b.col])
		slices.Sort(v)
		b.tbl.Bounds[b.col] = [2]float64{b.tbl.Bounds[b.col][0], v[int(b.frac*float64(len(v)))]}
	}
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := correlation("spend_alcohol", "exposure_months", 0, 0)
	req.Exact = true
	res, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The plaintext: the common customers, their clipped shares, and r of
	// the clamped values.
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	clamp := func(v float64, b [2]float64) float64 { return math.Min(math.Max(v, b[0]), b[1]) }
	var n, outX, outY, sx, sy, sxx, syy, sxy float64
	bx, by := r.Bounds["spend_alcohol"], i.Bounds["exposure_months"]
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		a, b := r.Values["spend_alcohol"][k], i.Values["exposure_months"][j]
		if a != clamp(a, bx) {
			outX++
		}
		if b != clamp(b, by) {
			outY++
		}
		a, b = clamp(a, bx), clamp(b, by)
		n++
		sx, sy, sxx, syy, sxy = sx+a, sy+b, sxx+a*a, syy+b*b, sxy+a*b
	}
	if outX == 0 || outY == 0 {
		t.Fatalf("the bounds clip nothing (%v, %v of %v)", outX, outY, n)
	}
	want := map[string]float64{
		partytest.NodeName(0) + ".spend_alcohol":   outX / n,
		partytest.NodeName(1) + ".exposure_months": outY / n,
	}
	got := map[string]aggregate.Cell{}
	for _, cell := range res.Cells {
		switch cell.Statistic {
		case aggregate.CellClipped:
			got[cell.X+cell.Y] = cell
		case aggregate.CellPearson:
			rho := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
			if math.Abs(cell.Value-rho) > 1e-6 {
				t.Errorf("r = %v, want %v on the clamped values", cell.Value, rho)
			}
		}
	}
	for col, share := range want {
		cell, ok := got[col]
		if !ok {
			t.Fatalf("no clipped cell for %s in %+v", col, got)
		}
		if math.Abs(cell.Value-share) > 1e-12 || cell.N != n || cell.Warning == "" {
			t.Errorf("%s: clipped %v of %v with warning %q, want %v (above 5 %%: a warning)", col, cell.Value, cell.N, cell.Warning, share)
		}
	}

	// With DP noise: the share is released with its noise, near the truth.
	req.Exact, req.Epsilon, req.Delta = false, 2, 1e-6
	noisy, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range noisy.Cells {
		if cell.Statistic != aggregate.CellClipped {
			continue
		}
		share := want[cell.X+cell.Y]
		if !(cell.NoiseStd > 0) || math.Abs(cell.Value-share) > 6*cell.NoiseStd+0.01 || !(cell.CILow < cell.Value && cell.Value < cell.CIHigh) {
			t.Errorf("noisy clipped share of %s: %v ± %v [%v, %v], exact %v", cell.X+cell.Y, cell.Value, cell.NoiseStd, cell.CILow, cell.CIHigh, share)
		}
		// A noisy share warns only when its whole interval is above 5 %.
		if (cell.CILow > aggregate.ClipWarnShare) != (cell.Warning != "") {
			t.Errorf("noisy clipped share of %s in [%v, %v] with warning %q", cell.X+cell.Y, cell.CILow, cell.CIHigh, cell.Warning)
		}
		delete(want, cell.X+cell.Y)
	}
	if len(want) != 0 {
		t.Errorf("no noisy clipped cell for %v", want)
	}
}
