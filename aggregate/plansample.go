package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// The planner's assumed data (planner.go): a sample of records drawn from
// the column models, or the querier's own, laid out as the owners would
// lay out theirs and turned into the statistics it would give.

// planRows is the size of the synthetic sample drawn from column models:
// enough that bucket shares and moments are within a percent or so, and
// that the chance pairing of one owner's columns (the events of a rate by
// a column of the same owner) moves a bucket's mean by about as much.
const planRows = 1 << 16

// planSeed fixes the synthetic sample, so that a plan is reproducible.
const planSeed = 0x6a6f696e746c79

// planSample is the sample the planner lays out: a.Sample, or one drawn
// from the column models, with the model of every column. paired reports
// that some columns were drawn given another owner's (GroupColumns), so
// that the sample's rows must be laid out as they pair.
func (c *Compiled) planSample(a Assumptions) (s *PlanSample, cols []PlannedColumn, paired bool, err error) {
	s, cols, err = c.modelSample(a)
	if err != nil || a.Sample != nil {
		return s, cols, false, err
	}
	paired, err = c.withGroupModels(s, cols, a.GroupColumns)
	return s, cols, paired, err
}

// modelSample is planSample without the models within groups.
func (c *Compiled) modelSample(a Assumptions) (*PlanSample, []PlannedColumn, error) {
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
	for k, rates := range a.Rates {
		for label, r := range rates {
			if !(r >= 0) || math.IsInf(r, 0) {
				return nil, nil, fmt.Errorf("%w: rate of %s by %s: group %q has a rate of %g", ErrInvalidAssumptions, k.Y, k.X, label, r)
			}
		}
	}
	for ref, counts := range a.Groups {
		for label, n := range counts {
			if !(n >= 0) || math.IsInf(n, 0) {
				return nil, nil, fmt.Errorf("%w: column %q: group %q has %g people", ErrInvalidAssumptions, ref, label, n)
			}
		}
	}
	out := &PlanSample{X: map[string][]float64{}, Y: map[string][]float64{}}
	for k, sp := range slices.Concat(c.xs, c.ys) {
		info := sp.info
		pc := PlannedColumn{Ref: info.Ref, Lo: info.Lo, Hi: info.Hi, Source: ModelUniform}
		pc.Mean, pc.SD = (info.Lo+info.Hi)/2, (info.Hi-info.Lo)/math.Sqrt(12)
		if m, ok := a.Columns[info.Ref]; ok {
			if err := checkModel(m, fmt.Sprintf("column %q", info.Ref)); err != nil {
				return nil, nil, err
			}
			// Values are clipped to the bounds, and so is their mean.
			pc.Mean, pc.SD, pc.Source = clampFloat(m.Mean, info.Lo, info.Hi), m.SD, ModelAssumed
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
		if counts, ok := a.Groups[info.Ref]; ok {
			if e, labels, found := c.groupingOf(info.Ref); found {
				if w, ok := shares(counts, labels); ok {
					v, pc.Grouped = withShares(rng, v, e, w, info.Lo, info.Hi, len(info.Levels) > 0), true
				}
			}
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

// withGroupModels redraws, in the sample s, the values of every column
// that models gives a model for within a group of the column the
// correlations are grouped by: each record's value from its group's
// model. It reports whether it redrew a column of the other owner than
// the group-by column's, whose rows must then pair.
func (c *Compiled) withGroupModels(s *PlanSample, cols []PlannedColumn, models map[ColumnRef]map[string]map[ColumnRef]ColumnModel) (bool, error) {
	by := c.req.CorrelationBy
	groups, ok := models[by]
	if by == (ColumnRef{}) || !ok {
		return false, nil
	}
	byInfo, _ := findColumn(&c.req, by)
	edges, labels, _ := grouping(byInfo, c.req.CorrelationEdges) // validated
	byX := indexOf(c.req.X, by) >= 0
	side := func(x bool) map[string][]float64 {
		if x {
			return s.X
		}
		return s.Y
	}
	byVals := side(byX)[by.Name]
	bucket := make([]int, len(byVals))
	for i, v := range byVals {
		bucket[i], _ = edges.Bucket(clampFloat(v, byInfo.Lo, byInfo.Hi))
	}
	paired := false
	for k, sp := range slices.Concat(c.xs, c.ys) {
		info, isX := sp.info, k < len(c.xs)
		if info.Ref == by {
			continue
		}
		v := side(isX)[info.Ref.Name]
		redrawn := false
		for b, label := range labels {
			m, ok := groups[label][info.Ref]
			if !ok {
				continue
			}
			if err := checkModel(m, fmt.Sprintf("column %q in group %q of %q", info.Ref, label, by)); err != nil {
				return false, err
			}
			rng := rand.New(rand.NewPCG(planSeed, uint64(len(c.xs)+len(c.ys)+k*MaxLevels+b)))
			draw := betaColumn(rng, info.Lo, info.Hi, clampFloat(m.Mean, info.Lo, info.Hi), m.SD)
			j := 0
			for i := range v {
				if bucket[i] == b {
					v[i], j = draw[j%len(draw)], j+1
				}
			}
			redrawn = true
		}
		if redrawn {
			cols[k].Mean, cols[k].SD = clippedMoments(v, info.Lo, info.Hi)
			cols[k].Grouped = true
			paired = paired || isX != byX
		}
	}
	return paired, nil
}

// assumeRates sets, in the expected statistics of the query, the events
// of every rate group that rates gives a rate for: the rate times the
// group's expected exposure, in the statistic's fixed point. It reports
// whether any group took one.
func (c *Compiled) assumeRates(expected []float64, rates map[RateKey]map[string]float64) bool {
	took := false
	for _, rs := range c.rates {
		evc, exc := c.ys[rs.events], c.ys[rs.exposure]
		k := RateKey{X: rs.byRef.String(), Y: evc.info.Ref.String() + "/" + exc.info.Ref.String(), Per: rs.per}
		for b, label := range rs.labels {
			r, ok := rates[k][label]
			if !ok {
				continue
			}
			nb := expected[rs.n[b]]
			exposure := expected[rs.ex[b]]*exc.fp.Unit() + exc.fp.Lo*nb
			events := r / rs.factor * exposure
			expected[rs.ev[b]] = (events - evc.fp.Lo*nb) / evc.fp.Unit()
			took = true
		}
	}
	return took
}

// groupingOf returns the buckets of the first rate the query groups by
// ref, or of the correlations grouped by it, if any.
func (c *Compiled) groupingOf(ref ColumnRef) (stats.Edges, []string, bool) {
	for _, rs := range c.rates {
		if rs.byRef == ref {
			return rs.edges, rs.labels, true
		}
	}
	if c.req.CorrelationBy == ref {
		ci, _ := findColumn(&c.req, ref)
		e, labels, err := grouping(ci, c.req.CorrelationEdges)
		return e, labels, err == nil
	}
	return nil, nil, false
}

// shares turns the people assumed in each group (checked: none below 0)
// into the share of each of labels; false if a label has no count or the
// counts sum to nothing.
func shares(counts map[string]float64, labels []string) ([]float64, bool) {
	w := make([]float64, len(labels))
	var total float64
	for b, l := range labels {
		n, ok := counts[l]
		if !ok {
			return nil, false
		}
		w[b] = n
		total += n
	}
	if !(total > 0) {
		return nil, false
	}
	for b := range w {
		w[b] /= total
	}
	return w, true
}

// withShares redraws v so that its values fall in the buckets of e in
// the proportions w, keeping its length: a bucket keeps values v already
// puts in it, as many as its share allows, and one short of values gets
// the rest spread evenly over its interval (a categorical column's level:
// its index, levels).
func withShares(rng *rand.Rand, v []float64, e stats.Edges, w []float64, lo, hi float64, levels bool) []float64 {
	in := make([][]float64, len(w))
	for _, x := range v {
		b, err := e.Bucket(x)
		if err != nil {
			continue
		}
		in[b] = append(in[b], x)
	}
	out := make([]float64, 0, len(v))
	for b, k := range apportion(w, len(v)) {
		have := in[b][:min(k, len(in[b]))]
		out = append(out, have...)
		blo, bhi := lo, hi
		if b > 0 {
			blo = e[b-1]
		}
		if b < len(e) {
			bhi = e[b]
		}
		short := k - len(have)
		for i := range short {
			x := blo + (float64(i)+0.5)/float64(short)*(bhi-blo)
			if levels {
				x = float64(b)
			}
			out = append(out, x)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// apportion splits n into whole parts in the proportions w (summing to
// 1), by largest remainder, so that the parts sum to n.
func apportion(w []float64, n int) []int {
	parts := make([]int, len(w))
	rest := make([]int, len(w))
	left := n
	for b, x := range w {
		parts[b] = int(math.Floor(x * float64(n)))
		left -= parts[b]
		rest[b] = b
	}
	slices.SortStableFunc(rest, func(i, j int) int {
		fi, fj := w[i]*float64(n)-float64(parts[i]), w[j]*float64(n)-float64(parts[j])
		switch {
		case fi > fj:
			return -1
		case fi < fj:
			return 1
		}
		return 0
	})
	for i := 0; left > 0; i = (i + 1) % len(rest) {
		parts[rest[i]]++
		left--
	}
	return parts
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
	mean := func(v []float64) float64 {
		var sum float64
		for _, x := range v {
			sum += x
		}
		return sum / float64(rows)
	}
	out := make([]float64, len(c.circuit.Stats))
	for i, st := range c.circuit.Stats {
		m, v := asFloats(mults[st.Multiplier]), statColumn(st, cols)
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
			sum += m[r] * v[r]
		}
		out[i] = sum * n / float64(rows)
	}
	return out, nil
}

// asFloats converts a laid-out column to float64.
func asFloats(v []int64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// statColumn returns the column statistic st sums over, its digit columns
// recombined (a square uploaded in digits, square.go).
func statColumn(st upload.Stat, cols [][]int64) []float64 {
	out := asFloats(cols[st.Column])
	for _, d := range st.Digits {
		for r, x := range cols[d.Column] {
			out[r] += math.Ldexp(float64(x), d.Shift)
		}
	}
	return out
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
