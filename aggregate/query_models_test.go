package aggregate

import (
	"errors"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// modelsRequest asks for the statistics beyond correlations: two
// regressions (amount on spend and age, claims on age), a table of age band
// by claim count, and the claim rate per band of the insurer's own amount
// column (a group-by on the uploader's side).
func modelsRequest(maxRecords int, exact bool) Request {
	return Request{
		X: []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refAge, Lo: 18, Hi: 90}},
		Y: []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12}, {Ref: refAmount, Lo: -50, Hi: 1000}},
		Regressions: []RegressionRequest{
			{Outcome: refAmount, Predictors: []ColumnRef{refSpend, refAge}},
			{Outcome: refClaims, Predictors: []ColumnRef{refAge}},
		},
		Contingencies: []ContingencyRequest{{X: refAge, XEdges: []float64{40, 60}, Y: refClaims, YEdges: []float64{1, 3}}},
		Rates:         []RateRequest{{Events: refClaims, Exposure: refExposure, By: refAmount, Edges: []float64{300, 600}}},
		Epsilon:       1, Delta: 1e-6, Exact: exact, MaxRecords: maxRecords,
	}
}

// plainTerms are a person's values of the terms of predictors xs: a
// numeric predictor's value, and for a categorical one the indicator of
// each level but the first.
func plainTerms(pe person, req Request, xs []ColumnRef) []float64 {
	var out []float64
	for _, x := range xs {
		v := plainValue(pe, x, req)
		levels := columnOf(x, req).Levels
		if len(levels) == 0 {
			out = append(out, v)
			continue
		}
		for k := 1; k < len(levels); k++ {
			out = append(out, map[bool]float64{false: 0, true: 1}[v == float64(k)])
		}
	}
	return out
}

// plainOLS fits y on the predictors with intercept over the common records
// by a direct solve of the normal equations in value units. It returns the
// coefficients (intercept first, then one per term: plainTerms), their
// sampling standard errors and R².
func (w world) plainOLS(t *testing.T, req Request, y ColumnRef, xs []ColumnRef) (beta, se []float64, r2 float64) {
	t.Helper()
	p := len(plainTerms(person{}, req, xs)) + 1
	a := make([][]float64, p)
	for i := range a {
		a[i] = make([]float64, p)
	}
	b := make([]float64, p)
	var n, sy, syy float64
	row := make([]float64, p)
	for _, pe := range w.people {
		if !pe.inX || !pe.inY {
			continue
		}
		row[0] = 1
		copy(row[1:], plainTerms(pe, req, xs))
		v := plainValue(pe, y, req)
		for i := range row {
			for j := range row {
				a[i][j] += row[i] * row[j]
			}
			b[i] += row[i] * v
		}
		n++
		sy += v
		syy += v * v
	}
	inv := invert(t, a)
	beta = make([]float64, p)
	for i := range beta {
		for j := range beta {
			beta[i] += inv[i][j] * b[j]
		}
	}
	var bXty float64
	for i := range beta {
		bXty += beta[i] * b[i]
	}
	rss := syy - bXty
	sigma2 := rss / (n - float64(p))
	se = make([]float64, p)
	for i := range se {
		se[i] = math.Sqrt(sigma2 * inv[i][i])
	}
	return beta, se, 1 - rss/(syy-sy*sy/n)
}

// findCell returns the cell of cells with the statistic, x and group
// given, failing the test if there is none.
func findCell(tb testing.TB, cells []Cell, stat, x, group string) Cell {
	tb.Helper()
	for _, cell := range cells {
		if cell.Statistic == stat && cell.X == x && cell.Group == group {
			return cell
		}
	}
	tb.Fatalf("no cell %s %s %q", stat, x, group)
	return Cell{}
}

