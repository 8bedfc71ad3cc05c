package aggregate

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

// groupedRequest correlates spend with claims and amount within the
// groups of by (cut at edges when it is numeric), a column of either
// owner.
func groupedRequest(by ColumnRef, edges []float64, exact bool) Request {
	req := Request{
		X:            []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}},
		Y:            []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refAmount, Lo: -50, Hi: 1000}},
		Correlations: true, CorrelationX: []ColumnRef{refSpend}, CorrelationY: []ColumnRef{refClaims, refAmount},
		CorrelationBy: by, CorrelationEdges: edges,
		Epsilon: 2, Delta: 1e-6, Exact: exact, MaxRecords: 1 << 13,
	}
	switch by {
	case refAge:
		req.X = append(req.X, ColumnInfo{Ref: refAge, Lo: 18, Hi: 90})
	case refTier:
		req.X = append(req.X, ColumnInfo{Ref: refTier, Lo: 0, Hi: 2, Levels: tierLevels})
	case refExposure:
		req.Y = append(req.Y, ColumnInfo{Ref: refExposure, Lo: 0, Hi: 12})
	case refBand:
		req.Y = append(req.Y, ColumnInfo{Ref: refBand, Lo: 0, Hi: 3, Levels: bandLevels})
	}
	return req
}

// groupOf is the group label of a person's value of by, as the plaintext
// computes it: a level's name, or the bucket of the clamped value.
func groupOf(p person, req Request, by ColumnRef, edges []float64) string {
	ci := columnOf(by, req)
	v := plainValue(p, by, req)
	if len(ci.Levels) > 0 {
		return ci.Levels[int(v)]
	}
	_, labels, err := grouping(ci, edges)
	if err != nil {
		panic(err)
	}
	return labels[int(levelOf(v, edges...))]
}

// plainGroupSums returns, per group of by, the sums of x and y over the
// common customers in float64, on their clamped values.
func plainGroupSums(w world, req Request, x, y ColumnRef) map[string]*plainSums {
	out := map[string]*plainSums{}
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		g := groupOf(p, req, req.CorrelationBy, req.CorrelationEdges)
		if out[g] == nil {
			out[g] = &plainSums{}
		}
		s := out[g]
		a, b := plainValue(p, x, req), plainValue(p, y, req)
		s.n++
		s.sx, s.sxx, s.sy, s.syy, s.sxy = s.sx+a, s.sxx+a*a, s.sy+b, s.syy+b*b, s.sxy+a*b
	}
	return out
}

// TestGroupedCorrelation: correlations grouped by a column of either
// owner, categorical or cut into buckets, give per group the count, the
// mean and variance of each column and r of each pair, equal in exact mode
// to the plaintext over the common customers in that group; and, with no
// correlation over everyone, the groups are all they give.
func TestGroupedCorrelation(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	w := withCategories(newWorld(51, 3000, false))
	for _, tc := range []struct {
		name  string
		by    ColumnRef
		edges []float64
	}{
		{"by the uploader's levels", refBand, nil},
		{"by the evaluator's levels", refTier, nil},
		{"by the evaluator's buckets", refAge, []float64{40, 60}},
		{"by the uploader's buckets", refExposure, []float64{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := groupedRequest(tc.by, tc.edges, true)
			c := mustCompile(t, params, req)
			mults, cols := w.columns(t, c)
			cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
			if err != nil {
				t.Fatal(err)
			}
			ci := columnOf(tc.by, req)
			_, labels, _ := grouping(ci, tc.edges)
			near := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
					t.Errorf("%s = %.12g, want %.12g", what, got, want)
				}
			}
			checked := 0
			for _, y := range req.CorrelationY {
				sums := plainGroupSums(w, req, refSpend, y)
				for _, g := range labels {
					s := sums[g]
					if s == nil || s.n < 3 {
						t.Fatalf("group %s: %v people, too few to test", g, s)
					}
					n := findCell(t, cells, CellCount, tc.by.String(), g)
					near("n of "+g, n.Value, s.n)
					r := (s.n*s.sxy - s.sx*s.sy) / math.Sqrt((s.n*s.sxx-s.sx*s.sx)*(s.n*s.syy-s.sy*s.sy))
					pc := groupCell(t, cells, CellPearson, refSpend.String(), y.String(), g)
					if pc.Suppressed {
						t.Fatalf("r in %s suppressed: %s", g, pc.Reason)
					}
					near("r in "+g+" of "+y.String(), pc.Value, r)
					if pc.N != s.n {
						t.Errorf("r in %s: N %g, want %g", g, pc.N, s.n)
					}
					near("mean of "+y.String()+" in "+g, groupCell(t, cells, CellMean, "", y.String(), g).Value, s.sy/s.n)
					near("variance of "+y.String()+" in "+g, groupCell(t, cells, CellVariance, "", y.String(), g).Value, (s.syy-s.sy*s.sy/s.n)/(s.n-1))
					near("mean of spend in "+g, groupCell(t, cells, CellMean, refSpend.String(), "", g).Value, s.sx/s.n)
					checked++
				}
			}
			if checked != len(labels)*2 {
				t.Fatalf("%d groups checked", checked)
			}
			for _, cell := range cells {
				if cell.Statistic == CellPearson && cell.Group == "" {
					t.Errorf("an r over everyone: %+v", cell)
				}
			}
		})
	}
}

