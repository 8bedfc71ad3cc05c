package aggregate

import (
	"fmt"
	"math"
	"math/big"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/dp"
)

// Statistic names of result cells.
const (
	CellCount        = "n"
	CellMean         = "mean"
	CellVariance     = "variance"
	CellPearson      = "pearson_r"
	CellRate         = "rate"
	CellRelativeRisk = "relative_risk"
	// Regression cells: one intercept and one coefficient per predictor,
	// with intervals, and the fit's R².
	CellOLSIntercept = "ols_intercept"
	CellOLSCoef      = "ols_coef"
	CellR2           = "r2"
	// CellChiSquare is the chi-square test of independence of a
	// contingency table; P holds its p-value.
	CellChiSquare = "chi2"
)

// Cell is one released number of a query (docs/results.md).
//
// A cell whose noisy count N is below min_group_size, or whose statistic is
// undefined on the noisy sums (for example a variance the noise made
// negative), has Suppressed set, Reason saying why, and Value, CILow and
// CIHigh zero: they carry no information and must not be shown. Zero rather
// than NaN keeps cells encodable as JSON. Count cells ("n") are never
// suppressed: they are stage one of the two-stage release of
// docs/privacy.md section 4.
type Cell struct {
	// Statistic is one of the Cell* names.
	Statistic string
	// X and Y name the columns ("owner.name") the cell is about; Y of a rate
	// is "events/exposure" and X its group-by column, of either owner. Group
	// is the bucket label, e.g. "[0,50)"; for a contingency table cell
	// "x=[0,50) y=[1,3)"; for a regression the model, "y ~ x1 + x2" (the
	// coefficient's predictor is X, the outcome Y).
	X, Y, Group string
	// Per is the unit a rate is per ("year": Value is events per year of
	// exposure), or for a rate whose exposure is not in a time unit that
	// unit; empty for every other statistic and for a rate whose exposure
	// declares no unit (events per unit of exposure as given).
	Per string
	// Value and its 95 % interval, which includes the DP noise. Cells that
	// have no interval (r2, chi2; HasInterval) carry CILow = CIHigh = 0.
	Value, CILow, CIHigh float64
	// P is the p-value of a test cell (chi2: the upper tail of the
	// noise-adjusted statistic in Value, stats.ChiSquareResult.AdjustedP),
	// in [0, 1]. It is 0 for every other statistic and for a suppressed
	// cell, so only read it when Statistic is a test and Suppressed is
	// false.
	P float64
	// N is the noisy count of people behind the cell.
	N float64
	// Exact reports a release without DP noise; Epsilon is the query's ε
	// (0 when exact).
	Exact   bool
	Epsilon float64
	// NoiseStd is the standard deviation the noise gives Value (delta
	// method, in Value's units): the DP noise of all owners plus the
	// homomorphic error the key-switch flooding leaves, which is far
	// smaller. It is 0 in exact mode, which adds no noise and whose sums
	// are exact (upload.PlanConfig.Exact).
	NoiseStd float64
	// Condition is the condition number of a regression's predictors
	// (stats.OLSResult.Cond) on each cell of the regression, 0 on others.
	Condition float64
	// Warning says why a released value deserves caution (predictors so
	// collinear that the condition number exceeds stats.WarnCondition);
	// empty otherwise.
	Warning    string
	Suppressed bool
	Reason     string
}

// HasInterval reports whether the statistic of the cell comes with a
// confidence interval: every one but r2 and chi2.
func (c Cell) HasInterval() bool {
	return c.Statistic != CellR2 && c.Statistic != CellChiSquare
}

// reasonMinGroup is the Reason of a cell below min_group_size.
const reasonMinGroup = "noisy count below min_group_size"

// reasonNotFinite is the Reason of a cell whose value or interval overflowed.
const reasonNotFinite = "not finite: the noise swamps the estimate"