// invert inverts a small matrix by Gauss–Jordan elimination with partial
// pivoting.
func invert(t *testing.T, a [][]float64) [][]float64 {
	t.Helper()
	p := len(a)
	m := make([][]float64, p)
	for i := range m {
		m[i] = make([]float64, 2*p)
		copy(m[i], a[i])
		m[i][p+i] = 1
	}
	for c := 0; c < p; c++ {
		piv := c
		for r := c + 1; r < p; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		m[c], m[piv] = m[piv], m[c]
		if m[c][c] == 0 {
			t.Fatal("singular normal equations")
		}
		d := m[c][c]
		for k := range m[c] {
			m[c][k] /= d
		}
		for r := 0; r < p; r++ {
			if r == c {
				continue
			}
			f := m[r][c]
			for k := range m[r] {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	out := make([][]float64, p)
	for i := range out {
		out[i] = m[i][p:]
	}
	return out
}

// bucketOf returns the bucket of v among inner edges.
func bucketOf(v float64, edges []float64) int {
	b := 0
	for b < len(edges) && v >= edges[b] {
		b++
	}
	return b
}

// TestQueryModelsEndToEndExact runs a regression, a contingency table and a
// rate grouped by an uploader column through the encrypted core and checks
// every cell against float64 computations over the records both owners
// hold, joined on identity.
func TestQueryModelsEndToEndExact(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := modelsRequest(1<<13, true)
	c := mustCompile(t, k.Params, req)
	w := newWorld(13, 2*k.Params.N()+97, false)
	got := runQuery(t, k, c, w)
	cells, err := c.Results(got, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if d := math.Abs(got - want); !(d <= tol*max(1, math.Abs(want))) {
			t.Errorf("%s = %.10g, want %.10g", name, got, want)
		}
	}
	find := func(stat, x, y, group string) Cell {
		t.Helper()
		for _, cell := range cells {
			if cell.Statistic == stat && cell.X == x && cell.Y == y && cell.Group == group {
				if cell.Suppressed || !cell.Exact {
					t.Errorf("%+v: want an exact, unsuppressed cell", cell)
				}
				return cell
			}
		}
		t.Fatalf("no cell %s %s %s %q", stat, x, y, group)
		return Cell{}
	}

	// Regressions: coefficients and their sampling intervals.
	for _, rg := range req.Regressions {
		beta, se, r2 := w.plainOLS(t, req, rg.Outcome, rg.Predictors)
		names := make([]string, len(rg.Predictors))
		for j, p := range rg.Predictors {
			names[j] = p.String()
		}
		model := rg.Outcome.String() + " ~ " + strings.Join(names, " + ")
		check := func(what string, cell Cell, b, s float64) {
			t.Helper()
			near(what, cell.Value, b, 1e-6)
			near(what+" half-width", (cell.CIHigh-cell.CILow)/2, stats.Z95*s, 1e-6)
			if !(cell.NoiseStd < 1e-3*s) {
				t.Errorf("%s: noise %.3g in exact mode (SE %.3g)", what, cell.NoiseStd, s)
			}
		}
		check("intercept "+model, find(CellOLSIntercept, "", rg.Outcome.String(), model), beta[0], se[0])
		for j, p := range rg.Predictors {
			check("coef "+p.String()+" in "+model, find(CellOLSCoef, p.String(), rg.Outcome.String(), model), beta[j+1], se[j+1])
		}
		near("r2 "+model, find(CellR2, "", rg.Outcome.String(), model).Value, r2, 1e-6)
	}
	// The planted effect: amount grows by a quarter of spend.
	if b := find(CellOLSCoef, refSpend.String(), refAmount.String(), "insurer.amount ~ retailer.spend + retailer.age"); math.Abs(b.Value-0.25) > 0.1 || !(b.CILow < 0.25 && 0.25 < b.CIHigh) {
		t.Errorf("spend coefficient %+v, planted 0.25", b)
	}

	// Contingency table: exact counts, and the test on the true table.
	ct := req.Contingencies[0]
	table := make([][]float64, len(ct.XEdges)+1)
	for a := range table {
		table[a] = make([]float64, len(ct.YEdges)+1)
	}
	for _, p := range w.people {
		if p.inX && p.inY {
			table[bucketOf(plainValue(p, ct.X, req), ct.XEdges)][bucketOf(plainValue(p, ct.Y, req), ct.YEdges)]++
		}
	}
	xl, yl := []string{"[18,40)", "[40,60)", "[60,90]"}, []string{"[0,1)", "[1,3)", "[3,10]"}
	for a := range table {
		for b := range table[a] {
			cell := find(CellCount, ct.X.String(), ct.Y.String(), "x="+xl[a]+" y="+yl[b])
			// Exact up to the homomorphic error, far below one half (the
			// node rounds exact counts).
			if math.Abs(cell.Value-table[a][b]) > 1e-6 || cell.N != cell.Value {
				t.Errorf("count %s: %v, want %v", cell.Group, cell.Value, table[a][b])
			}
		}
	}
	want, err := stats.ChiSquare(table, 0)
	if err != nil {
		t.Fatal(err)
	}
	chi := find(CellChiSquare, ct.X.String(), ct.Y.String(), "")
	near("chi2", chi.Value, want.Statistic, 1e-6)
	near("chi2 p", chi.P, want.P, 1e-6)
	// Clipping: the share of the common records whose raw value lay
	// outside the bounds, exactly, and a warning above ClipWarnShare.
	clipped := 0
	for _, cell := range cells {
		if cell.Statistic != CellClipped {
			continue
		}
		clipped++
		ref := cell.X + cell.Y
		var ci ColumnInfo
		for _, c := range append(append([]ColumnInfo(nil), req.X...), req.Y...) {
			if c.Ref.String() == ref {
				ci = c
			}
		}
		var out, n float64
		for _, p := range w.people {
			if p.inX && p.inY {
				n++
				if v := rawValue(p, ci.Ref); v < ci.Lo || v > ci.Hi {
					out++
				}
			}
		}
		near("clipped "+ref, cell.Value, out/n, 1e-12)
		if (cell.Value > ClipWarnShare) != (cell.Warning != "") || cell.Suppressed {
			t.Errorf("clipped %s: %+v", ref, cell)
		}
	}
	if clipped != len(req.X)+len(req.Y) {
		t.Errorf("%d clipping cells for %d numeric columns", clipped, len(req.X)+len(req.Y))
	}
	// Exact mode adds no noise: no cell says it has any, and every
	// regression cell carries its condition number, here with no warning.
	for _, cell := range cells {
		if cell.NoiseStd != 0 {
			t.Errorf("%s %s %s: noise_std %g in exact mode", cell.Statistic, cell.X, cell.Group, cell.NoiseStd)
		}
		regression := cell.Statistic == CellOLSIntercept || cell.Statistic == CellOLSCoef || cell.Statistic == CellR2
		if regression != (cell.Condition >= 1) || (cell.Warning != "" && cell.Statistic != CellClipped) {
			t.Errorf("%s %s %s: condition %g, warning %q", cell.Statistic, cell.X, cell.Group, cell.Condition, cell.Warning)
		}
	}
	if chi.P > 1e-6 || math.Abs(chi.N-got[c.statN]) > 1e-6 {
		t.Errorf("chi2 cell %+v: the planted dependence of claims on age is missing", chi)
	}

	// Rates per band of the uploader's amount column.
	edges := req.Rates[0].Edges
	var nb, ev, ex [3]float64
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		b := bucketOf(plainValue(p, refAmount, req), edges)
		nb[b]++
		ev[b] += plainValue(p, refClaims, req)
		ex[b] += plainValue(p, refExposure, req)
	}
	yName := refClaims.String() + "/" + refExposure.String()
	for b, label := range []string{"[-50,300)", "[300,600)", "[600,1000]"} {
		if cell := find(CellCount, refAmount.String(), "", label); math.Abs(cell.Value-nb[b]) > 1e-6 {
			t.Errorf("n %s = %v, want %v", label, cell.Value, nb[b])
		}
		near("rate "+label, find(CellRate, refAmount.String(), yName, label).Value, ev[b]/ex[b], 1e-6)
		near("rr "+label, find(CellRelativeRisk, refAmount.String(), yName, label).Value, (ev[b]/ex[b])/(ev[0]/ex[0]), 1e-6)
	}
	seen := map[string]int{}
	for _, cell := range cells {
		seen[cell.Statistic]++
	}
	if seen[CellOLSIntercept] != 2 || seen[CellOLSCoef] != 3 || seen[CellR2] != 2 || seen[CellChiSquare] != 1 || seen[CellCount] != 1+9+3 || seen[CellRate] != 3 {
		t.Errorf("cells per statistic %v", seen)
	}
}

// TestQueryModelsColumns checks what each owner lays out for the new
// statistics: the evaluator's own products x_j·x_k and table indicators,
// the uploader's one-hot table columns and value·1[bucket] columns.
func TestQueryModelsColumns(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := modelsRequest(1<<12, true)
	req.Resolution = ResolutionBits
	c := mustCompile(t, params, req)
	const u = 6
	xRows := []int{4, 0, 2}
	xVals := map[string][]float64{"spend": {-3, 612.5, 100.25}, "age": {95, 39.5, 40}}
	mults, err := c.EvaluatorColumns(xVals, xRows, u)
	if err != nil {
		t.Fatal(err)
	}
	yRows := []int{5, 0, 2}
	yVals := map[string][]float64{"claims": {11, 2, 0}, "exposure": {12, 0.5, 3}, "amount": {-80, 650, 299}}
	cols, err := c.UploaderColumns(yVals, yRows, u)
	if err != nil {
		t.Fatal(err)
	}
	circ := c.Circuit()
	byName := map[string][]int64{}
	for i, m := range circ.Multipliers {
		byName["m:"+m.Name] = mults[i]
	}
	for i, col := range circ.Columns {
		byName["c:"+col.Name] = cols[i]
	}
	for name, col := range byName {
		var max int64
		if strings.HasPrefix(name, "m:") {
			max = circ.Multipliers[indexOfColumn(circ.Multipliers, name[2:])].Max
		} else {
			max = circ.Columns[indexOfColumn(circ.Columns, name[2:])].Max
		}
		for r, v := range col {
			if v < 0 || v > max {
				t.Errorf("%s row %d = %d outside [0, %d]", name, r, v, max)
			}
		}
	}
	// spend 2000 (500·4) and 401 at rows 0 and 2; age (39.5−18)·16 and
	// (40−18)·16 there, (90−18)·16 at row 4.
	want := map[string][]int64{
		"m:xx/spend/age": {2000 * 344, 0, 401 * 352, 0, 0, 0},
		"m:cx0/0":        {1, 0, 0, 0, 0, 0},
		"m:cx0/1":        {0, 0, 1, 0, 0, 0},
		"m:cx0/2":        {0, 0, 0, 0, 1, 0},
		"c:cy0/0":        {0, 0, 1, 0, 0, 0}, // claims 0
		"c:cy0/1":        {1, 0, 0, 0, 0, 0}, // claims 2
		"c:cy0/2":        {0, 0, 0, 0, 0, 1}, // claims 11 → 10
		"c:ind0/0":       {0, 0, 1, 0, 0, 1}, // amount 299 and −80 → −50
		"c:ind0/2":       {1, 0, 0, 0, 0, 0}, // amount 650
		"c:events0/0":    {0, 0, 0, 0, 0, 10 * 128},
		"c:events0/2":    {2 * 128, 0, 0, 0, 0, 0},
		"c:exposure0/0":  {0, 0, 3 * 128, 0, 0, 12 * 128},
		"c:exposure0/1":  {0, 0, 0, 0, 0, 0},
	}
	checkLaidOut(t, byName, want)
	// A Y-side group-by needs nothing of the evaluator; the events column
	// itself is not uploaded, only its bucketed copies.
	for _, m := range circ.Multipliers {
		if strings.HasPrefix(m.Name, "by") {
			t.Errorf("multiplier %s for an uploader-side group-by", m.Name)
		}
	}
	for _, col := range circ.Columns {
		if col.Name == "y/exposure" {
			t.Error("exposure uploaded unbucketed though no statistic needs it")
		}
	}
	if _, err := c.UploaderColumns(map[string][]float64{"claims": {1, 2, 3}, "exposure": {1, 2, 3}}, yRows, u); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("missing group-by values: %v", err)
	}
	if _, err := c.UploaderColumns(map[string][]float64{"claims": {1, 2, 3}, "exposure": {1, 2, 3}, "amount": {1, math.NaN(), 3}}, yRows, u); err == nil {
		t.Error("NaN group-by value accepted")
	}
}

func indexOfColumn(cols []upload.Column, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func TestCompileModelsValidation(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	edit := func(f func(r *Request)) Request {
		r := modelsRequest(1<<12, false)
		f(&r)
		return r
	}
	levels := make([]string, MaxPredictors+2) // one term per level but the first: one too many
	for i := range levels {
		levels[i] = strconv.Itoa(i)
	}
	tests := []struct {
		name    string
		req     Request
		mention string
	}{
		{"outcome-unknown", edit(func(r *Request) { r.Regressions[0].Outcome = ColumnRef{"insurer", "deaths"} }), "insurer.deaths"},
		{"outcome-in-X", edit(func(r *Request) { r.Regressions[0].Outcome = refAge }), `"retailer.age" is an X column`},
		{"predictor-is-outcome", edit(func(r *Request) { r.Regressions[0].Predictors[1] = refAmount }), `"insurer.amount" is both the outcome and a predictor`},
		{"predictor-unknown", edit(func(r *Request) { r.Regressions[0].Predictors[1] = ColumnRef{"retailer", "income"} }), "retailer.income"},
		{"predictor-duplicate", edit(func(r *Request) { r.Regressions[0].Predictors[1] = refSpend }), "duplicate predictor"},
		{"no-predictor", edit(func(r *Request) { r.Regressions[1].Predictors = nil }), "insurer.claims"},
		{"too-many-terms", edit(func(r *Request) {
			r.X[1] = ColumnInfo{Ref: refAge, Lo: 0, Hi: float64(len(levels) - 1), Levels: levels}
			r.Regressions[1].Predictors = []ColumnRef{refAge}
		}), "18 terms (a categorical predictor is one per level but the first), at most 16"},
		{"too-wide-to-square", edit(func(r *Request) { r.X[0].Hi = 1e9 }), "retailer.spend"},
		{"table-X-in-Y", edit(func(r *Request) { r.Contingencies[0].X = refAmount }), "insurer.amount"},
		{"table-Y-in-X", edit(func(r *Request) { r.Contingencies[0].Y = refSpend }), "retailer.spend"},
		{"table-unsorted-X", edit(func(r *Request) { r.Contingencies[0].XEdges = []float64{60, 40} }), "retailer.age"},
		{"table-unsorted-Y", edit(func(r *Request) { r.Contingencies[0].YEdges = []float64{3, 3} }), "insurer.claims"},
		{"table-no-Y-edges", edit(func(r *Request) { r.Contingencies[0].YEdges = nil }), "insurer.claims"},
		{"table-edge-outside", edit(func(r *Request) { r.Contingencies[0].YEdges = []float64{1, 10} }), "insurer.claims"},
		{"table-too-big", edit(func(r *Request) {
			r.X[0].Hi = 1e6
			r.Contingencies[0].X, r.Contingencies[0].XEdges = refSpend, make([]float64, 400)
			for i := range r.Contingencies[0].XEdges {
				r.Contingencies[0].XEdges[i] = float64(i + 1)
			}
		}), "cells"},
		{"rate-by-Y-unsorted", edit(func(r *Request) { r.Rates[0].Edges = []float64{600, 300} }), "insurer.amount"},
		{"rate-by-unknown", edit(func(r *Request) { r.Rates[0].By = ColumnRef{"insurer", "band"} }), "insurer.band"},
		{"unused-X", edit(func(r *Request) {
			r.Regressions[0].Predictors = r.Regressions[0].Predictors[1:]
		}), "retailer.spend"},
		{"nothing", edit(func(r *Request) { r.Regressions, r.Contingencies, r.Rates = nil, nil, nil }), "no statistic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCompileError(t, params, tc.req, ErrInvalidQuery, tc.mention)
		})
	}
	// The compiled request is a deep copy: editing the caller's slices
	// changes nothing.
	req := modelsRequest(1<<12, false)
	c := mustCompile(t, params, req)
	req.Regressions[0].Predictors[0] = refAge
	req.Contingencies[0].XEdges[0] = 19
	got := c.Request()
	if got.Regressions[0].Predictors[0] != refSpend || got.Contingencies[0].XEdges[0] != 40 || len(got.Rates) != 1 {
		t.Errorf("compiled request changed with the caller's: %+v", got)
	}
}

// TestModelsNoiseCalibration checks the privacy accounting of the new
// statistics: a table is one family, each kind of an uploader-side rate one
// family, a statistic shared by a correlation and a regression one family;
// the products' costs add up to ρ.
func TestModelsNoiseCalibration(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	for _, corr := range []bool{false, true} {
		req := modelsRequest(1<<13, false)
		req.Correlations = corr
		c := mustCompile(t, params, req)
		rho, fam := c.Rho()
		// n; regression 1: Σx ×2, Σxx ×3, Σy, Σy², Σxy ×2; regression 2
		// (Σage, Σage² shared): Σy, Σy², Σxy; the table; 3 rate kinds.
		want := 1 + (2 + 3 + 2 + 2) + 3 + 1 + 3
		if corr {
			// Correlations add Σy, Σy² of exposure and the Σxy pairs not
			// in a regression: spend×claims, spend×exposure, age×exposure.
			want += 2 + 3
		}
		if fam != want {
			t.Errorf("correlations=%v: %d families, want %d", corr, fam, want)
		}
		total := familyCosts(c, c.groups)
		if total > rho || total < rho*(1-1e-6) {
			t.Errorf("correlations=%v: released products cost ρ = %.9g, budget %.9g", corr, total, rho)
		}
	}
}

// familyCosts adds the zCDP cost of every released product: for each of
// families (statistics disjoint in people), the largest cost over its
// members; for a statistic in none of c's families, its own cost.
func familyCosts(c *Compiled, families [][]int) float64 {
	plan := c.Plan()
	sig := c.ProductSigmas()
	statCost := make([]float64, len(plan.Circuit().Stats))
	for i, pr := range plan.Products() {
		sens := float64(pr.Max * plan.Circuit().Columns[pr.Column].Max)
		statCost[pr.Stat] += dp.GaussianRho(sens, sig[i])
	}
	total := 0.0
	for s, cost := range statCost {
		if !isBucket(c, s) {
			total += cost
		}
	}
	for _, group := range families {
		m := 0.0
		for _, s := range group {
			m = max(m, statCost[s])
		}
		total += m
	}
	return total
}

// TestResultsModelsNoise checks the noisy cells of the new statistics
// against aggregate/stats and an independent propagation: the slopes are
// stats.OLS on the shifted sums rescaled; the intercept's DP noise equals
// the first-order propagation of every entry's noise through stats.OLS by
// finite differences; the chi-square cell is stats.ChiSquare with the cell
// noise.
func TestResultsModelsNoise(t *testing.T) {
	const u = 4000
	c, st := noisyStatistics(t, modelsRequest(1<<13, false), newWorld(17, u, false), 9)
	cells, err := c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	find := func(stat, x, group string) Cell { t.Helper(); return findCell(t, cells, stat, x, group) }
	sig := func(s int) float64 { return math.Hypot(fixedSigma(c, s), c.errorStd(s)) }
	g := c.regs[0]
	model := "insurer.amount ~ retailer.spend + retailer.age"
	p := len(g.terms) + 1
	// The shifted sums as the querier holds them; entry e of the upper
	// triangle of XᵀX then of Xᵀy is statistic ids[e].
	var ids []int
	var pos [][2]int // (i, j) of XᵀX, or (−1, i) of Xᵀy
	stat := func(i, j int) int {
		switch {
		case i == 0 && j == 0:
			return c.statN
		case i == 0:
			return g.sumX[j-1]
		}
		return g.xx[i-1][j-1]
	}
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			ids, pos = append(ids, stat(i, j)), append(pos, [2]int{i, j})
		}
	}
	ids, pos = append(ids, g.sumY), append(pos, [2]int{-1, 0})
	for j := range g.terms {
		ids, pos = append(ids, g.sumXY[j]), append(pos, [2]int{-1, j + 1})
	}
	fit := func(vals []float64) (stats.OLSResult, error) {
		in := stats.OLSInput{N: st[c.statN], XtX: make([][]float64, p), Xty: make([]float64, p), Yty: st[g.sumY2], Intercept: true}
		nz := stats.OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
		for i := range in.XtX {
			in.XtX[i], nz.XtX[i] = make([]float64, p), make([]float64, p)
		}
		for e, q := range pos {
			if q[0] < 0 {
				in.Xty[q[1]], nz.Xty[q[1]] = vals[e], sig(ids[e])
			} else {
				in.XtX[q[0]][q[1]], nz.XtX[q[0]][q[1]] = vals[e], sig(ids[e])
			}
		}
		return stats.OLS(in, nz)
	}
	vals := make([]float64, len(ids))
	for e, s := range ids {
		vals[e] = st[s]
	}
	base, err := fit(vals)
	if err != nil {
		t.Fatal(err)
	}
	yfp := c.ys[g.outcome].fp
	unitY := math.Exp2(float64(yfp.FracBits))
	intercept := func(r stats.OLSResult) float64 {
		v := r.Coef[0].Value
		for j, term := range g.terms {
			x := term.fp
			v -= math.Exp2(float64(x.FracBits)) * x.Lo * r.Coef[j+1].Value
		}
		return yfp.Lo + v/unitY
	}
	for j, term := range g.terms {
		f := math.Exp2(float64(term.fp.FracBits)) / unitY
		cell := find(CellOLSCoef, term.name, model)
		e := base.Coef[j+1]
		if math.Abs(cell.Value-e.Value*f) > 1e-9*math.Abs(e.Value*f) || math.Abs(cell.CIHigh-e.Hi*f) > 1e-9*math.Abs(e.Hi*f) || math.Abs(cell.NoiseStd-e.NoiseSE*f) > 1e-9*e.NoiseSE*f {
			t.Errorf("coefficient %+v, stats %+v ×%g", cell, e, f)
		}
	}
	// dβ_0/d(entry) by central differences, then the DP variance.
	var dpVar float64
	for e := range vals {
		h := 1e-5 * math.Max(math.Abs(vals[e]), 1)
		up, down := append([]float64(nil), vals...), append([]float64(nil), vals...)
		up[e] += h
		down[e] -= h
		ru, err := fit(up)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := fit(down)
		if err != nil {
			t.Fatal(err)
		}
		d := (intercept(ru) - intercept(rd)) / (2 * h)
		dpVar += d * d * sig(ids[e]) * sig(ids[e])
	}
	cell := find(CellOLSIntercept, "", model)
	if math.Abs(cell.Value-intercept(base)) > 1e-9*math.Abs(intercept(base)) {
		t.Errorf("intercept %v, from stats.OLS %v", cell.Value, intercept(base))
	}
	if want := math.Sqrt(dpVar); math.Abs(cell.NoiseStd-want) > 0.01*want {
		t.Errorf("intercept noise %.6g, propagated %.6g", cell.NoiseStd, want)
	}
	if !(cell.CILow < cell.Value && cell.Value < cell.CIHigh) || (cell.CIHigh-cell.CILow)/2 < stats.Z95*cell.NoiseStd {
		t.Errorf("intercept interval %+v narrower than its noise", cell)
	}

	tb := c.cts[0]
	table := make([][]float64, len(tb.cells))
	var cellSig float64
	for a, row := range tb.cells {
		table[a] = make([]float64, len(row))
		for b, s := range row {
			table[a][b] = st[s]
			cellSig = math.Max(cellSig, sig(s))
		}
	}
	want, err := stats.ChiSquare(table, cellSig)
	if err != nil {
		t.Fatal(err)
	}
	chi := find(CellChiSquare, "retailer.age", "")
	if chi.Value != want.AdjustedStatistic || chi.P != want.AdjustedP || !(want.NoiseFactor > 1) || !(chi.NoiseStd > 0) {
		t.Errorf("chi2 cell %+v, stats %+v", chi, want)
	}
	// With a min group size above the table's total, the test is withheld
	// but the counts are still released.
	cells, err = c.Results(st, queryOwners, u)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		if cell.Statistic == CellChiSquare && (!cell.Suppressed || cell.P != 0 || cell.Value != 0) {
			t.Errorf("chi2 under min group size: %+v", cell)
		}
		if cell.Statistic == CellCount && cell.Suppressed {
			t.Errorf("count suppressed: %+v", cell)
		}
		if (cell.Statistic == CellOLSCoef || cell.Statistic == CellR2) && !cell.Suppressed {
			t.Errorf("regression cell under min group size: %+v", cell)
		}
	}
}

