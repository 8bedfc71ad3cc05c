package aggregate

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

var (
	refSpend    = ColumnRef{"retailer", "spend"}
	refAge      = ColumnRef{"retailer", "age"}
	refClaims   = ColumnRef{"insurer", "claims"}
	refExposure = ColumnRef{"insurer", "exposure"}
	refAmount   = ColumnRef{"insurer", "amount"}
)

// testRequest is the query of the tests: two retailer columns (one with a
// positive lower bound), three insurer columns (one with a negative lower
// bound), correlations and a claim rate per age band.
func testRequest(maxRecords int, exact bool) Request {
	return Request{
		X:            []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refAge, Lo: 18, Hi: 90}},
		Y:            []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12}, {Ref: refAmount, Lo: -50, Hi: 1000}},
		Correlations: true,
		Rates:        []RateRequest{{Events: refClaims, Exposure: refExposure, By: refAge, Edges: []float64{40, 60}}},
		Epsilon:      1, Delta: 1e-6, Exact: exact, MaxRecords: maxRecords,
	}
}

// person is one customer of the union with the values each owner holds.
type person struct {
	inX, inY                 bool
	spend, age               float64
	claims, exposure, amount float64
}

// world is a union of people, each owner's records in its own order, and
// rows[k] the union row of an owner's record k.
type world struct {
	people       []person
	xRows, yRows []int
	xVals, yVals map[string][]float64
}

// newWorld draws a union of u people; about 80 % are retailer customers and
// 70 % insurer customers, independently. Values stray outside the declared
// bounds so that clamping matters, and lie on the fixed-point grid of the
// test request so that the encrypted sums are exact. atBounds puts everyone
// in both datasets with every value at its upper bound.
func newWorld(seed int64, u int, atBounds bool) world {
	rng := rand.New(rand.NewSource(seed))
	w := world{people: make([]person, u), xVals: map[string][]float64{}, yVals: map[string][]float64{}}
	for i := range w.people {
		p := &w.people[i]
		p.inX, p.inY = rng.Float64() < 0.8, rng.Float64() < 0.7
		p.spend = float64(rng.Intn(2500)-50) / 4 // [−12.5, 612.25], step 1/4
		p.age = float64(10 + rng.Intn(86))       // [10, 95]
		p.claims = float64(rng.Intn(3))
		if p.age > 60 {
			p.claims += float64(rng.Intn(10)) // more claims with age
		}
		p.exposure = float64(1 + rng.Intn(13))
		p.amount = float64(rng.Intn(1200)-80) + p.spend/4
		p.amount = math.Round(p.amount)
		if atBounds {
			*p = person{true, true, 500, 90, 10, 12, 1000}
		}
	}
	for _, r := range rng.Perm(u) {
		p := w.people[r]
		if p.inX {
			w.xRows = append(w.xRows, r)
			w.xVals["spend"] = append(w.xVals["spend"], p.spend)
			w.xVals["age"] = append(w.xVals["age"], p.age)
		}
		if p.inY {
			w.yRows = append(w.yRows, r)
			w.yVals["claims"] = append(w.yVals["claims"], p.claims)
			w.yVals["exposure"] = append(w.yVals["exposure"], p.exposure)
			w.yVals["amount"] = append(w.yVals["amount"], p.amount)
		}
	}
	return w
}

// columns lays out both owners' records of w over its whole union for c:
// the evaluator's multipliers and the uploader's columns.
func (w world) columns(tb testing.TB, c *Compiled) (mults, cols [][]int64) {
	tb.Helper()
	u := len(w.people)
	mults, err := c.EvaluatorColumns(w.xVals, w.xRows, u)
	if err != nil {
		tb.Fatal(err)
	}
	cols, err = c.UploaderColumns(w.yVals, w.yRows, u)
	if err != nil {
		tb.Fatal(err)
	}
	return mults, cols
}

