package aggregate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
	// Sample, if set, replaces Columns: the planner lays it out as it is.
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
	// (stats.Z95·NoiseStd).
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
}

// ErrInvalidAssumptions reports assumptions the planner cannot use; the
// message names the column or field.
var ErrInvalidAssumptions = errors.New("aggregate: invalid planning assumptions")

// planRows is the size of the synthetic sample drawn from column models:
// enough that bucket shares and moments are within a percent or so, and
// that the chance pairing of one owner's columns (the events of a rate by
// a column of the same owner) moves a bucket's mean by about as much.
const planRows = 1 << 16

// planSeed fixes the synthetic sample, so that a plan is reproducible.
const planSeed = 0x6a6f696e746c79

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
	sample, cols, err := c.planSample(a)
	if err != nil {
		return nil, err
	}
	expected, err := c.expectedStats(sample, n, a.Sample == nil)
	if err != nil {
		return nil, err
	}
	owners := c.req.Owners
	cells, err := c.Results(expected, owners, 0)
	if err != nil {
		return nil, err
	}
	p := &AccuracyPlan{Columns: cols, Epsilon: c.req.Epsilon, Delta: c.req.Delta, Exact: c.req.Exact,
		Owners: owners, N: n, MinGroupSize: a.MinGroupSize}
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
// that gates each cell (the overall count, or a rate bucket's) against k,
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
		case CellVariance:
			c.PSuppressed = either(pOverall, nonPositive(c))
		case CellPearson:
			vx := find(func(v PlannedCell) bool { return v.Statistic == CellVariance && v.X == c.X && v.Y == "" })
			vy := find(func(v PlannedCell) bool { return v.Statistic == CellVariance && v.Y == c.Y && v.X == "" })
			c.PSuppressed = either(pOverall, either(nonPositive(vx), nonPositive(vy)))
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
			// Means, regressions and tests are gated by the overall count.
			c.PSuppressed = gate(c.N, overall.NoiseStd)
		}
	}
}

// planSample is the sample the planner lays out: a.Sample, or one drawn
// from the column models, with the model of every column.
func (c *Compiled) planSample(a Assumptions) (*PlanSample, []PlannedColumn, error) {
	var cols []PlannedColumn
	if s := a.Sample; s != nil {
		rows := -1
		for _, side := range []struct {
			specs  []colSpec
			values map[string][]float64
		}{{c.xs, s.X}, {c.ys, s.Y}} {
			for _, sp := range side.specs {
				v, ok := side.values[sp.info.Ref.Name]
				if !ok {
					return nil, nil, fmt.Errorf("%w: the sample has no column %q", ErrInvalidAssumptions, sp.info.Ref)
				}
				if rows >= 0 && len(v) != rows {
					return nil, nil, fmt.Errorf("%w: sample column %q has %d records, others %d", ErrInvalidAssumptions, sp.info.Ref, len(v), rows)
				}
				rows = len(v)
				m, sd := clippedMoments(v, sp.info.Lo, sp.info.Hi)
				cols = append(cols, PlannedColumn{Ref: sp.info.Ref, Lo: sp.info.Lo, Hi: sp.info.Hi, Mean: m, SD: sd, Source: ModelSample})
			}
		}
		if rows < 1 {
			return nil, nil, fmt.Errorf("%w: an empty sample", ErrInvalidAssumptions)
		}
		return s, cols, nil
	}
	for ref := range a.Columns {
		if indexOf(c.req.X, ref) < 0 && indexOf(c.req.Y, ref) < 0 {
			return nil, nil, fmt.Errorf("%w: column %q is not in the query", ErrInvalidAssumptions, ref)
		}
	}
	out := &PlanSample{X: map[string][]float64{}, Y: map[string][]float64{}}
	for k, sp := range slices.Concat(c.xs, c.ys) {
		info := sp.info
		pc := PlannedColumn{Ref: info.Ref, Lo: info.Lo, Hi: info.Hi, Source: ModelUniform}
		pc.Mean, pc.SD = (info.Lo+info.Hi)/2, (info.Hi-info.Lo)/math.Sqrt(12)
		if m, ok := a.Columns[info.Ref]; ok {
			if math.IsNaN(m.Mean) || !(m.SD >= 0) || math.IsInf(m.SD, 0) {
				return nil, nil, fmt.Errorf("%w: column %q: mean %g and standard deviation %g must be numbers, the deviation finite and not negative",
					ErrInvalidAssumptions, info.Ref, m.Mean, m.SD)
			}
			// Values are clipped to the bounds, and so is their mean.
			pc.Mean, pc.SD, pc.Source = math.Min(math.Max(m.Mean, info.Lo), info.Hi), m.SD, ModelAssumed
		}
		rng := rand.New(rand.NewPCG(planSeed, uint64(k)))
		var v []float64
		switch {
		case pc.Source == ModelUniform && len(info.Levels) > 0:
			v = levelsColumn(rng, len(info.Levels))
		case pc.Source == ModelUniform:
			v = uniformColumn(rng, info.Lo, info.Hi)
		default:
			v = betaColumn(rng, info.Lo, info.Hi, pc.Mean, pc.SD)
		}
		pc.Mean, pc.SD = clippedMoments(v, info.Lo, info.Hi)
		cols = append(cols, pc)
		if k < len(c.xs) {
			out.X[info.Ref.Name] = v
		} else {
			out.Y[info.Ref.Name] = v
		}
	}
	return out, cols, nil
}