// TestGroupedCorrelationSquareDigits: grouped by the uploader's column, a
// correlation column whose square is uploaded in two digits (square.go)
// has its square times each group's indicator uploaded in two digits too,
// and its variance per group is still exact.
func TestGroupedCorrelationSquareDigits(t *testing.T) {
	req := groupedRequest(refBand, nil, true)
	req.Y[1].Hi, req.Y[1].Step = 1e5, 1e-3 // 10^8 steps: y² needs two digits
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), req)
	if y := c.ys[1]; y.split.Shift == 0 {
		t.Fatal("amount's square is uploaded in one column")
	}
	w := withCategories(newWorld(52, 2000, false))
	mults, cols := w.columns(t, c)
	cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
	if err != nil {
		t.Fatal(err)
	}
	sums := plainGroupSums(w, req, refSpend, refAmount)
	for _, g := range bandLevels {
		s := sums[g]
		want := (s.syy - s.sy*s.sy/s.n) / (s.n - 1)
		got := groupCell(t, cells, CellVariance, "", refAmount.String(), g)
		if math.Abs(got.Value-want) > 1e-9*want {
			t.Errorf("variance of amount in %s = %.12g, want %.12g", g, got.Value, want)
		}
	}
}

// TestGroupedCorrelationRelease: under DP noise the groups' intervals hold
// the plaintext r; each group's count is a stage-one count that gates its
// sums, so a group below min_group_size has its sums withheld and its
// cells say so, while the others are released.
func TestGroupedCorrelationRelease(t *testing.T) {
	req := groupedRequest(refBand, nil, false)
	req.Epsilon = 8
	w := withCategories(newWorld(53, 6000, false))
	c, st := noisyStatistics(t, req, w, 7)
	sums := plainGroupSums(w, req, refSpend, refClaims)
	cells, err := c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range bandLevels {
		s := sums[g]
		r := (s.n*s.sxy - s.sx*s.sy) / math.Sqrt((s.n*s.sxx-s.sx*s.sx)*(s.n*s.syy-s.sy*s.sy))
		cell := groupCell(t, cells, CellPearson, refSpend.String(), refClaims.String(), g)
		if cell.Suppressed || !(cell.NoiseStd > 0) || !(cell.CILow < r && r < cell.CIHigh) {
			t.Errorf("r in %s: %+v, want an interval holding the plaintext %.4f", g, cell, r)
		}
	}

	stageOne := map[int]float64{}
	for _, s := range c.CountStats() {
		stageOne[s] = st[s]
	}
	for _, g := range c.corrGroups {
		if _, ok := stageOne[g.n]; !ok {
			t.Fatalf("the count of %s is not released in stage one", g.label)
		}
	}
	// A threshold between the smallest band and the others.
	counts := make([]float64, len(bandLevels))
	for b, g := range bandLevels {
		counts[b] = sums[g].n
	}
	sorted := slices.Sorted(slices.Values(counts))
	if sorted[1]-sorted[0] < 100 {
		t.Fatalf("band counts %v: the smallest is not apart from the next", counts)
	}
	k := int((sorted[0] + sorted[1]) / 2)
	small := bandLevels[slices.Index(counts, sorted[0])]
	released := c.StageTwoStats(st, stageOne, c.Release(stageOne, k))
	// The querier applies no threshold of its own here: the withholding
	// is the owners'.
	if cells, err = c.Results(released, queryOwners, 0); err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		if cell.Group == "" || cell.Statistic == CellCount {
			continue
		}
		if want := cell.Group == small; cell.Suppressed != want {
			t.Errorf("min_group_size %d (bands %v): %s %s%s in %s suppressed %v, want %v", k, counts, cell.Statistic, cell.X, cell.Y, cell.Group, cell.Suppressed, want)
		} else if want && !strings.Contains(cell.Reason, "withheld") {
			t.Errorf("withheld %s in %s: reason %q", cell.Statistic, cell.Group, cell.Reason)
		}
	}
}

