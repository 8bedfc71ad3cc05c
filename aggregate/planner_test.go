package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// common is the sample of w's people in both datasets, the people behind
// a query: what a querier who knew the data would assume.
func (w world) common() *PlanSample {
	s := &PlanSample{X: map[string][]float64{}, Y: map[string][]float64{}}
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		s.X["spend"] = append(s.X["spend"], p.spend)
		s.X["age"] = append(s.X["age"], p.age)
		s.Y["claims"] = append(s.Y["claims"], p.claims)
		s.Y["exposure"] = append(s.Y["exposure"], p.exposure)
		s.Y["amount"] = append(s.Y["amount"], p.amount)
	}
	return s
}

// releases runs the session of c over w once and then releases its result
// n times as the nodes do: the products packed, each owner's own DP noise
// added to its share of the key switch to the querier. It returns the
// cells of every release.
func releases(t *testing.T, k *uploadtest.Keys, c *Compiled, w world, n int, seed int64) [][]Cell {
	t.Helper()
	plan := c.Plan()
	mults, cols := w.columns(t, c)
	sums := uploadtest.Sums(t, k, plan, mults, cols)
	packs, err := sums.Pack(context.Background(), allProducts(plan))
	if err != nil {
		t.Fatal(err)
	}
	cts := make([]*rlwe.Ciphertext, len(packs))
	for g, p := range packs {
		cts[g] = p.Ct
	}
	sample := NoiseSampler(dp.NewSampler(rand.New(rand.NewSource(seed))))
	out := make([][]Cell, n)
	for r := range out {
		noise := make([][]*rlwe.Plaintext, len(k.Shares))
		for o := range noise {
			for _, p := range packs {
				pt, err := c.PackNoise(p.Products, sample)
				if err != nil {
					t.Fatal(err)
				}
				noise[o] = append(noise[o], pt)
			}
		}
		pts := uploadtest.KeySwitchToQuerier(t, k, cts, func(g, o int, share ring.Poly) {
			k.Params.RingQ().AtLevel(share.Level()).Add(share, noise[o][g].Value, share)
		})
		st, err := plan.DecodePacked(packs, pts)
		if err != nil {
			t.Fatal(err)
		}
		if out[r], err = c.Results(st, queryOwners, 0); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPlanMatchesReleases is the planner's contract: for a count, every
// Pearson r, every rate and every clipped share of a query, the noise SD it predicts (from a
// sample of the people behind the query, as a querier who knew the data
// would assume) equals the spread of the values of many real releases of
// that query over the same data, within 10 %. Each release is a real key
// switch to the querier with both owners' noise in their shares. With
// -short it makes 120 releases and allows 25 %.
//
//	go test ./aggregate -run TestPlanMatchesReleases -v
func TestPlanMatchesReleases(t *testing.T) {
	n, tol := 600, 0.10
	if testing.Short() {
		n, tol = 120, 0.25
	}
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	w := newWorld(31, 2*k.Params.N()+33, false)
	req := testRequest(1<<15, false)
	req.Epsilon = 4
	c := mustCompile(t, k.Params, req)
	p, err := c.PlanAccuracy(Assumptions{Sample: w.common()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := releases(t, k, c, w, n, 5)
	checked := map[string]int{}
	for i, pc := range p.Cells {
		if pc.Statistic != CellCount && pc.Statistic != CellPearson && pc.Statistic != CellRate && pc.Statistic != CellClipped {
			continue
		}
		if pc.Statistic == CellCount && pc.Group != "" {
			continue // the bucket counts are the same kind of statistic
		}
		var sum, sum2, reported float64
		for _, cells := range got {
			c := cells[i]
			if c.Statistic != pc.Statistic || c.X != pc.X || c.Y != pc.Y || c.Group != pc.Group {
				t.Fatalf("cell %d is %s %s %s %s in the release, %s %s %s %s in the plan", i, c.Statistic, c.X, c.Y, c.Group, pc.Statistic, pc.X, pc.Y, pc.Group)
			}
			if c.Suppressed {
				t.Fatalf("%s %s %s %s suppressed: %s", c.Statistic, c.X, c.Y, c.Group, c.Reason)
			}
			sum += c.Value
			sum2 += c.Value * c.Value
			reported += c.NoiseStd
		}
		mean := sum / float64(n)
		sd := math.Sqrt((sum2/float64(n) - mean*mean) * float64(n) / float64(n-1))
		ratio := pc.NoiseStd / sd
		t.Logf("%-10s %-17s %-17s %-8s predicted SD %.4g, empirical %.4g over %d releases (ratio %.3f), mean reported %.4g, value %.4g (planned %.4g)",
			pc.Statistic, pc.X, pc.Y, pc.Group, pc.NoiseStd, sd, n, ratio, reported/float64(n), mean, pc.Value)
		if math.Abs(ratio-1) > tol {
			t.Errorf("%s %s %s %s: predicted noise SD %.4g, empirical %.4g (ratio %.3f)", pc.Statistic, pc.X, pc.Y, pc.Group, pc.NoiseStd, sd, ratio)
		}
		checked[pc.Statistic]++
	}
	if checked[CellCount] != 1 || checked[CellPearson] != 6 || checked[CellRate] != 3 || checked[CellClipped] != len(req.X)+len(req.Y) {
		t.Errorf("checked %v cells, want 1 count, 6 r, 3 rates and %d clipped shares", checked, len(req.X)+len(req.Y))
	}
}

// TestPlanAssumptions checks the planner on column models: the synthetic
// sample has the assumed moments, an unmodelled column is uniform over its
// bounds, the count is the assumed size, and bad assumptions are refused.
func TestPlanAssumptions(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := testRequest(0, false)
	a := Assumptions{N: 10000, Columns: map[ColumnRef]ColumnModel{
		refSpend:  {Mean: 40, SD: 60},
		refClaims: {Mean: 0.3, SD: 0.7},
		refAge:    {Mean: 50, SD: 100}, // beyond what [18, 90] allows: two-point
	}}
	p, err := PlanAccuracy(params, req, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cells[0].Statistic != CellCount || math.Abs(p.Cells[0].Value-10000) > 1e-6 {
		t.Errorf("count %+v, want 10000", p.Cells[0])
	}
	for _, col := range p.Columns {
		var want ColumnModel
		switch col.Ref {
		case refSpend, refClaims:
			want = a.Columns[col.Ref]
		case refAge:
			m := (50.0 - 18) / 72
			want = ColumnModel{Mean: 50, SD: 72 * math.Sqrt(m*(1-m))}
		default:
			want = ColumnModel{Mean: (col.Lo + col.Hi) / 2, SD: (col.Hi - col.Lo) / math.Sqrt(12)}
			if col.Source != ModelUniform {
				t.Errorf("%s: source %q, want uniform", col.Ref, col.Source)
			}
		}
		if math.Abs(col.Mean-want.Mean) > 0.01*(col.Hi-col.Lo) || math.Abs(col.SD-want.SD) > 0.02*want.SD {
			t.Errorf("%s: planned mean %.4g and SD %.4g, want %.4g and %.4g", col.Ref, col.Mean, col.SD, want.Mean, want.SD)
		}
	}
	for _, bad := range []Assumptions{
		{N: 0},
		{N: math.NaN()},
		{N: 100, MinGroupSize: -1},
		{N: 100, Columns: map[ColumnRef]ColumnModel{refSpend: {Mean: math.NaN(), SD: 1}}},
		{N: 100, Columns: map[ColumnRef]ColumnModel{refSpend: {Mean: 60, SD: -1}}},
		{N: 100, Columns: map[ColumnRef]ColumnModel{{"insurer", "nope"}: {Mean: 1, SD: 1}}},
		{N: 100, Sample: &PlanSample{X: map[string][]float64{"spend": {1}}}},
	} {
		if _, err := PlanAccuracy(params, req, bad, nil); !errors.Is(err, ErrInvalidAssumptions) {
			t.Errorf("%+v: error %v, want ErrInvalidAssumptions", bad, err)
		}
	}
	if _, err := PlanAccuracy(params, req, Assumptions{N: 100}, Targets{CellPearson: {HalfWidth: 0}}); !errors.Is(err, ErrInvalidAssumptions) {
		t.Errorf("target 0: error %v, want ErrInvalidAssumptions", err)
	}
}

// TestPlanTargets checks the ε a target needs: compiled at that ε, the
// planner's own noise meets the target, and the noise scales as 1/√ρ; an
// unreachable target is +Inf, a query's ε for all targets the largest.
func TestPlanTargets(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	a := Assumptions{N: 20000, Columns: map[ColumnRef]ColumnModel{refSpend: {Mean: 100, SD: 80}, refClaims: {Mean: 1, SD: 1.5}}}
	targets := Targets{CellPearson: {HalfWidth: 0.05}, CellRate: {HalfWidth: 0.1, Relative: true}}
	req := testRequest(0, false)
	p, err := PlanAccuracy(params, req, a, targets)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, pc := range p.Cells {
		tg, ok := targets[pc.Statistic]
		if !ok {
			if pc.EpsilonForTarget != 0 {
				t.Errorf("%s has no target but ε %g", pc.Statistic, pc.EpsilonForTarget)
			}
			continue
		}
		worst = math.Max(worst, pc.EpsilonForTarget)
		want := tg.HalfWidth
		if tg.Relative {
			want *= pc.Value
		}
		t.Run(fmt.Sprintf("%s/%s/%s/%s", pc.Statistic, pc.X, pc.Y, pc.Group), func(t *testing.T) {
			again := req
			again.Epsilon = pc.EpsilonForTarget
			q, err := PlanAccuracy(params, again, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, qc := range q.Cells {
				if qc.Statistic == pc.Statistic && qc.X == pc.X && qc.Y == pc.Y && qc.Group == pc.Group {
					if math.Abs(qc.NoiseHalfWidth/want-1) > 0.01 {
						t.Errorf("at ε = %.4g the noise half-width is %.4g, target %.4g", pc.EpsilonForTarget, qc.NoiseHalfWidth, want)
					}
					return
				}
			}
			t.Fatal("cell not planned again")
		})
	}
	if p.EpsilonForTargets != worst || worst == 0 {
		t.Errorf("ε for all targets %g, largest cell's %g", p.EpsilonForTargets, worst)
	}
	q, err := PlanAccuracy(params, req, a, Targets{CellPearson: {HalfWidth: 1e-9}})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(q.EpsilonForTargets, 1) {
		t.Errorf("a target of 1e-9 on r needs ε %g, want +Inf", q.EpsilonForTargets)
	}
}

// TestPlanSuppression checks the chance of suppression against the
// min_group_size gate: a bucket far below it is surely suppressed, one far
// above surely not, and one at it half the time; counts never are.
func TestPlanSuppression(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := testRequest(0, false)
	req.Epsilon = 50 // the counts' noise below one person
	// Age is uniform on [18, 90]: the buckets [18,40), [40,60) and [60,90]
	// hold 22/72, 20/72 and 30/72 of the people.
	a := Assumptions{N: 7200, MinGroupSize: 2000}
	p, err := PlanAccuracy(params, req, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"[18,40)": 0, "[40,60)": 0.5, "[60,90]": 0}
	for _, pc := range p.Cells {
		switch pc.Statistic {
		case CellCount:
			if pc.PSuppressed != 0 {
				t.Errorf("count %s: P(suppressed) %g", pc.Group, pc.PSuppressed)
			}
		case CellRate:
			if w := want[pc.Group]; math.Abs(pc.PSuppressed-w) > 0.3 || (w == 0 && pc.PSuppressed > 1e-6) {
				t.Errorf("rate %s of %.0f people: P(suppressed) %.3g, want about %g", pc.Group, pc.N, pc.PSuppressed, w)
			}
		case CellPearson, CellMean:
			if pc.PSuppressed > 1e-6 {
				t.Errorf("%s %s %s: P(suppressed) %.3g with 7200 people", pc.Statistic, pc.X, pc.Y, pc.PSuppressed)
			}
		}
	}
	a.MinGroupSize = 10000
	if p, err = PlanAccuracy(params, req, a, nil); err != nil {
		t.Fatal(err)
	}
	for _, pc := range p.Cells {
		if pc.Statistic != CellCount && pc.PSuppressed < 1-1e-6 {
			t.Errorf("%s %s %s %s: P(suppressed) %.3g below min_group_size", pc.Statistic, pc.X, pc.Y, pc.Group, pc.PSuppressed)
		}
	}
}

// TestAssumptionsFromCells: released cells give the next plan its size and
// every column's mean and standard deviation, and a mean beyond a bound is
// planned at the bound, where clipping puts every value.
func TestAssumptionsFromCells(t *testing.T) {
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), testRequest(1<<13, false))
	w := newWorld(8, 3000, false)
	mults, cols := w.columns(t, c)
	cells, err := c.Results(exactFloats(c, mults, cols), queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := AssumptionsFromCells(cells)
	common := w.common()
	if a.N != float64(len(common.X["spend"])) || len(a.Columns) != 5 {
		t.Fatalf("assumed %g people and %d columns, want %d and 5", a.N, len(a.Columns), len(common.X["spend"]))
	}
	for _, tc := range []struct {
		ref    ColumnRef
		values []float64
		lo, hi float64
	}{{refSpend, common.X["spend"], 0, 500}, {refAmount, common.Y["amount"], -50, 1000}} {
		m, sd := clippedMoments(tc.values, tc.lo, tc.hi)
		got := a.Columns[tc.ref]
		if math.Abs(got.Mean-m) > 1e-3*(tc.hi-tc.lo) || math.Abs(got.SD/sd-1) > 1e-3 {
			t.Errorf("%s: assumed mean %.5g SD %.5g, the data's %.5g and %.5g", tc.ref, got.Mean, got.SD, m, sd)
		}
	}
	a.Columns[refSpend] = ColumnModel{Mean: 700, SD: 30}
	p, err := c.PlanAccuracy(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range p.Columns {
		if col.Ref == refSpend && (col.Mean != 500 || col.SD != 0) {
			t.Errorf("spend assumed at mean 700 planned at mean %g SD %g, want 500 and 0", col.Mean, col.SD)
		}
	}
}

// TestPlanCategorical: a categorical column left open is planned with each
// level equally often, so every rate bucket and table cell by level gets
// its share of the people.
func TestPlanCategorical(t *testing.T) {
	req := categoricalRequest(false)
	req.MaxRecords = 0
	p, err := PlanAccuracy(crypto.MustParameters(crypto.PresetTest), req, Assumptions{N: 12000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := 0
	for _, c := range p.Cells {
		if c.Statistic != CellCount || c.Group == "" {
			continue
		}
		want := 12000.0 / 4 // a band
		switch {
		case strings.HasPrefix(c.Group, "x="):
			// A tier × band cell: the owners' columns are independent.
			want = 12000.0 / 12
		case c.X == refTier.String():
			want = 12000.0 / 3
		}
		if math.Abs(c.Value/want-1) > 1e-3 {
			t.Errorf("%s %s: %.1f people planned, want %.0f", c.X, c.Group, c.Value, want)
		}
		counts++
	}
	if counts != 4+3+12 {
		t.Errorf("%d counts by level planned, want 19", counts)
	}
}

// TestPlanWideSquare plans a query whose outcome's square is uploaded in
// two digits: the planner's assumed variance of the outcome, from Σy²
// recombined from its digits, is the uniform model's.
func TestPlanWideSquare(t *testing.T) {
	req := wideDP()
	p, err := PlanAccuracy(crypto.MustParameters(crypto.PresetTest), req, Assumptions{N: 10000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := mustCompile(t, crypto.MustParameters(crypto.PresetTest), req).FixedPoint(refAmount)
	want := (fp.Hi - fp.Lo) * (fp.Hi - fp.Lo) / 12
	seen := false
	for _, cell := range p.Cells {
		if cell.Statistic == CellVariance && cell.Y == refAmount.String() {
			seen = true
			if math.Abs(cell.Value-want) > 0.03*want {
				t.Errorf("planned variance of the wide amount %.4g, want about %.4g", cell.Value, want)
			}
		}
	}
	if !seen {
		t.Error("no variance of the wide amount planned")
	}
}

// TestPlanNoiseWithinInterval: the noise's part of a planned interval is
// never wider than the whole interval, even where [−1, 1] bounds r's
// interval and the noise alone would reach past it.
func TestPlanNoiseWithinInterval(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	a := Assumptions{N: 300, Columns: map[ColumnRef]ColumnModel{refSpend: {Mean: 100, SD: 80}, refClaims: {Mean: 1, SD: 1.5}}}
	req := testRequest(0, false)
	req.Epsilon = 0.3
	p, err := PlanAccuracy(params, req, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	bounded := false
	for _, pc := range p.Cells {
		if pc.HalfWidth > 0 && pc.NoiseHalfWidth > pc.HalfWidth {
			t.Errorf("%s %s %s: noise ± %g beyond the interval's ± %g", pc.Statistic, pc.X, pc.Y, pc.NoiseHalfWidth, pc.HalfWidth)
		}
		bounded = bounded || (pc.Statistic == CellPearson && stats.Z95*pc.NoiseStd > pc.HalfWidth)
	}
	if !bounded {
		t.Fatal("no r whose noise alone reaches past [−1, 1]: the case is not exercised")
	}
}

// TestPlanFromReleaseGroups plans a query again from its own release
// (AssumptionsFromCells), as a result's PLANNED ± is: every group of a
// rate gets the people and the rate the release gave it, so each group's
// planned count and interval are the release's, where the column models
// alone (the age column's mean and SD, claims the same in every age band)
// misjudge both.
func TestPlanFromReleaseGroups(t *testing.T) {
	c, release := expectedRelease(t, testRequest(0, false))
	worst := func(a Assumptions) (count, halfWidth float64) {
		p, err := c.PlanAccuracy(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, pc := range p.Cells {
			got := release[i]
			if pc.Group == "" || (pc.Statistic != CellCount && pc.Statistic != CellRate) {
				continue
			}
			if pc.Statistic == CellCount {
				count = max(count, math.Abs(pc.Value/got.Value-1))
				continue
			}
			hw := (got.CIHigh - got.CILow) / 2
			halfWidth = max(halfWidth, math.Abs(pc.HalfWidth/hw-1))
			t.Logf("%s %s: planned ±%.4g, release ±%.4g", pc.Statistic, pc.Group, pc.HalfWidth, hw)
		}
		return count, halfWidth
	}
	a := AssumptionsFromCells(release)
	if len(a.Groups[refAge]) != 3 || len(a.Rates) != 1 {
		t.Fatalf("groups %v and rates %v from the release, want the 3 age bands of one rate", a.Groups, a.Rates)
	}
	if count, hw := worst(a); count > 0.01 || hw > 0.03 {
		t.Errorf("planned from the release's groups: counts off by up to %.1f %%, rate half-widths by %.1f %%; want 1 %% and 3 %%", 100*count, 100*hw)
	}
	a.Groups, a.Rates = nil, nil
	if count, hw := worst(a); count < 0.1 || hw < 0.1 {
		t.Errorf("planned from the column models alone: counts off by %.1f %%, half-widths by %.1f %%; the check above has no teeth", 100*count, 100*hw)
	}
	// A noisy count below 0 is a group of nobody, not an error.
	negative := slices.Clone(release)
	for i := range negative {
		if negative[i].Statistic == CellCount && negative[i].Group == "[18,40)" {
			negative[i].Value = -3
		}
	}
	if a := AssumptionsFromCells(negative); a.Groups[refAge]["[18,40)"] != 0 {
		t.Errorf("a count of -3 assumed as %v people", a.Groups[refAge]["[18,40)"])
	} else if _, err := c.PlanAccuracy(a, nil); err != nil {
		t.Errorf("planning from a release with a negative noisy count: %v", err)
	}
	bad := AssumptionsFromCells(release)
	bad.Groups[refAge]["[18,40)"] = math.Inf(1)
	if _, err := c.PlanAccuracy(bad, nil); !errors.Is(err, ErrInvalidAssumptions) {
		t.Errorf("an infinite group: error %v, want ErrInvalidAssumptions", err)
	}
	bad = AssumptionsFromCells(release)
	for k := range bad.Rates {
		bad.Rates[k]["[18,40)"] = -1
	}
	if _, err := c.PlanAccuracy(bad, nil); !errors.Is(err, ErrInvalidAssumptions) {
		t.Errorf("a negative rate: error %v, want ErrInvalidAssumptions", err)
	}
}

// expectedRelease compiles req and returns the cells of the release that
// the common customers of a world of 30 000 people give in expectation.
func expectedRelease(t *testing.T, req Request) (*Compiled, []Cell) {
	t.Helper()
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), req)
	s := newWorld(7, 30000, false).common()
	st, err := c.expectedStats(s, float64(len(s.X["age"])), false)
	if err != nil {
		t.Fatal(err)
	}
	release, err := c.Results(st, c.req.Owners, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c, release
}