// expectedStats lays the sample out as both owners would (every record in
// both datasets) and returns the statistics it gives, scaled to n people;
// independent says the sample's two sides were drawn independently.
func (c *Compiled) expectedStats(s *PlanSample, n float64, independent bool) ([]float64, error) {
	var rows int
	for _, v := range s.X {
		rows = len(v)
		break
	}
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i
	}
	mults, err := c.EvaluatorColumns(s.X, idx, rows)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAssumptions, err)
	}
	cols, err := c.UploaderColumns(s.Y, idx, rows)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAssumptions, err)
	}
	mean := func(v []int64) float64 {
		var sum float64
		for _, x := range v {
			sum += float64(x)
		}
		return sum / float64(rows)
	}
	out := make([]float64, len(c.circuit.Stats))
	for i, st := range c.circuit.Stats {
		m, v := mults[st.Multiplier], cols[st.Column]
		if independent {
			// The model draws the owners' columns independently: the
			// expectation of a product of one owner's multiplier and the
			// other's column is the product of their means, free of the
			// chance pairing of a finite sample.
			out[i] = n * mean(m) * mean(v)
			continue
		}
		var sum float64
		for r := range m {
			sum += float64(m[r]) * float64(v[r])
		}
		out[i] = sum * n / float64(rows)
	}
	return out, nil
}

// clippedMoments is the mean and standard deviation of v clipped to
// [lo, hi].
func clippedMoments(v []float64, lo, hi float64) (mean, sd float64) {
	var s, s2 float64
	for _, x := range v {
		x = math.Min(math.Max(x, lo), hi)
		s += x
		s2 += x * x
	}
	n := float64(len(v))
	mean = s / n
	return mean, math.Sqrt(math.Max(s2/n-mean*mean, 0))
}

// levelsColumn is planRows level indexes of a categorical column, each
// level equally often, shuffled.
func levelsColumn(rng *rand.Rand, levels int) []float64 {
	v := make([]float64, planRows)
	for i := range v {
		v[i] = float64(i * levels / planRows)
	}
	rng.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
	return v
}

// uniformColumn is planRows values evenly spread over [lo, hi], shuffled.
func uniformColumn(rng *rand.Rand, lo, hi float64) []float64 {
	v := make([]float64, planRows)
	for i := range v {
		v[i] = lo + (float64(i)+0.5)/planRows*(hi-lo)
	}
	rng.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
	return v
}

// betaColumn is planRows values on [lo, hi] with the given mean and
// standard deviation: a beta distribution of those moments, scaled to
// them exactly. A standard deviation beyond what the bounds allow at that
// mean gives the two-point distribution on the bounds, which is as wide
// as a column there can be.
func betaColumn(rng *rand.Rand, lo, hi, mean, sd float64) []float64 {
	v := make([]float64, planRows)
	w := hi - lo
	m, s2 := (mean-lo)/w, (sd/w)*(sd/w)
	switch {
	case sd == 0 || m <= 0 || m >= 1:
		for i := range v {
			v[i] = mean
		}
		return v
	case s2 >= m*(1-m):
		for i := range v {
			v[i] = lo
			if (float64(i)+0.5)/planRows < m {
				v[i] = hi
			}
		}
		rng.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
		return v
	}
	k := m*(1-m)/s2 - 1
	a, b := m*k, (1-m)*k
	var sum, sum2 float64
	for i := range v {
		x, y := gammaVariate(rng, a), gammaVariate(rng, b)
		if x+y > 0 {
			v[i] = x / (x + y)
		} else if rng.Float64() < m { // both underflowed: a tiny a and b put the mass at the ends
			v[i] = 1
		}
		sum += v[i]
		sum2 += v[i] * v[i]
	}
	gm := sum / planRows
	gs := math.Sqrt(math.Max(sum2/planRows-gm*gm, 0))
	for i := range v {
		z := 0.0
		if gs > 0 {
			z = (v[i] - gm) / gs
		}
		v[i] = math.Min(math.Max(mean+sd*z, lo), hi)
	}
	return v
}

// gammaVariate draws from Gamma(a, 1) (Marsaglia and Tsang 2000; for
// a < 1 through Gamma(a + 1)·U^(1/a)). A try is accepted with probability
// above 0.95; after gammaTries the mean stands in.
func gammaVariate(rng *rand.Rand, a float64) float64 {
	if a < 1 {
		return gammaVariate(rng, a+1) * math.Pow(rng.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for range gammaTries {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < x*x/2+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
	return a
}

// gammaTries caps gammaVariate's rejection loop.
const gammaTries = 64

// AssumptionsFromCells takes the assumptions of a plan from released
// cells (an earlier query's, or a query's own to plan it again): N from
// the overall count, and every column's mean and standard deviation from
// its mean and variance cells where both were released.
func AssumptionsFromCells(cells []Cell) Assumptions {
	a := Assumptions{Columns: map[ColumnRef]ColumnModel{}}
	means, variances := map[string]float64{}, map[string]float64{}
	for _, c := range cells {
		col := c.X + c.Y // a moment cell names one column
		switch {
		case c.Suppressed:
		case c.Statistic == CellCount && c.X == "" && c.Y == "" && c.Group == "":
			a.N = c.Value
		case c.Statistic == CellMean && (c.X == "") != (c.Y == ""):
			means[col] = c.Value
		case c.Statistic == CellVariance && (c.X == "") != (c.Y == "") && c.Value > 0:
			variances[col] = c.Value
		}
	}
	for col, m := range means {
		v, ok := variances[col]
		owner, name, found := strings.Cut(col, ".")
		if !ok || !found {
			continue
		}
		a.Columns[ColumnRef{Owner: owner, Name: name}] = ColumnModel{Mean: m, SD: math.Sqrt(v)}
	}
	return a
}