// TestGroupedCorrelationInvalid: a group-by column that is not in the
// query, is a correlation column itself, takes cut points it cannot
// (categorical) or lacks them (numeric), or buckets without a column, is
// refused naming the problem.
func TestGroupedCorrelationInvalid(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	for _, tc := range []struct {
		name string
		by   ColumnRef
		edit func(r *Request)
		want string
	}{
		{"unknown column", refBand, func(r *Request) { r.CorrelationBy = ColumnRef{"insurer", "nope"} }, "neither an X nor a Y column"},
		{"a correlation column", refBand, func(r *Request) { r.CorrelationBy = refClaims }, "cannot also be one of their columns"},
		{"cut points on levels", refBand, func(r *Request) { r.CorrelationEdges = []float64{1.5} }, "without cut points"},
		{"numeric without cut points", refAge, func(r *Request) {}, "buckets"},
		{"cut points outside the bounds", refAge, func(r *Request) { r.CorrelationEdges = []float64{10} }, "inside its bounds"},
		{"grouping without correlations", refBand, func(r *Request) {
			r.Correlations, r.CorrelationX, r.CorrelationY = false, nil, nil
			r.Rates = []RateRequest{{Events: refClaims, Exposure: refAmount, By: refBand}}
		}, "grouping given without correlations"},
		{"NaN cut points", refAge, func(r *Request) { r.CorrelationEdges = []float64{math.NaN()} }, "buckets"},
		{"cut points without a column", refBand, func(r *Request) { r.CorrelationBy, r.CorrelationEdges = ColumnRef{}, []float64{3} }, "without a column to group by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := groupedRequest(tc.by, nil, true)
			tc.edit(&req)
			_, err := Compile(params, req)
			if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidQuery saying %q", err, tc.want)
			}
		})
	}
}

// groupCell returns the cell of a statistic of columns x and y in a group.
func groupCell(tb testing.TB, cells []Cell, stat, x, y, group string) Cell {
	tb.Helper()
	for _, cell := range cells {
		if cell.Statistic == stat && cell.X == x && cell.Y == y && cell.Group == group {
			return cell
		}
	}
	tb.Fatalf("no cell %s of %q and %q in %q", stat, x, y, group)
	return Cell{}
}