// mustCompile compiles a request the test expects to be accepted.
func mustCompile(tb testing.TB, params rlwe.Parameters, req Request) *Compiled {
	tb.Helper()
	c, err := Compile(params, req)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// runSession lays out w for c and runs the encrypted session of c's plan
// with the test keys: it returns the columns and the final ciphertexts.
func runSession(t *testing.T, k *uploadtest.Keys, c *Compiled, w world) (mults, cols [][]int64, cts []*rlwe.Ciphertext) {
	t.Helper()
	mults, cols = w.columns(t, c)
	return mults, cols, uploadtest.Run(t, k, c.Plan(), mults, cols)
}

// runQuery runs the session of c over w and returns the statistics the
// ideal key decrypts and the plan decodes.
func runQuery(t *testing.T, k *uploadtest.Keys, c *Compiled, w world) []float64 {
	t.Helper()
	_, _, cts := runSession(t, k, c, w)
	got, err := c.Plan().Decode(uploadtest.DecryptAll(k.Params, k.Ideal, cts))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkLaidOut compares the laid-out columns named in want with got.
func checkLaidOut(t *testing.T, got, want map[string][]int64) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		for r := range w {
			if g[r] != w[r] {
				t.Errorf("%s = %v, want %v", name, g, w)
				break
			}
		}
	}
}

func clampTo(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

// plainValue returns the clamped value of a column of a person.
func plainValue(p person, ref ColumnRef, req Request) float64 {
	ci := columnOf(ref, req)
	return clampTo(rawValue(p, ref), ci.Lo, ci.Hi)
}

// rawValue is a person's value of a column before clamping.
func rawValue(p person, ref ColumnRef) float64 {
	switch ref {
	case refSpend:
		return p.spend
	case refAge:
		return p.age
	case refClaims:
		return p.claims
	case refExposure:
		return p.exposure
	case refAmount:
		return p.amount
	case refBand:
		return bandOf(p)
	case refTier:
		return tierOf(p)
	}
	panic("unknown column")
}

// columnOf returns the declaration of a column of req.
func columnOf(ref ColumnRef, req Request) ColumnInfo {
	for _, ci := range append(append([]ColumnInfo(nil), req.X...), req.Y...) {
		if ci.Ref == ref {
			return ci
		}
	}
	panic("unknown column")
}

// plainSums computes n, Σx, Σx², Σy, Σy², Σxy over the people in both
// datasets in float64, joined on identity (the union index).
type plainSums struct{ n, sx, sxx, sy, syy, sxy float64 }

func (w world) sums(req Request, x, y ColumnRef) plainSums {
	var s plainSums
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		a, b := plainValue(p, x, req), plainValue(p, y, req)
		s.n++
		s.sx += a
		s.sxx += a * a
		s.sy += b
		s.syy += b * b
		s.sxy += a * b
	}
	return s
}

func (s plainSums) r() float64 {
	mx, my := s.sx/s.n, s.sy/s.n
	return (s.sxy/s.n - mx*my) / math.Sqrt((s.sxx/s.n-mx*mx)*(s.syy/s.n-my*my))
}

