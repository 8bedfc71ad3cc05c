package aggregate

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// noisyStatistics compiles req and returns the exact statistics of w
// (computed in the clear from the laid-out columns) moved by a fixed draw
// of noise at the combined σ, as a querier would decode them.
func noisyStatistics(t *testing.T, req Request, w world, noiseSeed int64) (*Compiled, []float64) {
	t.Helper()
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), req)
	mults, cols := w.columns(t, c)
	ex := uploadtest.ExactStats(c.Circuit(), mults, cols)
	rng := rand.New(rand.NewSource(noiseSeed))
	out := make([]float64, len(ex))
	for s, v := range ex {
		out[s] = float64(v) + math.Round(rng.NormFloat64()*fixedSigma(c, s))
	}
	return c, out
}

// knownStatistics is noisyStatistics of the test request over a world of
// 3000 people.
func knownStatistics(t *testing.T) (*Compiled, []float64) {
	t.Helper()
	return noisyStatistics(t, testRequest(1<<13, false), newWorld(11, 3000, false), 8)
}

// fixedSigma is the combined σ of statistic s in fixed-point units, from
// the exported value-unit σ.
func fixedSigma(c *Compiled, s int) float64 {
	return c.CombinedSigmas(queryOwners)[s] * c.statUnits[s]
}

// TestResultsMatchStats checks that every cell is what aggregate/stats
// gives for the same sums and noise: the bridge maps statistics to the
// right arguments and converts fixed-point units back to values.
func TestResultsMatchStats(t *testing.T) {
	c, st := knownStatistics(t)
	cells, err := c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, got Cell, want stats.Estimate) {
		t.Helper()
		for _, p := range [][2]float64{{got.Value, want.Value}, {got.CILow, want.Lo}, {got.CIHigh, want.Hi}} {
			if math.Abs(p[0]-p[1]) > 1e-6*max(1e-3, math.Abs(p[1])) {
				t.Errorf("%s: cell %+v, stats %+v", what, got, want)
				return
			}
		}
		if got.Suppressed || got.Exact || got.Epsilon != 1 || !(got.NoiseStd > 0) {
			t.Errorf("%s: cell %+v", what, got)
		}
	}
	n, sn := st[c.statN], fixedSigma(c, c.statN)
	if cell := groupCell(t, cells, CellCount, "", "", ""); cell.Value != n || cell.N != n || math.Abs(cell.NoiseStd-sn) > 1e-9*sn {
		t.Errorf("count cell %+v, n %v σ %v", cell, n, sn)
	}
	for i, x := range c.xs {
		for j, y := range c.ys {
			sums := stats.Sums{N: n, SumX: st[c.sumX[i]], SumY: st[c.sumY[j]], SumXX: st[c.sumX2[i]], SumYY: st[c.sumY2[j]], SumXY: st[c.sumXY[i][j]]}
			nz := stats.Noise{N: sn, SumX: fixedSigma(c, c.sumX[i]), SumY: fixedSigma(c, c.sumY[j]),
				SumXX: fixedSigma(c, c.sumX2[i]), SumYY: fixedSigma(c, c.sumY2[j]), SumXY: fixedSigma(c, c.sumXY[i][j])}
			want, err := stats.PearsonCI(sums, nz)
			if err != nil {
				t.Fatal(err)
			}
			same("r "+x.info.Ref.String()+"×"+y.info.Ref.String(), groupCell(t, cells, CellPearson, x.info.Ref.String(), y.info.Ref.String(), ""), want)
		}
		m := stats.Moments{N: n, Sum: st[c.sumX[i]], SumSq: st[c.sumX2[i]]}
		mn := stats.MomentNoise{N: sn, Sum: fixedSigma(c, c.sumX[i]), SumSq: fixedSigma(c, c.sumX2[i])}
		mean, err := stats.Mean(m, mn)
		if err != nil {
			t.Fatal(err)
		}
		// Back to values: v = lo + v'/2^F.
		unit := math.Exp2(float64(x.fp.FracBits))
		mean.Value, mean.Lo, mean.Hi = x.fp.Lo+mean.Value/unit, x.fp.Lo+mean.Lo/unit, x.fp.Lo+mean.Hi/unit
		same("mean "+x.info.Ref.String(), groupCell(t, cells, CellMean, x.info.Ref.String(), "", ""), mean)
		v, err := stats.Variance(m, mn)
		if err != nil {
			t.Fatal(err)
		}
		v.Value, v.Lo, v.Hi = v.Value/(unit*unit), v.Lo/(unit*unit), v.Hi/(unit*unit)
		same("variance "+x.info.Ref.String(), groupCell(t, cells, CellVariance, x.info.Ref.String(), "", ""), v)
	}
	rs := c.rates[0]
	ev, ex := c.ys[rs.events].fp, c.ys[rs.exposure].fp
	bucket := func(b int) stats.Bucket {
		return stats.Bucket{
			Claims: st[rs.ev[b]] / math.Exp2(float64(ev.FracBits)), Exposure: st[rs.ex[b]] / math.Exp2(float64(ex.FracBits)),
			ClaimsNoise:   fixedSigma(c, rs.ev[b]) / math.Exp2(float64(ev.FracBits)),
			ExposureNoise: fixedSigma(c, rs.ex[b]) / math.Exp2(float64(ex.FracBits)),
		}
	}
	for b, label := range rs.labels {
		rate, err := stats.Rate(bucket(b))
		if err != nil {
			t.Fatal(err)
		}
		same("rate "+label, groupCell(t, cells, CellRate, "retailer.age", "insurer.claims/insurer.exposure", label), rate)
		if b == 0 {
			continue
		}
		rr, err := stats.RelativeRisk(bucket(b), bucket(0))
		if err != nil {
			t.Fatal(err)
		}
		same("relative risk "+label, groupCell(t, cells, CellRelativeRisk, "retailer.age", "insurer.claims/insurer.exposure", label), rr)
	}
	if got := rs.labels; strings.Join(got, " ") != "[18,40) [40,60) [60,90]" {
		t.Errorf("bucket labels %v", got)
	}
}

