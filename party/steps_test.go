package party_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestDeclaredStepsEndToEnd: node0 holds prices in cents (step 0.01), node1
// quantities in tenths (step 0.1). Info reports the steps, an exact query
// encodes each column on its own grid and says so in the result, and the
// correlation and the regression agree with the plaintext join.
func TestDeclaredStepsEndToEnd(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	a := &party.Table{Values: map[string][]float64{}, Bounds: map[string][2]float64{"price": {0, 500}}, Steps: map[string]float64{"price": 0.01}}
	b := &party.Table{Values: map[string][]float64{}, Bounds: map[string][2]float64{"qty": {-10, 90}}, Steps: map[string]float64{"qty": 0.1}}
	var xs, ys []float64
	for k := 0; k < 300; k++ {
		key := []byte(fmt.Sprintf("p%d@example.com", k))
		x := float64(rng.Intn(50000)) / 100
		y := math.Round(20+0.1*x+rng.NormFloat64()*5) / 10
		if k%5 != 0 {
			a.Keys, a.Values["price"] = append(a.Keys, key), append(a.Values["price"], x)
		}
		if k%7 != 0 {
			b.Keys, b.Values["qty"] = append(b.Keys, key), append(b.Values["qty"], y)
		}
		if k%5 != 0 && k%7 != 0 {
			xs, ys = append(xs, x), append(ys, y)
		}
	}
	a.Digest, b.Digest = party.DigestTable(a), party.DigestTable(b)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{a, b}})
	client := c.Dial(t, 0)
	info, err := client.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Steps["price"] != 0.01 {
		t.Fatalf("info steps %v, want price 0.01", info.Steps)
	}
	x := aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: "price"}
	y := aggregate.ColumnRef{Owner: partytest.NodeName(1), Name: "qty"}
	res, err := client.Joint(context.Background(), party.JointRequest{
		X: []aggregate.ColumnRef{x}, Y: []aggregate.ColumnRef{y}, Correlations: true,
		Regressions: []aggregate.RegressionRequest{{Outcome: y, Predictors: []aggregate.ColumnRef{x}}},
		Purpose:     "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resolution[x.String()] != 0.01 || res.Resolution[y.String()] != 0.1 {
		t.Fatalf("resolution %v, want the declared steps", res.Resolution)
	}
	n := float64(len(xs))
	var mx, my, sxx, syy, sxy float64
	for i := range xs {
		mx, my = mx+xs[i]/n, my+ys[i]/n
	}
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		syy += (ys[i] - my) * (ys[i] - my)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	want := map[string]float64{aggregate.CellPearson: sxy / math.Sqrt(sxx*syy), aggregate.CellOLSCoef: sxy / sxx, aggregate.CellOLSIntercept: my - sxy/sxx*mx}
	for _, cell := range res.Cells {
		w, ok := want[cell.Statistic]
		if !ok {
			continue
		}
		if cell.Suppressed || math.Abs(cell.Value-w) > 1e-12*math.Abs(w) || cell.N != n {
			t.Errorf("%s = %.15g over %v records, want %.15g over %v", cell.Statistic, cell.Value, cell.N, w, n)
		}
		delete(want, cell.Statistic)
	}
	if len(want) != 0 {
		t.Errorf("cells missing: %v", want)
	}
}
