package party_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/aggregate/stats/lstest"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestJointRegressionCovariates: over real gRPC, an exact regression of
// the insurer's diabetes claims on the retailer's diet-aid spend adjusted
// for the insurer's own age band (one indicator per band but the first)
// and exposure equals the plaintext least-squares fit of the joined
// records, coefficient by coefficient with its interval, named by level.
func TestJointRegressionCovariates(t *testing.T) {
	r, i := jointWorld(t, 800, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	spend, claims, band, exposure := ref(0, "spend_diet_aids"), ref(1, "claims_diabetes"), ref(1, "age_band"), ref(1, "exposure_months")
	req := party.JointRequest{
		X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band, exposure},
		Regressions: []aggregate.RegressionRequest{{Outcome: claims, Predictors: []aggregate.ColumnRef{spend, band, exposure}}},
		Purpose:     "research", Exact: true,
	}
	res, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}

	// The plaintext: each joined record's terms, its values clamped to
	// the declared bounds and put on the query's grid, as the nodes encode
	// them.
	clamp := func(tbl *party.Table, col string, v float64) float64 {
		lo, hi, _ := tbl.ColumnBounds(col)
		owner := 0
		if tbl == i {
			owner = 1
		}
		fp, ok := res.Compiled.FixedPoint(ref(owner, col))
		if !ok {
			t.Fatalf("no encoding of %s", col)
		}
		v = math.Min(math.Max(v, lo), hi)
		return lo + math.Round((v-lo)/fp.Unit())*fp.Unit()
	}
	levels := i.ColumnLevels("age_band")
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	var x [][]float64
	var y []float64
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		row := []float64{1, clamp(r, "spend_diet_aids", r.Values["spend_diet_aids"][k])}
		for l := 1; l < len(levels); l++ {
			row = append(row, map[bool]float64{false: 0, true: 1}[i.Values["age_band"][j] == float64(l)])
		}
		x = append(x, append(row, clamp(i, "exposure_months", i.Values["exposure_months"][j])))
		y = append(y, clamp(i, "claims_diabetes", i.Values["claims_diabetes"][j]))
	}
	want := lstest.Householder(x, y, true)
	names := []string{"", spend.String()}
	for _, l := range levels[1:] {
		names = append(names, band.String()+"="+l)
	}
	names = append(names, exposure.String())
	model := claims.String() + " ~ " + spend.String() + " + " + band.String() + " + " + exposure.String()
	seen := 0
	for _, cell := range res.Cells {
		if cell.Group != model || (cell.Statistic != aggregate.CellOLSCoef && cell.Statistic != aggregate.CellOLSIntercept) {
			continue
		}
		j := -1
		for k, n := range names {
			if n == cell.X {
				j = k
			}
		}
		if j < 0 || cell.Suppressed {
			t.Fatalf("unexpected cell %+v", cell)
		}
		if d := math.Abs(cell.Value - want.Beta[j]); d > 1e-7*max(1, math.Abs(want.Beta[j])) {
			t.Errorf("%s %s = %.10g, plaintext %.10g", cell.Statistic, cell.X, cell.Value, want.Beta[j])
		}
		if hw := (cell.CIHigh - cell.CILow) / 2; math.Abs(hw-1.959963984540054*want.SE[j]) > 1e-6*want.SE[j] {
			t.Errorf("%s %s: half-width %.8g, plaintext 1.96·SE %.8g", cell.Statistic, cell.X, hw, 1.959963984540054*want.SE[j])
		}
		seen++
	}
	if seen != len(names) {
		t.Errorf("%d coefficients, want %d: %v", seen, len(names), names)
	}
}

// TestJointRegressionSmallLevel: over real gRPC, with min_group_size above
// the people at one age band, the owners withhold that band's sums in
// stage two: the regression adjusted for the band is not fitted, and its
// cells say which level stopped it; the people at each band are released
// as counts.
func TestJointRegressionSmallLevel(t *testing.T) {
	r, i := jointWorld(t, 800, 0.5)
	levels := i.ColumnLevels("age_band")
	_, people := peoplePerBand(r, i)
	smallest := 1
	for l := range people[1:] {
		if people[l+1] < people[smallest] {
			smallest = l + 1
		}
	}
	k := people[smallest] + 1
	for l, n := range people {
		if l != smallest && n < k {
			t.Fatalf("people per band %v: more than one band below %d", people, k)
		}
	}
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	for n := range c.Configs {
		c.Configs[n].Policy.MinGroupSize = k
	}
	c.StartAll(t)
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	spend, claims, band := ref(0, "spend_diet_aids"), ref(1, "claims_diabetes"), ref(1, "age_band")
	res, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
		X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band},
		Regressions: []aggregate.RegressionRequest{{Outcome: claims, Predictors: []aggregate.ColumnRef{spend, band}}},
		Purpose:     "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	level := band.String() + "=" + levels[smallest]
	cells := 0
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellOLSCoef && cell.Statistic != aggregate.CellOLSIntercept && cell.Statistic != aggregate.CellR2 {
			continue
		}
		cells++
		if !cell.Suppressed || (cell.X != level && !strings.Contains(cell.Reason, "fewer people than min_group_size at "+level)) {
			t.Errorf("%s %s: suppressed %v (%s), want withheld for %s", cell.Statistic, cell.X, cell.Suppressed, cell.Reason, level)
		}
	}
	if cells != 2+len(levels) {
		t.Errorf("%d regression cells, want %d", cells, 2+len(levels))
	}
}

// peoplePerBand returns the insurer's row of each of its identifiers and
// the people in each age band among the records both tables hold.
func peoplePerBand(r, i *party.Table) (map[string]int, []int) {
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	people := make([]int, len(i.ColumnLevels("age_band")))
	for _, key := range r.Keys {
		if j, ok := rowOf[string(key)]; ok {
			people[int(i.Values["age_band"][j])]++
		}
	}
	return rowOf, people
}
