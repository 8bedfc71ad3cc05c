package aggregate

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// The accuracy planner: how precise each cell of a query would come out,
// before the query is sent. It reads no data and releases nothing, so it
// costs no privacy: it uses the query, the columns' public bounds, and what
// the querier assumes of the data — how many people are behind the query
// (a size, or a count released before) and, for any column, its mean and
// standard deviation (or a whole representative sample).
//
// The prediction goes through the release's own code: the assumed data
// become the statistics they would give (a synthetic sample drawn from the
// assumptions, laid out as the owners lay out their columns and scaled to
// the assumed size), and Results turns them into cells without noise. Each
// cell's noise_std is then what the real release reports at those sums,
// with the same calibration (Compile) and the same delta method
// (aggregate/stats), so planned and realised figures are comparable cell
// by cell. The noise of every statistic scales as 1/√ρ, which gives the ε
// needed for a target half-width without compiling again.

// ColumnModel is what the planner assumes of one column: the mean and
// standard deviation of its values once clipped to the declared bounds. A
// mean beyond a bound is taken at the bound, where clipping puts every
// value, and a standard deviation beyond what the bounds allow at that
// mean is taken at the largest they do (values piled on both bounds).
type ColumnModel struct {
	Mean, SD float64
}

// checkModel checks a column model: a mean that is a number and a finite
// deviation that is not negative; what names the column in the error.
func checkModel(m ColumnModel, what string) error {
	if math.IsNaN(m.Mean) || !(m.SD >= 0) || math.IsInf(m.SD, 0) {
		return fmt.Errorf("%w: %s: mean %g and standard deviation %g must be numbers, the deviation finite and not negative",
			ErrInvalidAssumptions, what, m.Mean, m.SD)
	}
	return nil
}

// PlanSample is a sample of records the querier takes as representative of
// the people behind the query: every X and Y column of the query by name,
// one value per record, records aligned across columns.
type PlanSample struct {
	X, Y map[string][]float64
}

// Assumptions is what the planner assumes of data it cannot see.
type Assumptions struct {
	// N is the number of people behind the query, the owners' common
	// customers: a size the querier assumes or a count released before.
	// With a Sample, 0 means the sample's size.
	N float64
	// Columns are assumed models of some columns. A column without one is
	// taken to be spread evenly over its declared bounds (a categorical
	// column: each level equally often): real data bunched in part of
	// their range have a smaller standard deviation, and the noise of a
	// correlation grows as range/SD of each of its columns.
	Columns map[ColumnRef]ColumnModel
	// Groups are, for a column a rate groups by, the number of people
	// assumed in each of its groups, by group label (the counts an
	// earlier release of the same grouping gave): the column's values
	// are drawn so that they fall in its groups in these proportions,
	// which sets each group's count and with it the width of its rate's
	// interval. A column whose grouping has a label missing here keeps
	// its model's spread.
	Groups map[ColumnRef]map[string]float64
	// Rates are, for a rate of the query, the rate assumed in each of its
	// groups, by group label: the events of a group are then its rate
	// times its assumed exposure, where the column models alone give every
	// group the events column's mean. A group without one keeps the
	// models'.
	Rates map[RateKey]map[string]float64
	// GroupColumns are, for the column the correlations are grouped by,
	// models of other columns within each of its groups, by group label
	// (the means and variances an earlier grouped release gave): a
	// record's value is drawn from the model of its group, which sets the
	// spread, and with it the noise, of each group's correlations. A group
	// without one keeps the column's model.
	GroupColumns map[ColumnRef]map[string]map[ColumnRef]ColumnModel
	// Sample, if set, replaces Columns, Groups, Rates and GroupColumns:
	// the planner lays it out as it is.
	Sample *PlanSample
	// MinGroupSize is the release threshold, the largest min_group_size
	// of the owners (0: none).
	MinGroupSize int
}

// Target is the half-width a querier wants the DP noise to give the 95 %
// interval of a statistic's cells: in the cells' units, or with Relative
// a fraction of each cell's value.
type Target struct {
	HalfWidth float64
	Relative  bool
}

// Targets maps a statistic name (CellPearson, CellRate, …) to its target.
type Targets map[string]Target