func TestCompileValidation(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	edit := func(f func(r *Request)) Request {
		r := testRequest(1<<12, false)
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  Request
		want error
		// mention is a substring the error must contain (the column).
		mention string
	}{
		{"empty-X", edit(func(r *Request) { r.X = nil }), ErrInvalidQuery, "X"},
		{"empty-Y", edit(func(r *Request) { r.Y = nil }), ErrInvalidQuery, "Y"},
		{"no-statistic", edit(func(r *Request) { r.Correlations, r.Rates = false, nil }), ErrInvalidQuery, "no statistic"},
		{"duplicate-X", edit(func(r *Request) { r.X = append(r.X, ColumnInfo{Ref: refSpend, Lo: 0, Hi: 1}) }), ErrInvalidQuery, "retailer.spend"},
		{"duplicate-Y", edit(func(r *Request) { r.Y = append(r.Y, ColumnInfo{Ref: refAmount, Lo: 0, Hi: 1}) }), ErrInvalidQuery, "insurer.amount"},
		{"mixed-owner", edit(func(r *Request) { r.X[1].Ref.Owner = "bank" }), ErrInvalidQuery, "bank.age"},
		{"same-owner", edit(func(r *Request) {
			for i := range r.Y {
				r.Y[i].Ref.Owner = "retailer"
			}
			r.Rates = nil
		}), ErrInvalidQuery, "retailer"},
		{"no-name", edit(func(r *Request) { r.Y[0].Ref.Name = "" }), ErrInvalidQuery, "insurer."},
		{"lo=hi", edit(func(r *Request) { r.X[0].Hi = 0 }), ErrInvalidQuery, "retailer.spend"},
		{"lo>hi", edit(func(r *Request) { r.Y[2].Lo = 2000 }), ErrInvalidQuery, "insurer.amount"},
		{"nan", edit(func(r *Request) { r.Y[1].Hi = math.NaN() }), ErrInvalidQuery, "insurer.exposure"},
		{"inf", edit(func(r *Request) { r.X[1].Lo = math.Inf(-1) }), ErrInvalidQuery, "retailer.age"},
		{"unknown-by", edit(func(r *Request) { r.Rates[0].By = ColumnRef{"retailer", "income"} }), ErrInvalidQuery, "retailer.income"},
		{"by-in-Y-edge-outside", edit(func(r *Request) { r.Rates[0].By, r.Rates[0].Edges = refAmount, []float64{40, 2000} }), ErrInvalidQuery, "insurer.amount"},
		{"unknown-events", edit(func(r *Request) { r.Rates[0].Events = ColumnRef{"insurer", "deaths"} }), ErrInvalidQuery, "insurer.deaths"},
		{"unknown-exposure", edit(func(r *Request) { r.Rates[0].Exposure = refAge }), ErrInvalidQuery, "retailer.age"},
		{"negative-events", edit(func(r *Request) { r.Rates[0].Events = refAmount }), ErrInvalidQuery, "insurer.amount"},
		{"no-edges", edit(func(r *Request) { r.Rates[0].Edges = nil }), ErrInvalidQuery, "retailer.age"},
		{"unsorted-edges", edit(func(r *Request) { r.Rates[0].Edges = []float64{60, 40} }), ErrInvalidQuery, "retailer.age"},
		{"tied-edges", edit(func(r *Request) { r.Rates[0].Edges = []float64{40, 40} }), ErrInvalidQuery, "retailer.age"},
		{"edge-outside", edit(func(r *Request) { r.Rates[0].Edges = []float64{40, 90} }), ErrInvalidQuery, "retailer.age"},
		{"edge-nan", edit(func(r *Request) { r.Rates[0].Edges = []float64{math.NaN()} }), ErrInvalidQuery, "retailer.age"},
		{"unused-X", edit(func(r *Request) { r.Correlations = false }), ErrInvalidQuery, "retailer.spend"},
		{"unused-Y", edit(func(r *Request) { r.Correlations, r.X = false, r.X[1:] }), ErrInvalidQuery, "insurer.amount"},
		{"epsilon", edit(func(r *Request) { r.Epsilon = 0 }), ErrInvalidQuery, "privacy"},
		{"delta", edit(func(r *Request) { r.Delta = 1 }), ErrInvalidQuery, "privacy"},
		// Each of these used to reach the zCDP conversion, and 1e-20 made it
		// spin forever; the error names the value and its range.
		{"epsilon=1e-20", edit(func(r *Request) { r.Epsilon = 1e-20 }), ErrInvalidQuery, "epsilon 1e-20 is outside [1e-06, 1000]"},
		{"epsilon=1e-15", edit(func(r *Request) { r.Epsilon = 1e-15 }), ErrInvalidQuery, "epsilon 1e-15 is outside"},
		{"epsilon=5e-324", edit(func(r *Request) { r.Epsilon = 5e-324 }), ErrInvalidQuery, "epsilon 5e-324 is outside"},
		{"epsilon=1e300", edit(func(r *Request) { r.Epsilon = 1e300 }), ErrInvalidQuery, "epsilon 1e+300 is outside"},
		{"epsilon=+Inf", edit(func(r *Request) { r.Epsilon = math.Inf(1) }), ErrInvalidQuery, "epsilon +Inf is outside"},
		{"epsilon=NaN", edit(func(r *Request) { r.Epsilon = math.NaN() }), ErrInvalidQuery, "epsilon NaN is outside"},
		{"epsilon=-1", edit(func(r *Request) { r.Epsilon = -1 }), ErrInvalidQuery, "epsilon -1 is outside"},
		{"delta=0", edit(func(r *Request) { r.Delta = 0 }), ErrInvalidQuery, "delta 0 is outside [1e-15, 0.01]"},
		{"delta=NaN", edit(func(r *Request) { r.Delta = math.NaN() }), ErrInvalidQuery, "delta NaN is outside"},
		{"too-wide-to-square", edit(func(r *Request) { r.X[0].Hi = 1e9 }), ErrInvalidQuery, "\"retailer.spend\": its bounds [0, 1e+09]"},
		{"too-wide-to-square-advice", edit(func(r *Request) { r.X[0].Hi = 1e9 }), ErrInvalidQuery, "declares a smaller hi or a coarser step"},
		{"headroom", edit(func(r *Request) { r.Epsilon, r.MaxRecords = 0.01, 64 }), upload.ErrInfeasible, "headroom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCompileError(t, params, tc.req, tc.want, tc.mention)
		})
	}
	// Exact mode ignores ε and δ; a request without X columns unused passes.
	ok := edit(func(r *Request) { r.Epsilon, r.Delta, r.Exact = 0, 0, true })
	if _, err := Compile(params, ok); err != nil {
		t.Errorf("exact request: %v", err)
	}
	// The ends of the ranges compile (or are refused as infeasible: the
	// noise of ε = 1e-6 fits no ciphertext), and promptly.
	for _, tc := range []struct{ eps, delta float64 }{{dp.MinEpsilon, dp.MinDelta}, {dp.MaxEpsilon, dp.MaxDelta}} {
		r := edit(func(r *Request) { r.Epsilon, r.Delta = tc.eps, tc.delta })
		if _, err := Compile(params, r); err != nil && !errors.Is(err, upload.ErrInfeasible) {
			t.Errorf("epsilon %g, delta %g: %v", tc.eps, tc.delta, err)
		}
	}
}

