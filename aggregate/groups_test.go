package aggregate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

var (
	refTier = ColumnRef{"retailer", "tier"}
	refBand = ColumnRef{"insurer", "band"}

	tierLevels = []string{"low", "mid", "high"}
	bandLevels = []string{"18-29", "30-44", "45-64", "65+"}
)

// tierOf and bandOf are the categorical columns of the test world: a
// retailer's spend tier and an insurer's age band, as level indexes.
func tierOf(p person) float64 { return levelOf(p.spend, 100, 300) }

func bandOf(p person) float64 { return levelOf(p.age, 30, 45, 65) }

// levelOf is the index of the first of the ascending cuts that v is below,
// len(cuts) when it is below none.
func levelOf(v float64, cuts ...float64) float64 {
	for i, c := range cuts {
		if v < c {
			return float64(i)
		}
	}
	return float64(len(cuts))
}

// withCategories adds the tier (X) and band (Y) columns to w.
func withCategories(w world) world {
	w.xVals["tier"], w.yVals["band"] = nil, nil
	for _, r := range w.xRows {
		w.xVals["tier"] = append(w.xVals["tier"], tierOf(w.people[r]))
	}
	for _, r := range w.yRows {
		w.yVals["band"] = append(w.yVals["band"], bandOf(w.people[r]))
	}
	return w
}

// categoricalRequest groups a rate by a categorical column of each owner
// and tabulates one by the other, without cut points, and correlates only
// spend with claims. Exposure is in months.
func categoricalRequest(exact bool) Request {
	return Request{
		X: []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refTier, Lo: 0, Hi: 2, Levels: tierLevels}},
		Y: []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12, Unit: "months"},
			{Ref: refBand, Lo: 0, Hi: 3, Levels: bandLevels}},
		Correlations: true, CorrelationX: []ColumnRef{refSpend}, CorrelationY: []ColumnRef{refClaims},
		Rates: []RateRequest{
			{Events: refClaims, Exposure: refExposure, By: refBand},
			{Events: refClaims, Exposure: refExposure, By: refTier, Per: "month"},
		},
		Contingencies: []ContingencyRequest{{X: refTier, Y: refBand}},
		Epsilon:       1, Delta: 1e-6, Exact: exact, MaxRecords: 1 << 13,
	}
}