// TestChiSquareNoiseStd checks the spread the cell noise gives Pearson's
// statistic against a simulation, for a dependent table (first-order term)
// and an independent one (second-order term).
func TestChiSquareNoiseStd(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, tc := range []struct {
		name  string
		table [][]float64
		sigma float64
	}{
		{"dependent", [][]float64{{300, 100, 50}, {120, 200, 90}, {40, 80, 260}}, 8},
		{"independent", [][]float64{{100, 200, 300}, {200, 400, 600}, {50, 100, 150}}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const draws = 3000
			var sum, sum2 float64
			noisy := make([][]float64, len(tc.table))
			for d := 0; d < draws; d++ {
				for i, row := range tc.table {
					noisy[i] = make([]float64, len(row))
					for j, v := range row {
						noisy[i][j] = v + rng.NormFloat64()*tc.sigma
					}
				}
				r, err := stats.ChiSquare(noisy, 0)
				if err != nil {
					t.Fatal(err)
				}
				sum += r.Statistic
				sum2 += r.Statistic * r.Statistic
			}
			mean := sum / draws
			std := math.Sqrt(sum2/draws - mean*mean)
			if got := chiSquareNoiseStd(tc.table, tc.sigma); math.Abs(got/std-1) > 0.15 {
				t.Errorf("noise std %.4g, simulated %.4g", got, std)
			}
		})
	}
}