// checkCompileError checks that Compile refuses req with an error that is
// want and mentions mention (a column, a value, a reason).
func checkCompileError(t *testing.T, params rlwe.Parameters, req Request, want error, mention string) {
	t.Helper()
	_, err := Compile(params, req)
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not mention %q", err, mention)
	}
}

func TestQueryColumns(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := testRequest(1<<12, true)
	req.Resolution = ResolutionBits // the expected encodings below are at 2^10 steps
	c := mustCompile(t, params, req)
	const u = 7
	xRows := []int{5, 0, 3}
	xVals := map[string][]float64{
		"spend": {-3, 612.5, 100.25}, // clamped to 0 and 500
		"age":   {95, 39.5, 40},      // 95 → 90: bucket 2; 39.5: bucket 0; 40: bucket 1
	}
	mults, err := c.EvaluatorColumns(xVals, xRows, u)
	if err != nil {
		t.Fatal(err)
	}
	circ := c.Circuit()
	if len(mults) != len(circ.Multipliers) {
		t.Fatalf("%d multipliers, circuit has %d", len(mults), len(circ.Multipliers))
	}
	byName := map[string][]int64{}
	for i, m := range circ.Multipliers {
		byName[m.Name] = mults[i]
		for r, v := range mults[i] {
			if v < 0 || v > m.Max {
				t.Errorf("multiplier %s row %d = %d outside [0, %d]", m.Name, r, v, m.Max)
			}
		}
	}
	fs, _ := c.FixedPoint(refSpend)
	fa, _ := c.FixedPoint(refAge)
	if fs.FracBits != 2 || fa.FracBits != 4 || fa.Lo != 18 {
		t.Fatalf("fixed points %+v %+v", fs, fa)
	}
	want := map[string][]int64{
		"member":   {1, 0, 0, 1, 0, 1, 0},
		"x/spend":  {2000, 0, 0, 401, 0, 0, 0},
		"x2/spend": {2000 * 2000, 0, 0, 401 * 401, 0, 0, 0},
		"x/age":    {(39.5 - 18) * 16, 0, 0, (40 - 18) * 16, 0, (90 - 18) * 16, 0},
		"by0/0":    {1, 0, 0, 0, 0, 0, 0},
		"by0/1":    {0, 0, 0, 1, 0, 0, 0},
		"by0/2":    {0, 0, 0, 0, 0, 1, 0},
		"x2/age":   {344 * 344, 0, 0, 352 * 352, 0, 1152 * 1152, 0},
	}
	checkLaidOut(t, byName, want)
	yRows := []int{6, 0}
	yVals := map[string][]float64{"claims": {11, 2}, "exposure": {12, 0.5}, "amount": {-80, 999}}
	cols, err := c.UploaderColumns(yVals, yRows, u)
	if err != nil {
		t.Fatal(err)
	}
	colByName := map[string][]int64{}
	for i, col := range circ.Columns {
		colByName[col.Name] = cols[i]
	}
	wantCols := map[string][]int64{
		"member":     {1, 0, 0, 0, 0, 0, 1},
		"y/claims":   {2 * 128, 0, 0, 0, 0, 0, 10 * 128},
		"y/exposure": {64, 0, 0, 0, 0, 0, 12 * 128},
		"y/amount":   {1049, 0, 0, 0, 0, 0, 0},
		"y2/amount":  {1049 * 1049, 0, 0, 0, 0, 0, 0},
	}
	checkLaidOut(t, colByName, wantCols)
	// Errors name the column, never a value.
	bad := []struct {
		name string
		run  func() error
	}{
		{"missing", func() error {
			_, err := c.EvaluatorColumns(map[string][]float64{"spend": xVals["spend"]}, xRows, u)
			return err
		}},
		{"short", func() error {
			_, err := c.UploaderColumns(map[string][]float64{"claims": {1}, "exposure": {1, 2}, "amount": {1, 2}}, yRows, u)
			return err
		}},
		{"nan-by", func() error {
			_, err := c.EvaluatorColumns(map[string][]float64{"spend": {1, 2, 3}, "age": {math.NaN(), 20, 30}}, xRows, u)
			return err
		}},
		{"row-outside", func() error {
			_, err := c.UploaderColumns(yVals, []int{7, 0}, u)
			return err
		}},
		{"duplicate-row", func() error {
			_, err := c.EvaluatorColumns(xVals, []int{1, 1, 2}, u)
			return err
		}},
	}
	for _, b := range bad {
		if err := b.run(); err == nil {
			t.Errorf("%s: no error", b.name)
		} else if !errors.Is(err, ErrInvalidQuery) && !errors.Is(err, upload.ErrInvalidLayout) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
}

// TestQueryEndToEndExact runs the whole query with the encrypted core and
// checks every statistic, r, mean and rate against float64 sums over the
// records both owners hold, joined on identity.
func TestQueryEndToEndExact(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := testRequest(1<<13, true)
	c := mustCompile(t, k.Params, req)
	w := newWorld(11, 3*k.Params.N()+211, false)
	got := runQuery(t, k, c, w)
	near := func(name string, got, want float64) {
		t.Helper()
		if d := math.Abs(got - want); d > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("%s = %.9g, want %.9g", name, got, want)
		}
	}
	n := got[c.statN]
	for i, x := range c.xs {
		for j, y := range c.ys {
			s := w.sums(req, x.info.Ref, y.info.Ref)
			near("n", n, s.n)
			sx := UnshiftSum(got[c.sumX[i]], n, x.fp)
			sy := UnshiftSum(got[c.sumY[j]], n, y.fp)
			near("sum_x/"+x.info.Ref.Name, sx, s.sx)
			near("sum_y/"+y.info.Ref.Name, sy, s.sy)
			near("sum_x2/"+x.info.Ref.Name, UnshiftProduct(got[c.sumX2[i]], got[c.sumX[i]], got[c.sumX[i]], n, x.fp, x.fp), s.sxx)
			near("sum_y2/"+y.info.Ref.Name, UnshiftProduct(got[c.sumY2[j]], got[c.sumY[j]], got[c.sumY[j]], n, y.fp, y.fp), s.syy)
			near("sum_xy", UnshiftProduct(got[c.sumXY[i][j]], got[c.sumX[i]], got[c.sumY[j]], n, x.fp, y.fp), s.sxy)
		}
	}
	cells, err := c.Results(got, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, cell := range cells {
		seen[cell.Statistic]++
		// Exact: no DP noise, and the sums exact.
		if !cell.Exact || cell.Epsilon != 0 || cell.Suppressed || cell.NoiseStd != 0 {
			t.Errorf("%+v: want an exact, unsuppressed cell", cell)
		}
		switch cell.Statistic {
		case CellPearson:
			x, y := colRef(t, cell.X), colRef(t, cell.Y)
			near("r "+cell.X+"×"+cell.Y, cell.Value, w.sums(req, x, y).r())
			if !(cell.CILow < cell.Value && cell.Value < cell.CIHigh) {
				t.Errorf("%+v: value outside its interval", cell)
			}
		case CellMean:
			ref := colRef(t, cell.X+cell.Y)
			s := w.sums(req, ref, ref)
			near("mean "+ref.String(), cell.Value, s.sx/s.n)
		case CellVariance:
			ref := colRef(t, cell.X+cell.Y)
			s := w.sums(req, ref, ref)
			near("variance "+ref.String(), cell.Value, (s.sxx-s.sx*s.sx/s.n)/(s.n-1))
		}
	}
	if seen[CellPearson] != 6 || seen[CellMean] != 5 || seen[CellVariance] != 5 || seen[CellRate] != 3 || seen[CellRelativeRisk] != 3 || seen[CellCount] != 4 {
		t.Errorf("cells per statistic %v", seen)
	}
	// Rates per age band from the plain records.
	labels := []string{"[18,40)", "[40,60)", "[60,90]"}
	var nb, ev, ex [3]float64
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		b := 0
		switch a := plainValue(p, refAge, req); {
		case a >= 60:
			b = 2
		case a >= 40:
			b = 1
		}
		nb[b]++
		ev[b] += plainValue(p, refClaims, req)
		ex[b] += plainValue(p, refExposure, req)
	}
	for _, cell := range cells {
		if cell.Group == "" {
			continue
		}
		b := slices.Index(labels, cell.Group)
		if b < 0 {
			t.Fatalf("unexpected group %q", cell.Group)
		}
		switch cell.Statistic {
		case CellCount:
			near("n "+cell.Group, cell.Value, nb[b])
		case CellRate:
			near("rate "+cell.Group, cell.Value, ev[b]/ex[b])
			near("n behind rate "+cell.Group, cell.N, nb[b])
		case CellRelativeRisk:
			near("rr "+cell.Group, cell.Value, (ev[b]/ex[b])/(ev[0]/ex[0]))
		}
	}
	if rr := (ev[2] / ex[2]) / (ev[0] / ex[0]); rr < 2 {
		t.Errorf("planted effect missing from the test world: rr %.3g", rr)
	}
}

func colRef(t *testing.T, s string) ColumnRef {
	t.Helper()
	owner, name, ok := strings.Cut(s, ".")
	if !ok {
		t.Fatalf("column %q", s)
	}
	return ColumnRef{owner, name}
}

func TestExactResolution(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	for _, tc := range []struct {
		exact      bool
		resolution int
		want       int
	}{{true, 0, 12}, {false, 0, 2}, {true, 10, 2}} {
		req := testRequest(1<<12, tc.exact)
		req.Resolution = tc.resolution
		c := mustCompile(t, params, req)
		if fp, _ := c.FixedPoint(refSpend); fp.FracBits != tc.want {
			t.Fatalf("exact=%v resolution=%d: %d fraction bits, want %d", tc.exact, tc.resolution, fp.FracBits, tc.want)
		}
	}
}
