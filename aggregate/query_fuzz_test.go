package aggregate

import (
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// FuzzCompile feeds Compile the fields of a query as a peer would send
// them: it must never panic, must reject with ErrInvalidQuery or
// upload.ErrInfeasible, and whatever it accepts must have a valid circuit, finite
// noise within every ciphertext's headroom, and lay out in-bounds columns.
func FuzzCompile(f *testing.F) {
	params := crypto.MustParameters(crypto.PresetTest)
	f.Add(0.0, 500.0, -50.0, 1000.0, 40.0, 60.0, 1.0, 1e-6, true, false, "spend", "amount", 1<<12)
	f.Add(18.0, 90.0, 0.0, 10.0, 40.0, 30.0, 0.5, 1e-9, false, false, "age", "claims", 1<<14)
	f.Add(0.0, 1.0, 0.0, 1.0, 0.5, 0.75, 0.0, 0.0, true, true, "a", "a", 100)
	f.Add(math.Inf(-1), math.NaN(), 5.0, 5.0, math.NaN(), 1.0, -1.0, 2.0, true, false, "", "y", 0)
	// Tiny, huge and non-finite costs on an otherwise good query: 1e-20
	// used to hang the zCDP conversion.
	for _, c := range [][2]float64{{1e-20, 1e-6}, {1e-15, 1e-6}, {5e-324, 5e-324}, {1e300, 1e-6}, {math.Inf(1), 1e-6}, {math.NaN(), 1e-6}, {1, 0}, {1, math.NaN()}, {1e-6, 1e-15}, {1000, 0.01}} {
		f.Add(0.0, 500.0, -50.0, 1000.0, 40.0, 60.0, c[0], c[1], true, false, "spend", "amount", 1<<12)
	}
	f.Fuzz(func(t *testing.T, xlo, xhi, ylo, yhi, e0, e1, eps, delta float64, corr, exact bool, xname, yname string, maxRecords int) {
		if maxRecords > 1<<16 {
			maxRecords = 1 << 16 // keep the layout below small
		}
		req := Request{
			X:            []ColumnInfo{{Ref: ColumnRef{"retailer", xname}, Lo: xlo, Hi: xhi}},
			Y:            []ColumnInfo{{Ref: ColumnRef{"insurer", yname}, Lo: ylo, Hi: yhi}, {Ref: ColumnRef{"insurer", "exposure#"}, Lo: 0, Hi: 12}},
			Correlations: corr,
			Rates:        []RateRequest{{Events: ColumnRef{"insurer", yname}, Exposure: ColumnRef{"insurer", "exposure#"}, By: ColumnRef{"retailer", xname}, Edges: []float64{e0, e1}}},
			Epsilon:      eps, Delta: delta, Exact: exact, MaxRecords: maxRecords,
		}
		c, err := Compile(params, req)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) && !errors.Is(err, upload.ErrInfeasible) && !errors.Is(err, upload.ErrInvalidConfig) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if rho, _ := c.Rho(); !exact && (dp.CheckBudget(eps, delta) != nil || !(rho > 0) || math.IsInf(rho, 0)) {
			t.Fatalf("accepted epsilon %g, delta %g with ρ %g", eps, delta, rho)
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
		checkInBounds(t, "multiplier", mults, circ.Multipliers)
		cols, err := c.UploaderColumns(map[string][]float64{yname: vals, "exposure#": {1, 2, 3}}, rows, u)
		if err != nil {
			t.Fatal(err)
		}
		checkInBounds(t, "column", cols, circ.Columns)
	})
}

// checkInBounds fails the test if a laid-out value is outside [0, Max] of
// its column.
func checkInBounds(t *testing.T, what string, laid [][]int64, spec []upload.Column) {
	t.Helper()
	for j, col := range laid {
		for _, v := range col {
			if v < 0 || v > spec[j].Max {
				t.Fatalf("%s %q out of bounds", what, spec[j].Name)
			}
		}
	}
}

// FuzzCompileModels is FuzzCompile for regressions, contingency tables and
// rates grouped by an uploader column, with the roles of the columns
// chosen by the fuzzer (including wrong sides and repeats): Compile must
// never panic, must reject with ErrInvalidQuery or upload.ErrInfeasible, and what
// it accepts must lay out in-bounds columns and give finite cells.
func FuzzCompileModels(f *testing.F) {
	params := crypto.MustParameters(crypto.PresetTest)
	f.Add(uint8(0), uint8(1), uint8(2), 40.0, 300.0, 1.0, true, 1<<12)
	f.Add(uint8(2), uint8(2), uint8(4), 40.0, 3.0, 0.5, false, 1<<10)
	f.Add(uint8(7), uint8(0), uint8(3), 95.0, -60.0, 0.0, true, 0)
	f.Add(uint8(0), uint8(1), uint8(2), 40.0, 300.0, 1e-20, false, 1<<12)
	f.Add(uint8(0), uint8(1), uint8(2), 40.0, 300.0, 1e-15, false, 1<<12)
	f.Fuzz(func(t *testing.T, outcome, pred, tableY uint8, xEdge, yEdge, eps float64, exact bool, maxRecords int) {
		if maxRecords > 1<<16 {
			maxRecords = 1 << 16
		}
		refs := []ColumnRef{refSpend, refAge, refClaims, refExposure, refAmount}
		pick := func(i uint8) ColumnRef { return refs[int(i)%len(refs)] }
		req := Request{
			X:             []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refAge, Lo: 18, Hi: 90}},
			Y:             []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12}, {Ref: refAmount, Lo: -50, Hi: 1000}},
			Regressions:   []RegressionRequest{{Outcome: pick(outcome), Predictors: []ColumnRef{pick(pred), refSpend}}},
			Contingencies: []ContingencyRequest{{X: refAge, XEdges: []float64{xEdge}, Y: pick(tableY), YEdges: []float64{yEdge}}},
			Rates:         []RateRequest{{Events: refClaims, Exposure: refExposure, By: pick(tableY), Edges: []float64{yEdge}}},
			Epsilon:       eps, Delta: 1e-6, Exact: exact, MaxRecords: maxRecords,
		}
		c, err := Compile(params, req)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuery) && !errors.Is(err, upload.ErrInfeasible) && !errors.Is(err, upload.ErrInvalidConfig) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		circ := c.Circuit()
		const u = 9
		rows := []int{8, 2, 5}
		vals := func(lo, hi float64) []float64 { return []float64{lo - 1, (lo + hi) / 2, hi + 1} }
		mults, err := c.EvaluatorColumns(map[string][]float64{"spend": vals(0, 500), "age": vals(18, 90)}, rows, u)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := c.UploaderColumns(map[string][]float64{"claims": vals(0, 10), "exposure": vals(0, 12), "amount": vals(-50, 1000)}, rows, u)
		if err != nil {
			t.Fatal(err)
		}
		checkInBounds(t, "multiplier", mults, circ.Multipliers)
		checkInBounds(t, "column", cols, circ.Columns)
		st := make([]float64, len(circ.Stats))
		for s, v := range uploadtest.ExactStats(circ, mults, cols) {
			st[s] = float64(v)
		}
		cells, err := c.Results(st, QueryParties, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, cell := range cells {
			for _, v := range []float64{cell.Value, cell.CILow, cell.CIHigh, cell.NoiseStd, cell.N, cell.P} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("cell %+v not JSON-encodable", cell)
				}
			}
		}
	})
}
