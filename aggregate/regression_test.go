package aggregate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// covariatesRequest fits claims and amount on predictors of both owners:
// the retailer's spend and spending tier, the insurer's exposure and age
// band (categorical predictors enter as one indicator per level but the
// first).
func covariatesRequest(exact bool) Request {
	return Request{
		X: []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refTier, Lo: 0, Hi: 2, Levels: tierLevels}},
		Y: []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12},
			{Ref: refAmount, Lo: -50, Hi: 1000}, {Ref: refBand, Lo: 0, Hi: 3, Levels: bandLevels}},
		Regressions: []RegressionRequest{
			{Outcome: refClaims, Predictors: []ColumnRef{refSpend, refBand}},
			{Outcome: refAmount, Predictors: []ColumnRef{refExposure, refSpend, refBand, refTier}},
			{Outcome: refClaims, Predictors: []ColumnRef{refExposure, refBand}, NoIntercept: true},
		},
		Epsilon: 1, Delta: 1e-6, Exact: exact, MaxRecords: 1 << 13,
	}
}

// termNames are the coefficient cells' names of predictors xs: a column,
// or column=LEVEL per level but the first of a categorical one.
func termNames(req Request, xs []ColumnRef) []string {
	var out []string
	for _, x := range xs {
		levels := columnOf(x, req).Levels
		if len(levels) == 0 {
			out = append(out, x.String())
			continue
		}
		for _, l := range levels[1:] {
			out = append(out, x.String()+"="+l)
		}
	}
	return out
}

// TestRegressionCovariates: a regression whose predictors are columns of
// either owner, numeric or categorical, equals the plaintext least-squares
// fit on the same terms in exact mode, coefficients, intervals and R², so
// an effect can be adjusted for the outcome owner's own columns (claims on
// diet spend given the age band); through the origin too.
func TestRegressionCovariates(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := covariatesRequest(true)
	c := mustCompile(t, params, req)
	w := withCategories(newWorld(41, 3000, false))
	mults, cols := w.columns(t, c)
	cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
	if err != nil {
		t.Fatal(err)
	}
	find := func(stat, x, group string) Cell {
		t.Helper()
		cell := findCell(t, cells, stat, x, group)
		if cell.Suppressed {
			t.Fatalf("%s %s %s suppressed: %s", stat, x, group, cell.Reason)
		}
		return cell
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("%s = %.10g, want %.10g", what, got, want)
		}
	}
	for _, rg := range req.Regressions[:2] {
		beta, se, r2 := w.plainOLS(t, req, rg.Outcome, rg.Predictors)
		var preds []string
		for _, p := range rg.Predictors {
			preds = append(preds, p.String())
		}
		model := rg.Outcome.String() + " ~ " + strings.Join(preds, " + ")
		names := termNames(req, rg.Predictors)
		if len(names)+1 != len(beta) {
			t.Fatalf("%d terms, %d coefficients", len(names), len(beta))
		}
		b0 := find(CellOLSIntercept, "", model)
		near("intercept of "+model, b0.Value, beta[0])
		near("its half-width", (b0.CIHigh-b0.CILow)/2, stats.Z95*se[0])
		for j, name := range names {
			b := find(CellOLSCoef, name, model)
			near(name+" in "+model, b.Value, beta[j+1])
			near(name+" half-width", (b.CIHigh-b.CILow)/2, stats.Z95*se[j+1])
		}
		near("R² of "+model, find(CellR2, "", model).Value, r2)
	}
	// More claims with age: the band 65+ against 18-29, given spend.
	if b := find(CellOLSCoef, refBand.String()+"=65+", "insurer.claims ~ retailer.spend + insurer.band"); !(b.CILow > 2) {
		t.Errorf("claims of 65+ against 18-29: %+v, want well above 2 (a mean of 4.5 more above 60)", b)
	}

	// Through the origin: every term's sums moved to the origin exactly
	// (exposure's lo is 0, the indicators' too).
	rg := req.Regressions[2]
	names := termNames(req, rg.Predictors)
	p := len(names)
	a := make([][]float64, p)
	for i := range a {
		a[i] = make([]float64, p)
	}
	bv := make([]float64, p)
	for _, pe := range w.people {
		if !pe.inX || !pe.inY {
			continue
		}
		z := plainTerms(pe, req, rg.Predictors)
		v := plainValue(pe, rg.Outcome, req)
		for i := range z {
			for j := range z {
				a[i][j] += z[i] * z[j]
			}
			bv[i] += z[i] * v
		}
	}
	inv := invert(t, a)
	for i, name := range names {
		var want float64
		for j := range bv {
			want += inv[i][j] * bv[j]
		}
		near(name+" through the origin", find(CellOLSCoef, name, "insurer.claims ~ 0 + insurer.exposure + insurer.band").Value, want)
	}
}