// PlannedCell is the planner's prediction for one cell of the release.
type PlannedCell struct {
	// Statistic, X, Y and Group name the cell as Results does.
	Statistic, X, Y, Group string
	// Value is the cell's value on the assumed data, N the people behind
	// it.
	Value, N float64
	// NoiseStd is the standard deviation the DP noise of all owners gives
	// the value, as the release reports it in Cell.NoiseStd, and
	// NoiseHalfWidth the half-width it alone gives a 95 % interval
	// (stats.Z95·NoiseStd, at most HalfWidth: where the statistic's range
	// bounds the whole interval, as [−1, 1] bounds r's, it bounds the
	// noise's part too).
	NoiseStd, NoiseHalfWidth float64
	// HalfWidth is half the width of the whole 95 % interval, sampling
	// error and DP noise together; 0 for cells without one (r2, chi2).
	HalfWidth float64
	// PSuppressed is the probability that the cell comes out suppressed:
	// its gating noisy count below MinGroupSize, or (for a variance, a
	// correlation or a rate) the noise making it undefined. Normal
	// approximation; counts are never suppressed.
	PSuppressed float64
	// EpsilonForTarget is the ε at which NoiseHalfWidth meets the target of
	// the cell's statistic (the same δ): 0 without a target, +Inf when no ε
	// up to dp.MaxEpsilon does. Conservative for counts below σ = 3, whose
	// discrete noise shrinks faster than 1/√ρ.
	EpsilonForTarget float64
	// Reason says why the cell has no value on the assumed data (a column
	// assumed constant, say); the other figures are then 0.
	Reason string
}

// PlannedColumn is the model a column was planned with.
type PlannedColumn struct {
	Ref      ColumnRef
	Lo, Hi   float64
	Mean, SD float64
	// Source is "assumed" (Assumptions.Columns), "sample" or "uniform".
	Source string
	// Grouped says the column's values were drawn in the proportions of
	// Assumptions.Groups, or within each group from the models of
	// Assumptions.GroupColumns.
	Grouped bool
}

// Column model sources.
const (
	ModelAssumed = "assumed"
	ModelSample  = "sample"
	ModelUniform = "uniform"
)

// AccuracyPlan is the planner's prediction for a whole query.
type AccuracyPlan struct {
	Cells          []PlannedCell
	Columns        []PlannedColumn
	Epsilon, Delta float64
	Exact          bool
	// Owners is the number of data owners adding noise.
	Owners       int
	N            float64
	MinGroupSize int
	// EpsilonForTargets is the ε at which every cell with a target meets
	// it: 0 without targets, +Inf when some cell cannot.
	EpsilonForTargets float64
	// RatesAssumed says some group of a rate took its rate from
	// Assumptions.Rates.
	RatesAssumed bool
}

// RateKey names a rate as its cells do: X the column it groups by, Y
// "events/exposure" and Per the unit of exposure it is per.
type RateKey struct{ X, Y, Per string }

// ErrInvalidAssumptions reports assumptions the planner cannot use; the
// message names the column or field.
var ErrInvalidAssumptions = errors.New("aggregate: invalid planning assumptions")