// TestPlanGroupedCorrelation: the planner predicts grouped correlations
// cell by cell; planned from a release (AssumptionsFromCells), each
// group's count and r half-width match what the release gave, which the
// column models alone do not, and each column's moments are pooled from
// the groups.
func TestPlanGroupedCorrelation(t *testing.T) {
	c, release := expectedRelease(t, groupedRequest(refAge, []float64{40, 60}, false))
	s := newWorld(7, 30000, false).common()
	worst := func(a Assumptions) (count, halfWidth float64) {
		p, err := c.PlanAccuracy(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Cells) != len(release) {
			t.Fatalf("%d planned cells, %d released", len(p.Cells), len(release))
		}
		for i, pc := range p.Cells {
			got := release[i]
			if pc.Statistic != got.Statistic || pc.Group != got.Group || pc.X != got.X || pc.Y != got.Y {
				t.Fatalf("planned cell %d is %s %s %s %s, released %s %s %s %s", i, pc.Statistic, pc.X, pc.Y, pc.Group, got.Statistic, got.X, got.Y, got.Group)
			}
			switch {
			case pc.Group == "":
			case pc.Statistic == CellCount:
				count = max(count, math.Abs(pc.Value/got.Value-1))
			case pc.Statistic == CellPearson:
				hw := (got.CIHigh - got.CILow) / 2
				halfWidth = max(halfWidth, math.Abs(pc.HalfWidth/hw-1))
				t.Logf("r %s %s %s: planned %.3f ±%.4g (noise %.4g), released %.3f ±%.4g (noise %.4g)", pc.X, pc.Y, pc.Group, pc.Value, pc.HalfWidth, pc.NoiseStd, got.Value, hw, got.NoiseStd)
			}
		}
		return count, halfWidth
	}
	a := AssumptionsFromCells(release)
	if len(a.Groups[refAge]) != 3 {
		t.Fatalf("groups %v from the release, want the 3 age bands", a.Groups)
	}
	sp := a.Columns[refSpend]
	m, sd := clippedMoments(s.X["spend"], 0, 500)
	if math.Abs(sp.Mean/m-1) > 0.01 || math.Abs(sp.SD/sd-1) > 0.02 {
		t.Errorf("spend pooled from the groups: mean %.4g sd %.4g, want %.4g and %.4g", sp.Mean, sp.SD, m, sd)
	}
	if count, hw := worst(a); count > 0.01 || hw > 0.1 {
		t.Errorf("planned from the release: counts off by up to %.1f %%, r half-widths by %.1f %%", 100*count, 100*hw)
	}
	if len(a.GroupColumns[refAge]) != 3 || len(a.GroupColumns[refAge]["[18,40)"]) != 3 {
		t.Fatalf("models within groups %v, want spend, claims and amount in each of the 3 age bands", a.GroupColumns)
	}
	a.Groups = nil
	if count, _ := worst(a); count < 0.1 {
		t.Errorf("planned without the groups' counts: counts off by %.1f %%; the check above has no teeth", 100*count)
	}
	a = AssumptionsFromCells(release)
	a.GroupColumns = nil
	if _, hw := worst(a); hw < 0.3 {
		t.Errorf("planned without the models within groups: r half-widths off by %.1f %%; the check above has no teeth", 100*hw)
	}
	// A threshold between two groups' counts: the planner expects the
	// smaller group's cells withheld and the larger's released.
	a = AssumptionsFromCells(release)
	counts := map[string]float64{}
	for _, cell := range release {
		if cell.Statistic == CellCount && cell.Group != "" {
			counts[cell.Group] = cell.Value
		}
	}
	small, large := "[40,60)", "[60,90]"
	if !(counts[small] < counts[large]-200) {
		t.Fatalf("group counts %v", counts)
	}
	a.MinGroupSize = int((counts[small] + counts[large]) / 2)
	p, err := c.PlanAccuracy(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range p.Cells {
		if pc.Statistic == CellCount || pc.Group == "" {
			continue
		}
		switch {
		case pc.Group == small && pc.PSuppressed < 0.99:
			t.Errorf("%s %s%s in %s: planned suppressed with chance %.3f, want about 1", pc.Statistic, pc.X, pc.Y, pc.Group, pc.PSuppressed)
		case pc.Group == large && pc.PSuppressed > 0.01:
			t.Errorf("%s %s%s in %s: planned suppressed with chance %.3f, want about 0", pc.Statistic, pc.X, pc.Y, pc.Group, pc.PSuppressed)
		}
	}

	bad := AssumptionsFromCells(release)
	bad.GroupColumns[refAge]["[18,40)"][refClaims] = ColumnModel{Mean: 1, SD: -1}
	if _, err := c.PlanAccuracy(bad, nil); !errors.Is(err, ErrInvalidAssumptions) {
		t.Errorf("a negative deviation within a group: error %v, want ErrInvalidAssumptions", err)
	}
}
