package aggregate

import (
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

// FuzzCompile feeds Compile the fields of a query as a peer would send
// them: it must never panic, must reject with ErrInvalidQuery or
// ErrInfeasible, and whatever it accepts must have a valid circuit, finite
// noise within every ciphertext's headroom, and lay out in-bounds columns.
func FuzzCompile(f *testing.F) {
	params := crypto.MustParameters(crypto.PresetTest)
	f.Add(0.0, 500.0, -50.0, 1000.0, 40.0, 60.0, 1.0, 1e-6, true, false, "spend", "amount", 1<<12)
	f.Add(18.0, 90.0, 0.0, 10.0, 40.0, 30.0, 0.5, 1e-9, false, false, "age", "claims", 1<<14)
	f.Add(0.0, 1.0, 0.0, 1.0, 0.5, 0.75, 0.0, 0.0, true, true, "a", "a", 100)
	f.Add(math.Inf(-1), math.NaN(), 5.0, 5.0, math.NaN(), 1.0, -1.0, 2.0, true, false, "", "y", 0)
	f.Fuzz(func(t *testing.T, xlo, xhi, ylo, yhi, e0, e1, eps, delta float64, corr, exact bool, xname, yname string, maxRecords int) {
		if maxRecords > 1<<16 {
			maxRecords = 1 << 16 // keep the layout below small
		}
		req := Request{
			X:            []ColumnInfo{{ColumnRef{"retailer", xname}, xlo, xhi}},
			Y:            []ColumnInfo{{ColumnRef{"insurer", yname}, ylo, yhi}, {ColumnRef{"insurer", "exposure#"}, 0, 12}},
			Correlations: corr,
			Rates:        []RateRequest{{Events: ColumnRef{"insurer", yname}, Exposure: ColumnRef{"insurer", "exposure#"}, By: ColumnRef{"retailer", xname}, Edges: []float64{e0, e1}}},
			Epsilon:      eps, Delta: delta, Exact: exact, MaxRecords: maxRecords,
		}
		c, err := Compile(params, req)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) && !errors.Is(err, ErrInfeasible) && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		circ := c.Circuit()
		if err := circ.Validate(); err != nil {
			t.Fatal(err)
		}
		for s, v := range c.NoiseSigmas() {
			if !(v >= 0) || math.IsInf(v, 0) || (v == 0) != exact {
				t.Fatalf("statistic %d: σ %v (exact %v)", s, v, exact)
			}
		}
		for i, sig := range c.ProductSigmas() {
			if noiseTail*math.Sqrt2*sig > c.headroom(i)*(1+1e-9) {
				t.Fatalf("product %d: noise beyond headroom", i)
			}
		}
		const u = 9
		rows := []int{8, 2, 5}
		vals := []float64{xlo - 1, (xlo + xhi) / 2, xhi + 1}
		mults, err := c.EvaluatorColumns(map[string][]float64{xname: vals}, rows, u)
		if err != nil {
			t.Fatal(err)
		}
		for m, col := range mults {
			for _, v := range col {
				if v < 0 || v > circ.Multipliers[m].Max {
					t.Fatalf("multiplier %q out of bounds", circ.Multipliers[m].Name)
				}
			}
		}
		cols, err := c.UploaderColumns(map[string][]float64{yname: vals, "exposure#": {1, 2, 3}}, rows, u)
		if err != nil {
			t.Fatal(err)
		}
		for j, col := range cols {
			for _, v := range col {
				if v < 0 || v > circ.Columns[j].Max {
					t.Fatalf("column %q out of bounds", circ.Columns[j].Name)
				}
			}
		}
	})
}