// TestCategoricalEndToEndExact: a rate grouped by a categorical column of
// either owner, and a table of one by the other, come out by level, labelled
// with the level names and equal to the plaintext computation, the rate per
// year of exposure declared in months (or per month when asked); the level
// indexes enter no mean, variance or r, and are laid out only as bucket
// indicators.
func TestCategoricalEndToEndExact(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := categoricalRequest(true)
	c := mustCompile(t, k.Params, req)
	for _, m := range c.Circuit().Multipliers {
		if strings.HasSuffix(m.Name, "/tier") {
			t.Errorf("multiplier %s: the level index is laid out as a value", m.Name)
		}
	}
	for _, col := range c.Circuit().Columns {
		if strings.HasSuffix(col.Name, "/band") {
			t.Errorf("column %s: the level index is laid out as a value", col.Name)
		}
	}
	w := withCategories(newWorld(5, 2000, false))
	cells, err := c.Results(runQuery(t, k, c, w), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The plaintext: per band and per tier, people, claims and exposure;
	// per tier × band, people.
	var nb, evb, exb [4]float64
	var nt, evt, ext [3]float64
	var table [3][4]float64
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		b, tr := int(bandOf(p)), int(tierOf(p))
		ev, ex := plainValue(p, refClaims, req), plainValue(p, refExposure, req)
		nb[b], evb[b], exb[b] = nb[b]+1, evb[b]+ev, exb[b]+ex
		nt[tr], evt[tr], ext[tr] = nt[tr]+1, evt[tr]+ev, ext[tr]+ex
		table[tr][b]++
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if d := math.Abs(got - want); d > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("%s = %.9g, want %.9g", name, got, want)
		}
	}
	seen := map[string]int{}
	for _, cell := range cells {
		seen[cell.Statistic]++
		switch cell.Statistic {
		case CellMean, CellVariance, CellPearson:
			if cell.X+cell.Y != refSpend.String() && cell.X+cell.Y != refClaims.String() && (cell.X != refSpend.String() || cell.Y != refClaims.String()) {
				t.Errorf("%s of %s%s released; only spend and claims are correlated", cell.Statistic, cell.X, cell.Y)
			}
		case CellRate:
			if cell.X == refBand.String() {
				b := slices.Index(bandLevels, cell.Group)
				if b < 0 || cell.Per != "year" {
					t.Fatalf("rate by band: group %q per %q, want a level per year", cell.Group, cell.Per)
				}
				near("rate per year "+cell.Group, cell.Value, 12*evb[b]/exb[b])
				near("n "+cell.Group, cell.N, nb[b])
				if !(cell.CILow < cell.Value && cell.Value < cell.CIHigh) {
					t.Errorf("%+v: value outside its interval", cell)
				}
			} else {
				tr := slices.Index(tierLevels, cell.Group)
				if tr < 0 || cell.Per != "month" {
					t.Fatalf("rate by tier: group %q per %q, want a level per month", cell.Group, cell.Per)
				}
				near("rate per month "+cell.Group, cell.Value, evt[tr]/ext[tr])
			}
		case CellRelativeRisk:
			if b := slices.Index(bandLevels, cell.Group); cell.X == refBand.String() && b > 0 {
				near("rr "+cell.Group, cell.Value, (evb[b]/exb[b])/(evb[0]/exb[0]))
			}
			if cell.Per != "" {
				t.Errorf("relative risk per %q: it has no unit", cell.Per)
			}
		case CellCount:
			if cell.Y == "" {
				continue // the overall count and the rates' group counts
			}
			var tr, b int
			for tr = range tierLevels {
				if strings.HasPrefix(cell.Group, "x="+tierLevels[tr]+" ") {
					break
				}
			}
			b = slices.Index(bandLevels, strings.TrimPrefix(cell.Group, "x="+tierLevels[tr]+" y="))
			if b < 0 {
				t.Fatalf("table cell %q is not labelled by levels", cell.Group)
			}
			near("table "+cell.Group, cell.Value, table[tr][b])
		}
	}
	if seen[CellPearson] != 1 || seen[CellMean] != 2 || seen[CellVariance] != 2 || seen[CellRate] != 7 || seen[CellCount] != 1+7+12 || seen[CellChiSquare] != 1 {
		t.Errorf("cells per statistic %v", seen)
	}
	if rr := (evb[3] / exb[3]) / (evb[0] / exb[0]); rr < 2 {
		t.Errorf("planted age effect missing from the test world: rr %.3g", rr)
	}
}