// Results turns the decoded statistics (upload.Plan.Decode output, noisy, in
// upload.Circuit.Stats order) into result cells. The statistics of an exact
// query are rounded to the integers they stand for; ExactResults takes the
// integers themselves, which float64 cannot hold above 2^53. owners is the number of data
// owners that each added their own noise (the combined σ grows as
// √owners; QueryParties in the two-owner join); minGroupSize suppresses every cell whose noisy count is below
// it (0 suppresses nothing). Cells come in this order: the overall count;
// with correlations the mean and variance of each X then each Y
// correlation column and r of every pair of them (grouped: per group, its
// count, then those cells with the group's label); then per rate request and bucket the count, the rate
// and the relative risk against the first bucket (exactly 1 for the first);
// then per regression the intercept, one coefficient per predictor in
// request order and R²; then per contingency table the count of every cell
// (X buckets outer, Y buckets inner) and the chi-square test; last the
// clipped share of every numeric column, X then Y (clipping.go).
func (c *Compiled) Results(statistics []float64, owners, minGroupSize int) ([]Cell, error) {
	if len(statistics) != len(c.circuit.Stats) {
		return nil, fmt.Errorf("%w: %d statistics for %d in the circuit", ErrInvalidQuery, len(statistics), len(c.circuit.Stats))
	}
	// NaN marks a statistic withheld in stage two of the release
	// (StageTwoStats): the cells that need it come out suppressed.
	for s, v := range statistics {
		if math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: statistic %q is not finite", ErrInvalidQuery, c.circuit.Stats[s].Name)
		}
	}
	r := released{v: statistics}
	if c.req.Exact {
		r.x = roundStatistics(statistics)
		r.v = make([]float64, len(statistics))
		for s, x := range r.x {
			r.v[s] = math.NaN()
			if x != nil {
				r.v[s], _ = new(big.Float).SetInt(x).Float64()
			}
		}
	}
	return c.results(r, owners, minGroupSize)
}

// results computes the cells of Results and ExactResults.
func (c *Compiled) results(r released, owners, minGroupSize int) ([]Cell, error) {
	statistics := r.v
	if owners < 1 || minGroupSize < 0 {
		return nil, fmt.Errorf("%w: %d owners, min group size %d", ErrInvalidQuery, owners, minGroupSize)
	}
	// σ per statistic in fixed-point units: every owner's DP noise plus the
	// homomorphic error left by the flooding.
	sig := make([]float64, len(statistics))
	dpSig := make([]float64, len(statistics))
	for s := range sig {
		dpSig[s] = dp.CombinedSigma(c.noise.statSigma[s], owners)
		sig[s] = math.Hypot(dpSig[s], c.errorStd(s))
	}
	eps := c.req.Epsilon
	if c.req.Exact {
		eps = 0
	}
	base := Cell{Exact: c.req.Exact, Epsilon: eps}
	var out []Cell
	out = append(out, countCell(base, "", "", c.statN, statistics, sig, dpSig))
	if c.req.Correlations {
		out = append(out, c.correlationCells(r, sig, dpSig, base, minGroupSize)...)
	}
	for _, rs := range c.rates {
		out = append(out, c.rateCells(rs, statistics, sig, dpSig, base, minGroupSize)...)
	}
	for _, g := range c.regs {
		out = append(out, c.regressionCells(g, r, sig, base, minGroupSize)...)
	}
	for _, t := range c.cts {
		out = append(out, c.contingencyCells(t, statistics, sig, dpSig, base, minGroupSize)...)
	}
	out = append(out, c.clipCells(r, sig, base, minGroupSize)...)
	return out, nil
}

// countCell is the cell of the count statistic s, released as it is.
func countCell(base Cell, x, group string, s int, statistics, sig, dpSig []float64) Cell {
	v := statistics[s]
	cell := base
	cell.Statistic, cell.X, cell.Group = CellCount, x, group
	cell.Value, cell.N, cell.NoiseStd = v, v, dpSig[s]
	cell.CILow, cell.CIHigh = v-stats.Z95*sig[s], v+stats.Z95*sig[s]
	return cell
}

// fillCell sets the value of a cell unless it is suppressed or undefined.
func fillCell(cell Cell, minGroupSize int, f func() (value, lo, hi, noise float64, err error)) Cell {
	if cell.N < float64(minGroupSize) {
		cell.Suppressed, cell.Reason = true, reasonMinGroup
		return cell
	}
	v, lo, hi, nz, err := f()
	if err != nil {
		cell.Suppressed, cell.Reason = true, err.Error()
		return cell
	}
	for _, x := range []float64{v, lo, hi, nz} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			// Noise scales so large the interval overflowed: nothing to
			// report, and cells must stay JSON-encodable.
			cell.Suppressed, cell.Reason = true, reasonNotFinite
			return cell
		}
	}
	cell.Value, cell.CILow, cell.CIHigh, cell.NoiseStd = v, lo, hi, nz
	return cell
}