// TestRegressionCovariatesNoise: under DP noise the same fits come out
// with intervals that hold the plaintext coefficients, and a level's
// coefficient is withheld when it or the reference level has fewer people
// than min_group_size (the intercept, the fit at the reference levels,
// likewise), while the numeric terms' are not.
func TestRegressionCovariatesNoise(t *testing.T) {
	req := covariatesRequest(false)
	// The tier is cut from spend: with both, the noisy normal equations
	// of a few thousand people can come out singular.
	req.Regressions = []RegressionRequest{req.Regressions[0], {Outcome: refAmount, Predictors: []ColumnRef{refExposure, refBand, refTier}}}
	req.Epsilon = 4
	w := withCategories(newWorld(43, 6000, false))
	c, st := noisyStatistics(t, req, w, 5)
	cells, err := c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	model := "insurer.amount ~ insurer.exposure + insurer.band + retailer.tier"
	beta, _, _ := w.plainOLS(t, req, refAmount, req.Regressions[1].Predictors)
	names := termNames(req, req.Regressions[1].Predictors)
	checked := 0
	for _, cell := range cells {
		if cell.Group != model || cell.Statistic != CellOLSCoef {
			continue
		}
		j := slices.Index(names, cell.X)
		if cell.Suppressed || !(cell.NoiseStd > 0) || !(cell.CILow < beta[j+1] && beta[j+1] < cell.CIHigh) {
			t.Errorf("%s: %+v, want an interval holding the plaintext %.4g", cell.X, cell, beta[j+1])
		}
		checked++
	}
	if checked != len(names) {
		t.Fatalf("%d coefficients, want %d", checked, len(names))
	}

	// The people per level of each categorical predictor among the common
	// customers: a threshold between two of them withholds the coefficient
	// of each level below it and, if it is a reference level, every
	// coefficient of its column and the intercept.
	counts := map[ColumnRef][]float64{refTier: make([]float64, 3), refBand: make([]float64, 4)}
	for _, p := range w.people {
		if p.inX && p.inY {
			counts[refTier][int(tierOf(p))]++
			counts[refBand][int(bandOf(p))]++
		}
	}
	var all []float64
	for _, c := range counts {
		all = append(all, c...)
	}
	slices.Sort(all)
	k := 0
	for i := 1; i < len(all) && k == 0; i++ {
		if all[i]-all[i-1] >= 100 { // well beyond the counts' noise
			k = int((all[i] + all[i-1]) / 2)
		}
	}
	if k == 0 {
		t.Fatalf("level counts %v: no two apart by more than the counts' noise", counts)
	}
	cells, err = c.Results(st, queryOwners, k)
	if err != nil {
		t.Fatal(err)
	}
	suppressed := 0
	for _, cell := range cells {
		if cell.Group != model || (cell.Statistic != CellOLSCoef && cell.Statistic != CellOLSIntercept) {
			continue
		}
		want := false
		for ref, n := range counts {
			level := slices.Index(columnOf(ref, req).Levels, strings.TrimPrefix(cell.X, ref.String()+"="))
			switch {
			case cell.Statistic == CellOLSIntercept:
				want = want || n[0] < float64(k)
			case strings.HasPrefix(cell.X, ref.String()+"=") && level > 0:
				want = math.Min(n[0], n[level]) < float64(k)
			}
		}
		if cell.Suppressed != want {
			t.Errorf("min_group_size %d (levels %v): %s %s suppressed %v, want %v (%s)", k, counts, cell.Statistic, cell.X, cell.Suppressed, want, cell.Reason)
		}
		if cell.Suppressed {
			suppressed++
		}
	}
	if suppressed == 0 {
		t.Errorf("min_group_size %d withheld no coefficient (levels %v)", k, counts)
	}

	// As the owners release it: the people at each level are stage-one
	// counts, and a level below min_group_size has its sums withheld in
	// stage two, so the regressions over that column are not fitted and
	// say which level stopped them.
	stageOne := map[int]float64{}
	for _, s := range c.CountStats() {
		stageOne[s] = st[s]
	}
	levelCounts := 0
	for _, g := range c.regs {
		for j, term := range g.terms {
			if term.level > 0 {
				if _, ok := stageOne[g.xx[j][j]]; !ok {
					t.Errorf("the people at %s are not a stage-one count", term.name)
				}
				levelCounts++
			}
		}
	}
	if levelCounts == 0 {
		t.Fatal("no level of a categorical predictor")
	}
	var small string
	for ref, n := range counts {
		for l, v := range n[1:] {
			if v < float64(k) {
				small = ref.String() + "=" + columnOf(ref, req).Levels[l+1]
			}
		}
	}
	released := c.StageTwoStats(st, stageOne, c.Release(stageOne, k))
	if cells, err = c.Results(released, queryOwners, k); err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		if !strings.Contains(cell.Group, "~") || cell.Statistic == CellCount {
			continue
		}
		// A cell of a level (or the intercept) below the threshold says so
		// first; the others name the level that stopped the fit.
		uses := strings.Contains(cell.Group, strings.Split(small, "=")[0])
		why := cell.Reason == reasonMinGroup || strings.Contains(cell.Reason, "fewer people than min_group_size at "+small)
		if uses != (cell.Suppressed && why) {
			t.Errorf("stage two at min_group_size %d (level %s below it): %s %s of %s suppressed %v (%s)", k, small, cell.Statistic, cell.X, cell.Group, cell.Suppressed, cell.Reason)
		}
	}
}