// PlanAccuracy compiles req as the owners would and predicts its release
// under a. The union the owners will compile for is not known before the
// query (it holds the customers of either owner, padded); a request
// without MaxRecords is compiled for the planner's default union of 2^20
// records, or N if larger, and failing that for N. The union sizes the
// ciphertexts, not the noise, unless the noise is too large for them.
func PlanAccuracy(params rlwe.Parameters, req Request, a Assumptions, t Targets) (*AccuracyPlan, error) {
	n, err := a.size()
	if err != nil {
		return nil, err
	}
	var c *Compiled
	if req.MaxRecords != 0 {
		c, err = Compile(params, req)
	} else {
		for _, m := range []int{max(int(math.Ceil(n)), upload.DefaultPlanConfig().MaxRecords), int(math.Ceil(n))} {
			req.MaxRecords = m
			if c, err = Compile(params, req); !errors.Is(err, upload.ErrInfeasible) {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return c.PlanAccuracy(a, t)
}

// size is the number of people the assumptions describe.
func (a Assumptions) size() (float64, error) {
	n := a.N
	if n == 0 && a.Sample != nil {
		for _, v := range a.Sample.X {
			n = float64(len(v))
			break
		}
	}
	if !(n >= 1) || math.IsInf(n, 0) || n > 1<<40 {
		return 0, fmt.Errorf("%w: the number of people must be at least 1, not %g", ErrInvalidAssumptions, n)
	}
	if a.MinGroupSize < 0 {
		return 0, fmt.Errorf("%w: min group size %d", ErrInvalidAssumptions, a.MinGroupSize)
	}
	return n, nil
}

// PlanAccuracy predicts the release of the compiled query under a: every cell
// Results would give, with its noise, its interval's half-width, its
// chance of suppression and the ε that meets t.
func (c *Compiled) PlanAccuracy(a Assumptions, t Targets) (*AccuracyPlan, error) {
	n, err := a.size()
	if err != nil {
		return nil, err
	}
	for stat, tg := range t {
		if !(tg.HalfWidth > 0) || math.IsInf(tg.HalfWidth, 0) {
			return nil, fmt.Errorf("%w: target half-width of %s must be positive, not %g", ErrInvalidAssumptions, stat, tg.HalfWidth)
		}
	}
	sample, cols, paired, err := c.planSample(a)
	if err != nil {
		return nil, err
	}
	expected, err := c.expectedStats(sample, n, a.Sample == nil && !paired)
	if err != nil {
		return nil, err
	}
	ratesAssumed := a.Sample == nil && c.assumeRates(expected, a.Rates)
	owners := c.req.Owners
	cells, err := c.Results(expected, owners, 0)
	if err != nil {
		return nil, err
	}
	p := &AccuracyPlan{Columns: cols, Epsilon: c.req.Epsilon, Delta: c.req.Delta, Exact: c.req.Exact,
		Owners: owners, N: n, MinGroupSize: a.MinGroupSize, RatesAssumed: ratesAssumed}
	if p.Exact {
		p.Epsilon, p.Delta = 0, 0
	}
	p.Cells = make([]PlannedCell, len(cells))
	for i, cell := range cells {
		pc := PlannedCell{Statistic: cell.Statistic, X: cell.X, Y: cell.Y, Group: cell.Group, N: cell.N}
		if cell.Suppressed {
			pc.Reason = cell.Reason
		} else {
			pc.Value, pc.NoiseStd = cell.Value, cell.NoiseStd
			pc.NoiseHalfWidth = stats.Z95 * cell.NoiseStd
			pc.HalfWidth = (cell.CIHigh - cell.CILow) / 2
			if pc.HalfWidth > 0 { // an interval its range bounds (r in [−1, 1]) bounds its noise part too
				pc.NoiseHalfWidth = min(pc.NoiseHalfWidth, pc.HalfWidth)
			}
		}
		p.Cells[i] = pc
	}
	suppression(p.Cells, a.MinGroupSize)
	for i := range p.Cells {
		pc := &p.Cells[i]
		tg, ok := t[pc.Statistic]
		if !ok || pc.Reason != "" {
			continue
		}
		pc.EpsilonForTarget = c.epsilonFor(pc, tg)
		p.EpsilonForTargets = math.Max(p.EpsilonForTargets, pc.EpsilonForTarget)
	}
	return p, nil
}

// epsilonFor is the ε at which the DP half-width of cell meets tg: the
// noise scales as 1/√ρ, so the statistics need ρ·(NoiseStd/σ_target)².
func (c *Compiled) epsilonFor(cell *PlannedCell, tg Target) float64 {
	want := tg.HalfWidth
	if tg.Relative {
		want *= math.Abs(cell.Value)
	}
	rho, _ := c.Rho()
	switch {
	case cell.NoiseStd == 0 || c.req.Exact:
		return 0 // no noise to pay for
	case !(want > 0):
		return math.Inf(1) // a relative target on a value of 0
	}
	need := rho * math.Pow(cell.NoiseStd/(want/stats.Z95), 2) / (1 - SizeRhoShare)
	eps := dp.ZCDPEpsilon(need, c.req.Delta)
	switch {
	case !(eps <= dp.MaxEpsilon):
		return math.Inf(1)
	case eps < dp.MinEpsilon:
		return dp.MinEpsilon
	}
	return eps
}

// normalBelow is P[Z < z] for a standard normal Z.
func normalBelow(z float64) float64 { return math.Erfc(-z/math.Sqrt2) / 2 }

// below is the probability that a value of mean m and noise sd comes out
// below k; a count's noise is integer, hence the half.
func below(m, sd, k float64) float64 {
	if sd == 0 {
		if m < k {
			return 1
		}
		return 0
	}
	return normalBelow((k - m) / sd)
}

// suppression fills in PSuppressed from the cells themselves: the count
// that gates each cell (the overall count, a correlation group's or a rate
// bucket's) against k,
// and the chance that the noise leaves a variance, a correlation's
// variances or a rate's sums at or below zero.
func suppression(cells []PlannedCell, k int) {
	if len(cells) == 0 {
		return
	}
	overall := cells[0] // Results puts the overall count first
	kk := float64(k) - 0.5
	gate := func(n, sd float64) float64 { return below(n, sd, kk) }
	pOverall := gate(overall.Value, overall.NoiseStd)
	find := func(match func(PlannedCell) bool) *PlannedCell {
		for i := range cells {
			if match(cells[i]) {
				return &cells[i]
			}
		}
		return nil
	}
	// nonPositive is the chance the noise takes a positive cell to ≤ 0.
	nonPositive := func(c *PlannedCell) float64 {
		if c == nil || c.Reason != "" {
			return 1
		}
		return below(c.Value, c.NoiseStd, 0)
	}
	either := func(p, q float64) float64 { return 1 - (1-p)*(1-q) }
	// inGroup is the chance a cell of the correlations is withheld for its
	// count: its group's, when they are grouped, or the overall count.
	inGroup := func(c *PlannedCell) float64 {
		if c.Group == "" {
			return pOverall
		}
		g := find(func(v PlannedCell) bool {
			return v.Statistic == CellCount && v.Group == c.Group && v.X != "" && v.Y == ""
		})
		if g == nil {
			return pOverall
		}
		return gate(g.Value, g.NoiseStd)
	}
	firstRate := map[[2]string]*PlannedCell{}
	for i := range cells {
		c := &cells[i]
		if c.Reason != "" {
			c.PSuppressed = 1
			continue
		}
		switch c.Statistic {
		case CellCount:
			// never suppressed
		case CellMean:
			c.PSuppressed = inGroup(c)
		case CellVariance:
			c.PSuppressed = either(inGroup(c), nonPositive(c))
		case CellPearson:
			vx := find(func(v PlannedCell) bool {
				return v.Statistic == CellVariance && v.X == c.X && v.Y == "" && v.Group == c.Group
			})
			vy := find(func(v PlannedCell) bool {
				return v.Statistic == CellVariance && v.Y == c.Y && v.X == "" && v.Group == c.Group
			})
			c.PSuppressed = either(inGroup(c), either(nonPositive(vx), nonPositive(vy)))
		case CellRate:
			bucket := find(func(v PlannedCell) bool { return v.Statistic == CellCount && v.X == c.X && v.Group == c.Group })
			pb := pOverall
			if bucket != nil {
				pb = gate(bucket.Value, bucket.NoiseStd)
			}
			// C ≤ 0 or E ≤ 0; the rate's relative noise is that of the
			// larger of the two.
			c.PSuppressed = either(pb, below(1, c.NoiseStd/c.Value, 0))
			if _, ok := firstRate[[2]string{c.X, c.Y}]; !ok {
				firstRate[[2]string{c.X, c.Y}] = c
			}
		case CellRelativeRisk:
			rate := find(func(v PlannedCell) bool {
				return v.Statistic == CellRate && v.X == c.X && v.Y == c.Y && v.Group == c.Group
			})
			ref := firstRate[[2]string{c.X, c.Y}]
			if rate == nil || ref == nil {
				c.PSuppressed = pOverall
				continue
			}
			c.PSuppressed = either(rate.PSuppressed, ref.PSuppressed)
			if rate == ref {
				c.PSuppressed = ref.PSuppressed
			}
		default:
			// Means, regressions and tests are gated by the overall count
			// (a level's coefficient and the intercept of a regression with
			// a categorical predictor by their N, the people at a level).
			c.PSuppressed = gate(c.N, overall.NoiseStd)
		}
	}
	// A level of a categorical predictor below the threshold withholds
	// its sums, and the whole regression is not fitted: each cell of a
	// regression is suppressed if any of its levels is.
	levels := map[string]float64{} // by model: the chance no level gates
	for _, c := range cells {
		if c.Statistic == CellOLSCoef && strings.Contains(c.X, "=") && c.Reason == "" {
			if _, ok := levels[c.Group]; !ok {
				levels[c.Group] = 1
			}
			levels[c.Group] *= 1 - gate(c.N, overall.NoiseStd)
		}
	}
	for i := range cells {
		if pass, ok := levels[cells[i].Group]; ok && cells[i].Reason == "" {
			cells[i].PSuppressed = either(cells[i].PSuppressed, 1-pass)
		}
	}
}

// AssumptionsFromCells takes the assumptions of a plan from released
// cells (an earlier query's, or a query's own to plan it again): N from
// the overall count, every column's mean and standard deviation from its
// mean and variance cells where both were released, and the people in
// each group of a column a rate grouped by and the group's rate from the
// group's count and rate cells.
func AssumptionsFromCells(cells []Cell) Assumptions {
	a := Assumptions{Columns: map[ColumnRef]ColumnModel{}, Groups: map[ColumnRef]map[string]float64{}, Rates: map[RateKey]map[string]float64{}}
	means, variances := map[string]float64{}, map[string]float64{}
	// Grouped correlations: a group's cells follow its count, whose X is
	// the column they are grouped by. pooled gathers, per column, n·mean
	// and n·(variance + mean²) over the groups, which give a column's
	// moments when no ungrouped cell does.
	type moments struct{ n, sum, sumSq float64 }
	pooled := map[string]*moments{}
	groupMeans := map[[3]string]float64{} // by, group, column → mean
	var by string
	for _, c := range cells {
		col := c.X + c.Y // a moment cell names one column
		switch {
		case c.Suppressed:
		case c.Statistic == CellMean && c.Group != "" && (c.X == "") != (c.Y == ""):
			groupMeans[[3]string{by, c.Group, col}] = c.Value
		case c.Statistic == CellVariance && c.Group != "" && (c.X == "") != (c.Y == ""):
			m, ok := groupMeans[[3]string{by, c.Group, col}]
			byRef, byOK := parseCellRef(by)
			ref, refOK := parseCellRef(col)
			if !ok || !byOK || !refOK || !(c.Value > 0) {
				break
			}
			a.addGroupColumn(byRef, c.Group, ref, ColumnModel{Mean: m, SD: math.Sqrt(c.Value)})
			if pooled[col] == nil {
				pooled[col] = &moments{}
			}
			p := pooled[col]
			n := max(c.N, 0)
			p.n, p.sum, p.sumSq = p.n+n, p.sum+n*m, p.sumSq+n*(c.Value+m*m)
		case c.Statistic == CellCount && c.X == "" && c.Y == "" && c.Group == "":
			a.N = c.Value
		case c.Statistic == CellCount && c.X != "" && c.Y == "" && c.Group != "":
			by = c.X
			if ref, ok := parseCellRef(c.X); ok {
				if a.Groups[ref] == nil {
					a.Groups[ref] = map[string]float64{}
				}
				a.Groups[ref][c.Group] = max(c.Value, 0) // a noisy count may fall below 0
			}
		case c.Statistic == CellRate:
			k := RateKey{X: c.X, Y: c.Y, Per: c.Per}
			if a.Rates[k] == nil {
				a.Rates[k] = map[string]float64{}
			}
			a.Rates[k][c.Group] = max(c.Value, 0)
		case c.Statistic == CellMean && (c.X == "") != (c.Y == ""):
			means[col] = c.Value
		case c.Statistic == CellVariance && (c.X == "") != (c.Y == "") && c.Value > 0:
			variances[col] = c.Value
		}
	}
	for col, p := range pooled {
		if _, ok := means[col]; !ok && p.n > 0 {
			m := p.sum / p.n
			means[col], variances[col] = m, max(p.sumSq/p.n-m*m, 0)
		}
	}
	for col, m := range means {
		v, ok := variances[col]
		ref, found := parseCellRef(col)
		if !ok || !found {
			continue
		}
		a.Columns[ref] = ColumnModel{Mean: m, SD: math.Sqrt(v)}
	}
	return a
}

// parseCellRef parses a cell's "owner.name" (ColumnRef.String).
func parseCellRef(s string) (ColumnRef, bool) {
	owner, name, ok := strings.Cut(s, ".")
	return ColumnRef{Owner: owner, Name: name}, ok
}

// addGroupColumn sets the model of column ref within one group of by.
func (a *Assumptions) addGroupColumn(by ColumnRef, group string, ref ColumnRef, m ColumnModel) {
	if a.GroupColumns == nil {
		a.GroupColumns = map[ColumnRef]map[string]map[ColumnRef]ColumnModel{}
	}
	if a.GroupColumns[by] == nil {
		a.GroupColumns[by] = map[string]map[ColumnRef]ColumnModel{}
	}
	if a.GroupColumns[by][group] == nil {
		a.GroupColumns[by][group] = map[ColumnRef]ColumnModel{}
	}
	a.GroupColumns[by][group][ref] = m
}