// TestCorrelationSets: without sets, correlations cover every X × Y pair
// (the form of older queries); with them, only the pairs of the sets.
func TestCorrelationSets(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	pearsons := func(req Request) (pairs []string) {
		c := mustCompile(t, params, req)
		cells, err := c.Results(make([]float64, len(c.Circuit().Stats)), 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, cell := range cells {
			if cell.Statistic == CellPearson {
				pairs = append(pairs, cell.X+"×"+cell.Y)
			}
		}
		return pairs
	}
	legacy := testRequest(1<<12, true)
	if got := pearsons(legacy); len(got) != 6 {
		t.Errorf("without sets: r of %v, want all 6 pairs", got)
	}
	sets := legacy
	sets.CorrelationX, sets.CorrelationY = []ColumnRef{refSpend}, []ColumnRef{refClaims, refAmount}
	sets.Rates = append(sets.Rates, RateRequest{Events: refClaims, Exposure: refExposure, By: refAge, Edges: []float64{50}})
	if got := pearsons(sets); !slices.Equal(got, []string{"retailer.spend×insurer.claims", "retailer.spend×insurer.amount"}) {
		t.Errorf("with sets: r of %v", got)
	}
}

func TestCategoricalValidation(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	edit := func(f func(r *Request)) Request {
		r := categoricalRequest(true)
		f(&r)
		return r
	}
	tests := []struct {
		name    string
		req     Request
		mention string
	}{
		{"cut-points-on-categorical-by", edit(func(r *Request) { r.Rates[0].Edges = []float64{0.5, 1.5} }), `"insurer.band": a categorical column is grouped by its levels`},
		{"cut-points-on-categorical-table", edit(func(r *Request) { r.Contingencies[0].XEdges = []float64{1} }), `"retailer.tier"`},
		{"numeric-without-cut-points", edit(func(r *Request) { r.Rates[0].By = refSpend }), `buckets of "retailer.spend"`},
		{"one-level", edit(func(r *Request) { r.X[1].Levels, r.X[1].Hi = []string{"all"}, 1 }), `"retailer.tier" needs at least two levels`},
		{"unnamed-level", edit(func(r *Request) { r.Y[2].Levels = []string{"a", "", "c", "d"} }), `"insurer.band": level 1 has no name`},
		{"levels-and-bounds", edit(func(r *Request) { r.Y[2].Hi = 4 }), `"insurer.band" has 4 levels and bounds [0, 4]`},
		{"too-many-levels", edit(func(r *Request) {
			r.Y[2].Levels = make([]string, MaxLevels+1)
			for k := range r.Y[2].Levels {
				r.Y[2].Levels[k] = strings.Repeat("l", k+1)
			}
			r.Y[2].Hi = MaxLevels
			r.Contingencies = nil
		}), `"insurer.band" has 65 levels`},
		{"per-unknown", edit(func(r *Request) { r.Rates[0].Per = "fortnight" }), `not per "fortnight"`},
		{"per-without-unit", edit(func(r *Request) { r.Y[1].Unit = "" }), `unit of exposure "insurer.exposure"`},
		{"per-other-unit", edit(func(r *Request) { r.Y[1].Unit = "km" }), `"insurer.exposure" is in km, not a unit of time`},
		{"set-unknown", edit(func(r *Request) { r.CorrelationY = []ColumnRef{refAmount} }), `"insurer.amount" is not a Y column`},
		{"set-wrong-side", edit(func(r *Request) { r.CorrelationX = []ColumnRef{refClaims} }), `"insurer.claims" is not a X column`},
		{"set-duplicate", edit(func(r *Request) { r.CorrelationX = []ColumnRef{refSpend, refSpend} }), `duplicate correlation column "retailer.spend"`},
		{"set-one-side", edit(func(r *Request) { r.CorrelationY = nil }), "correlations need Y columns"},
		{"sets-without-correlations", edit(func(r *Request) { r.Correlations = false }), "correlation columns or grouping given without correlations"},
		{"unused-outside-sets", edit(func(r *Request) { r.CorrelationX = []ColumnRef{refTier} }), `X column "retailer.spend" is used by no statistic`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkCompileError(t, params, tc.req, ErrInvalidQuery, tc.mention)
		})
	}
	// A categorical column in a correlation block is asked for: its mean
	// and r are released.
	asked := edit(func(r *Request) { r.CorrelationY = append(r.CorrelationY, refBand) })
	if _, err := Compile(params, asked); err != nil {
		t.Errorf("a categorical column asked for in correlations: %v", err)
	}
}

func TestRatePer(t *testing.T) {
	exposure := func(unit string) ColumnInfo { return ColumnInfo{Ref: refExposure, Lo: 0, Hi: 12, Unit: unit} }
	tests := []struct {
		unit, per  string
		factor     float64
		reportedAs string
	}{
		{"months", "", 12, "year"},
		{"months", "year", 12, "year"},
		{"Months", "years", 12, "year"},
		{"month", "month", 1, "month"},
		{"days", "week", 7, "week"},
		{"weeks", "year", 365.25 / 7, "year"},
		{"years", "month", 1.0 / 12, "month"},
		{"km", "", 1, "km"},
		{"km", "km", 1, "km"},
		{"", "", 1, ""},
	}
	for _, tc := range tests {
		t.Run("unit="+tc.unit+"/per="+tc.per, func(t *testing.T) {
			f, per, err := ratePer(exposure(tc.unit), tc.per)
			if err != nil || math.Abs(f-tc.factor) > 1e-15*tc.factor || per != tc.reportedAs {
				t.Fatalf("factor %v per %q, %v; want %v per %q", f, per, err, tc.factor, tc.reportedAs)
			}
		})
	}
}