// TestPlanRegressionLevels: the planner gives every cell of a regression
// with a categorical predictor the chance that one of its levels falls
// below min_group_size and stops the fit; without a small level, none.
func TestPlanRegressionLevels(t *testing.T) {
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), covariatesRequest(false))
	model := "insurer.claims ~ retailer.spend + insurer.band"
	for _, tc := range []struct {
		k        int
		min, max float64
	}{{10, 0, 1e-6}, {1200, 0.999, 1}} {
		p, err := c.PlanAccuracy(Assumptions{N: 4000, MinGroupSize: tc.k}, nil) // uniform: about 1000 people per band
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, cell := range p.Cells {
			if cell.Group != model {
				continue
			}
			seen++
			if cell.PSuppressed < tc.min || cell.PSuppressed > tc.max {
				t.Errorf("min_group_size %d: %s %s suppressed with probability %g, want [%g, %g]", tc.k, cell.Statistic, cell.X, cell.PSuppressed, tc.min, tc.max)
			}
		}
		if seen != 6 {
			t.Errorf("%d cells of %s, want 6", seen, model)
		}
	}
}

// TestPlanRegressionMatchesReleases: for a regression adjusted for a
// categorical column of the outcome's owner, the noise SD the planner
// predicts for each coefficient (from the people behind the query, as a
// querier who knew the data would assume) equals the spread of many real
// releases within 25 %, each a key switch to the querier with both
// owners' noise in their shares.
func TestPlanRegressionMatchesReleases(t *testing.T) {
	const n = 150
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := covariatesRequest(false)
	req.X, req.Y = req.X[:1], []ColumnInfo{req.Y[0], req.Y[3]} // spend; claims and band
	req.Regressions = req.Regressions[:1]
	req.Epsilon = 4
	w := withCategories(newWorld(47, 2*k.Params.N()+33, false))
	c := mustCompile(t, k.Params, req)
	s := w.common()
	s.Y["band"] = nil
	for _, p := range w.people {
		if p.inX && p.inY {
			s.Y["band"] = append(s.Y["band"], bandOf(p))
		}
	}
	p, err := c.PlanAccuracy(Assumptions{Sample: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := releases(t, k, c, w, n, 6)
	checked := 0
	for i, pc := range p.Cells {
		if pc.Statistic != CellOLSCoef && pc.Statistic != CellOLSIntercept {
			continue
		}
		var sum, sum2 float64
		for _, cells := range got {
			v := cells[i].Value
			if cells[i].Suppressed || cells[i].X != pc.X || cells[i].Statistic != pc.Statistic {
				t.Fatalf("release cell %d: %+v, planned %+v", i, cells[i], pc)
			}
			sum, sum2 = sum+v, sum2+v*v
		}
		mean := sum / n
		sd := math.Sqrt((sum2/n - mean*mean) * n / (n - 1))
		ratio := pc.NoiseStd / sd
		t.Logf("%-14s %-22s predicted SD %.4g, empirical %.4g over %d releases (ratio %.3f)", pc.Statistic, pc.X, pc.NoiseStd, sd, n, ratio)
		if math.Abs(ratio-1) > 0.25 {
			t.Errorf("%s %s: predicted noise SD %.4g, empirical %.4g (ratio %.3f)", pc.Statistic, pc.X, pc.NoiseStd, sd, ratio)
		}
		checked++
	}
	if checked != 5 {
		t.Errorf("%d coefficients checked, want the intercept, spend and three bands", checked)
	}
}