// TestFillCellNotFinite checks that a cell whose estimate overflowed is
// suppressed with zeros rather than carrying ±Inf or NaN, which JSON cannot
// encode.
func TestFillCellNotFinite(t *testing.T) {
	for _, bad := range [][4]float64{
		{1, math.Inf(-1), math.Inf(1), math.Inf(1)},
		{math.NaN(), 0, 1, 0},
		{1, 0, 2, math.NaN()},
	} {
		cell := fillCell(Cell{Statistic: CellOLSCoef, N: 100}, 10, func() (float64, float64, float64, float64, error) {
			return bad[0], bad[1], bad[2], bad[3], nil
		})
		if !cell.Suppressed || cell.Reason != reasonNotFinite || cell.Value != 0 || cell.CILow != 0 || cell.CIHigh != 0 || cell.NoiseStd != 0 {
			t.Errorf("%v: cell %+v", bad, cell)
		}
	}
	if cell := fillCell(Cell{N: 100}, 10, func() (float64, float64, float64, float64, error) { return 1, 0, 2, 0.5, nil }); cell.Suppressed || cell.Value != 1 || cell.CIHigh != 2 || cell.NoiseStd != 0.5 {
		t.Errorf("finite cell %+v", cell)
	}
}

// TestResultsIllConditionedWarning makes age a near-exact linear function
// of spend: the regression of amount on both is still fitted, and every
// one of its cells carries the condition number and a warning; the
// regression on age alone carries neither.
func TestResultsIllConditionedWarning(t *testing.T) {
	w := newWorld(23, 3000, false)
	rng := rand.New(rand.NewSource(5))
	for k, v := range w.xVals["spend"] {
		w.xVals["age"][k] = 20 + math.Min(math.Max(v, 0), 500)/8 + float64(rng.Intn(3)-1)/512
	}
	c, st := noisyStatistics(t, modelsRequest(1<<13, true), w, 1)
	cells, err := c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	var warned, plain int
	for _, cell := range cells {
		switch {
		case cell.Group == "insurer.amount ~ retailer.spend + retailer.age":
			if cell.Suppressed || !(cell.Condition > stats.WarnCondition) || !strings.Contains(cell.Warning, "ill-conditioned") {
				t.Errorf("%+v: want a fitted cell with a warning", cell)
			}
			warned++
		case strings.HasPrefix(cell.Group, "insurer.claims ~"):
			if cell.Suppressed || cell.Warning != "" || !(cell.Condition >= 1) {
				t.Errorf("%+v: want a fitted cell without a warning", cell)
			}
			plain++
		}
	}
	if warned != 4 || plain != 3 {
		t.Errorf("%d warned and %d plain regression cells, want 4 and 3", warned, plain)
	}
}