// TestResultsMinGroupSize checks the suppression of cells whose noisy
// count is below min_group_size: their value is withheld, their count is
// still reported, and a relative risk needs both its buckets.
func TestResultsMinGroupSize(t *testing.T) {
	c, st := knownStatistics(t)
	rs := c.rates[0]
	nb := []float64{st[rs.n[0]], st[rs.n[1]], st[rs.n[2]]}
	n := st[c.statN]
	// Bucket sizes of the test world: [40,60) is the smallest, [18,40) in
	// the middle, all below the total.
	if !(nb[1] < nb[0] && nb[0] < nb[2] && nb[2] < n) {
		t.Fatalf("test world bucket counts %v of %v", nb, n)
	}
	tests := []struct {
		name string
		k    float64
		// suppressed rate and relative risk per bucket, and r/mean cells.
		rate, rr [3]bool
		overall  bool
	}{
		{"k=0", 0, [3]bool{}, [3]bool{}, false},
		{"k=between-1-and-0", (nb[1] + nb[0]) / 2, [3]bool{false, true, false}, [3]bool{false, true, false}, false},
		{"k=between-0-and-2", (nb[0] + nb[2]) / 2, [3]bool{true, true, false}, [3]bool{true, true, true}, false},
		{"k=above-all", n + 1, [3]bool{true, true, true}, [3]bool{true, true, true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cells, err := c.Results(st, queryOwners, int(math.Ceil(tc.k)))
			if err != nil {
				t.Fatal(err)
			}
			for _, cell := range cells {
				var want bool
				b := slices.Index(rs.labels, cell.Group)
				switch cell.Statistic {
				case CellCount:
					want = false
				case CellRate:
					want = tc.rate[b]
				case CellRelativeRisk:
					want = tc.rr[b]
				default:
					want = tc.overall
				}
				if cell.Suppressed != want {
					t.Errorf("%s %s %s %s: suppressed %v, want %v", cell.Statistic, cell.X, cell.Y, cell.Group, cell.Suppressed, want)
				}
				if cell.Suppressed && (cell.Value != 0 || cell.CILow != 0 || cell.CIHigh != 0 || cell.Reason != reasonMinGroup) {
					t.Errorf("suppressed cell shows %+v", cell)
				}
				if cell.Statistic == CellCount && (cell.Value == 0 || cell.N != cell.Value) {
					t.Errorf("count cell %+v", cell)
				}
			}
		})
	}
}

// TestResultsUndefined checks that a cell the noise made undefined is
// withheld with the reason, and that malformed input is refused.
func TestResultsUndefined(t *testing.T) {
	c, st := knownStatistics(t)
	bad := append([]float64(nil), st...)
	bad[c.rates[0].ev[1]] = -3 // noise pushed the claims of [40,60) below zero
	bad[c.sumY2[0]] = 0        // and the variance of claims below zero
	cells, err := c.Results(bad, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		undefined := cell.Group == "[40,60)" && cell.Statistic != CellCount ||
			cell.Y == "insurer.claims" && cell.Statistic != CellMean && cell.Statistic != CellClipped
		if cell.Suppressed != undefined {
			t.Errorf("%+v: suppressed %v, want %v", cell, cell.Suppressed, undefined)
		}
		if undefined && (cell.Reason == "" || cell.Value != 0) {
			t.Errorf("%+v: want a reason and no value", cell)
		}
	}
	for _, tc := range []struct {
		name   string
		stats  []float64
		owners int
		k      int
	}{
		{"short", st[1:], 2, 0},
		{"inf", append(append([]float64(nil), st[:3]...), append([]float64{math.Inf(1)}, st[4:]...)...), 2, 0},
		{"owners=0", st, 0, 0},
		{"k<0", st, 2, -1},
	} {
		if _, err := c.Results(tc.stats, tc.owners, tc.k); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%s: error %v", tc.name, err)
		}
	}
	// A withheld statistic (NaN, stage two) suppresses the cells that need
	// it and nothing else.
	withheld := append([]float64(nil), st...)
	withheld[3] = math.NaN()
	cells, err = c.Results(withheld, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	var suppressed int
	for _, cell := range cells {
		if cell.Suppressed {
			suppressed++
		} else if math.IsNaN(cell.Value) || math.IsNaN(cell.CILow) || math.IsNaN(cell.CIHigh) {
			t.Fatalf("cell %s %s %s carries NaN without being suppressed", cell.Statistic, cell.X, cell.Y)
		}
	}
	if suppressed == 0 || suppressed == len(cells) {
		t.Fatalf("%d of %d cells suppressed for one withheld statistic", suppressed, len(cells))
	}
}
