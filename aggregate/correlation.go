package aggregate

import (
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// Correlations (Request.Correlations): the mean and variance of every
// correlation column and Pearson r of every pair of an X and a Y
// correlation column, from n, Σx, Σx², Σy, Σy² and Σxy; over everyone, or
// within each group of a column of either owner (Request.CorrelationBy).
//
// Grouped by an evaluator column, the evaluator multiplies one indicator
// 1[b] per bucket with its own values and squares (x·1[b], x²·1[b]: its
// own multipliers) and with the uploaded y and y². Grouped by an uploader
// column, the uploader uploads 1[b], y·1[b] and y²·1[b] per bucket (its
// own data, in plaintext), and the evaluator multiplies them by x, x² and
// its membership. Either way a group's statistics are those of the
// ungrouped query over the people in it; its count is released in stage
// one and gates the rest (release.go), and the buckets of each statistic
// are one family of the privacy split, since they are disjoint in people.

// corrGroup holds the statistics of the correlations over one group of
// people: everyone (label empty, n the overall count), or one bucket of
// Request.CorrelationBy.
type corrGroup struct {
	label                    string
	n                        int
	sumX, sumX2, sumY, sumY2 []int
	sumXY                    [][]int // [x][y]
}

// correlationSets resolves the correlation columns (Request.CorrelationX
// and CorrelationY, or every column when both are empty) to indexes of X
// and Y, and marks them used.
func (c *Compiled) correlationSets(usedX, usedY map[ColumnRef]bool) error {
	r := &c.req
	if !r.Correlations {
		if len(r.CorrelationX) > 0 || len(r.CorrelationY) > 0 || r.CorrelationBy != (ColumnRef{}) || len(r.CorrelationEdges) > 0 {
			return fmt.Errorf("%w: correlation columns or grouping given without correlations", ErrInvalidQuery)
		}
		return nil
	}
	c.corrX, c.corrY = nil, nil
	by := r.CorrelationBy
	if len(r.CorrelationX) == 0 && len(r.CorrelationY) == 0 {
		for i, ci := range r.X {
			if ci.Ref != by {
				c.corrX, usedX[ci.Ref] = append(c.corrX, i), true
			}
		}
		for j, ci := range r.Y {
			if ci.Ref != by {
				c.corrY, usedY[ci.Ref] = append(c.corrY, j), true
			}
		}
		if len(c.corrX) == 0 || len(c.corrY) == 0 {
			return fmt.Errorf("%w: correlations grouped by %q need another X and another Y column", ErrInvalidQuery, by)
		}
		return c.correlationBy(usedX, usedY)
	}
	set := func(kind string, refs []ColumnRef, cols []ColumnInfo, used map[ColumnRef]bool) ([]int, error) {
		if len(refs) == 0 {
			return nil, fmt.Errorf("%w: correlations need %s columns", ErrInvalidQuery, kind)
		}
		var out []int
		for _, ref := range refs {
			k := indexOf(cols, ref)
			if k < 0 {
				return nil, fmt.Errorf("%w: correlation column %q is not a %s column", ErrInvalidQuery, ref, kind)
			}
			if used[ref] {
				return nil, fmt.Errorf("%w: duplicate correlation column %q", ErrInvalidQuery, ref)
			}
			used[ref] = true
			out = append(out, k)
		}
		return out, nil
	}
	var err error
	if c.corrX, err = set("X", r.CorrelationX, r.X, usedX); err != nil {
		return err
	}
	if c.corrY, err = set("Y", r.CorrelationY, r.Y, usedY); err != nil {
		return err
	}
	return c.correlationBy(usedX, usedY)
}

// correlationBy checks the column the correlations are grouped by, if
// any: a column of the query that is not one of the correlations', with
// buckets (stats.Edges) for a numeric one and none for a categorical one.
func (c *Compiled) correlationBy(usedX, usedY map[ColumnRef]bool) error {
	r := &c.req
	by := r.CorrelationBy
	if by == (ColumnRef{}) {
		if len(r.CorrelationEdges) > 0 {
			return fmt.Errorf("%w: correlation buckets given without a column to group by", ErrInvalidQuery)
		}
		return nil
	}
	ci, ok := findColumn(r, by)
	if !ok {
		return fmt.Errorf("%w: the correlations' group-by column %q is neither an X nor a Y column", ErrInvalidQuery, by)
	}
	if usedX[by] || usedY[by] {
		return fmt.Errorf("%w: %q groups the correlations and cannot also be one of their columns", ErrInvalidQuery, by)
	}
	if _, _, err := grouping(ci, r.CorrelationEdges); err != nil {
		return fmt.Errorf("%w: correlations: %w", ErrInvalidQuery, err)
	}
	if indexOf(r.X, by) >= 0 {
		usedX[by] = true
	} else {
		usedY[by] = true
	}
	return nil
}

// correlations marks every correlation column's value, and every Y
// correlation column's square, for laying out; the evaluator lays out x²
// with every x. Grouped by an uploader column, the uploader uploads y and
// y² only times each group's indicator (groupedCol).
func (n columnNeeds) correlations(c *Compiled) {
	for _, i := range c.corrX {
		n.xVal[i] = true
	}
	if indexOf(c.req.Y, c.req.CorrelationBy) >= 0 {
		return
	}
	for _, j := range c.corrY {
		n.yVal[j], n.ySq[j] = true, true
	}
}

// groupedCol is an uploaded column of correlations grouped by an uploader
// column: a Y column's values (part 0), or the low (1) or high (2) digit
// of its square, times the indicator of one group (the uploaded column
// ind).
type groupedCol struct{ idx, y, part, ind int }

// correlations adds Σx and Σx² of every X correlation column, Σy and Σy²
// of every Y one and Σxy of every pair: over everyone, or per group.
func (cb *circuitBuilder) correlations() error {
	c := cb.c
	if c.req.CorrelationBy != (ColumnRef{}) {
		return cb.groupedCorrelations()
	}
	for _, i := range c.corrX {
		x := c.xs[i]
		c.sumX = append(c.sumX, cb.addStat("sum_x/"+x.info.Ref.Name, x.val, c.memberColumn))
		c.sumX2 = append(c.sumX2, cb.addStat("sum_x2/"+x.info.Ref.Name, x.sq, c.memberColumn))
	}
	for _, j := range c.corrY {
		y := c.ys[j]
		c.sumY = append(c.sumY, cb.addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val))
		c.sumY2 = append(c.sumY2, cb.addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq))
	}
	for _, i := range c.corrX {
		x := c.xs[i]
		row := make([]int, len(c.corrY))
		for k, j := range c.corrY {
			y := c.ys[j]
			row[k] = cb.addStat("sum_xy/"+x.info.Ref.Name+"/"+y.info.Ref.Name, x.val, y.val)
		}
		c.sumXY = append(c.sumXY, row)
	}
	return nil
}

// groupedCorrelations adds, per bucket b of Request.CorrelationBy, the
// count of its people and their Σx·1[b], Σx²·1[b], Σy·1[b], Σy²·1[b] and
// Σxy·1[b]; the buckets of each of them are one family.
func (cb *circuitBuilder) groupedCorrelations() error {
	c, r := cb.c, cb.c.req
	ySide, col, specs := false, indexOf(r.X, r.CorrelationBy), c.xs
	if col < 0 {
		ySide, col, specs = true, indexOf(r.Y, r.CorrelationBy), c.ys
		for _, j := range c.corrY {
			y := &c.ys[j]
			split, err := upload.SplitSquare(y.fp.Max())
			if err != nil {
				return tooWideToSquare(y.info, y.fp, err.Error())
			}
			y.split = split
		}
	}
	c.groupedCols = nil
	_, labels, _ := grouping(specs[col].info, r.CorrelationEdges) // validated
	c.corrGroups = make([]corrGroup, len(labels))
	for b, label := range labels {
		g := corrGroup{label: label}
		name := "cby/" + strconv.Itoa(b)
		level := levelSpec{col: col, level: b, edges: r.CorrelationEdges}
		// xv and yv are each correlation column's values times 1[b] on the
		// side that holds the indicator, or its values.
		xv, yv := make([]int, len(c.corrX)), make([]int, len(c.corrY))
		if ySide {
			level.idx = cb.addCol(name, 1, 1)
			c.yLevels = append(c.yLevels, level)
			g.n = cb.addStat(name+"/n", c.memberMult, level.idx)
			for k, i := range c.corrX {
				x := c.xs[i]
				xv[k] = x.val
				g.sumX = append(g.sumX, cb.addStat(name+"/sum_x/"+x.info.Ref.Name, x.val, level.idx))
				g.sumX2 = append(g.sumX2, cb.addStat(name+"/sum_x2/"+x.info.Ref.Name, x.sq, level.idx))
			}
			for k, j := range c.corrY {
				y := c.ys[j]
				yv[k] = cb.groupedCol(j, 0, level.idx, "y/"+y.info.Ref.Name+"/"+name, y.fp.Max(), y.fp.Unit())
				g.sumY = append(g.sumY, cb.addStat(name+"/sum_y/"+y.info.Ref.Name, c.memberMult, yv[k]))
				g.sumY2 = append(g.sumY2, cb.addStat(name+"/sum_y2/"+y.info.Ref.Name, c.memberMult, cb.squareTimes(j, level.idx, name)))
			}
		} else {
			level.idx = cb.addMult(name, 1, 1)
			c.xLevels = append(c.xLevels, level)
			g.n = cb.addStat(name+"/n", level.idx, c.memberColumn)
			for k, i := range c.corrX {
				x := c.xs[i]
				u := x.fp.Unit()
				xv[k] = cb.productOf(false, x.val, level.idx, x.info.Ref.Name+"/"+name, x.fp.Max(), u)
				sq := cb.productOf(false, x.sq, level.idx, x.info.Ref.Name+"²/"+name, x.fp.Max()*x.fp.Max(), u*u)
				g.sumX = append(g.sumX, cb.addStat(name+"/sum_x/"+x.info.Ref.Name, xv[k], c.memberColumn))
				g.sumX2 = append(g.sumX2, cb.addStat(name+"/sum_x2/"+x.info.Ref.Name, sq, c.memberColumn))
			}
			for k, j := range c.corrY {
				y := c.ys[j]
				yv[k] = y.val
				g.sumY = append(g.sumY, cb.addStat(name+"/sum_y/"+y.info.Ref.Name, level.idx, y.val))
				g.sumY2 = append(g.sumY2, cb.addStat(name+"/sum_y2/"+y.info.Ref.Name, level.idx, y.sq))
			}
		}
		for k, i := range c.corrX {
			row := make([]int, len(c.corrY))
			for l, j := range c.corrY {
				row[l] = cb.addStat(name+"/sum_xy/"+c.xs[i].info.Ref.Name+"/"+c.ys[j].info.Ref.Name, xv[k], yv[l])
			}
			g.sumXY = append(g.sumXY, row)
		}
		c.corrGroups[b] = g
	}
	family := func(stat func(g corrGroup) int) {
		group := make([]int, len(c.corrGroups))
		for b, g := range c.corrGroups {
			group[b] = stat(g)
		}
		cb.addGroup(group)
	}
	family(func(g corrGroup) int { return g.n })
	for k := range c.corrX {
		family(func(g corrGroup) int { return g.sumX[k] })
		family(func(g corrGroup) int { return g.sumX2[k] })
	}
	for l := range c.corrY {
		family(func(g corrGroup) int { return g.sumY[l] })
		family(func(g corrGroup) int { return g.sumY2[l] })
		for k := range c.corrX {
			family(func(g corrGroup) int { return g.sumXY[k][l] })
		}
	}
	return nil
}

// groupedCol adds the uploaded column of part of Y column j times the
// indicator ind (groupedCol).
func (cb *circuitBuilder) groupedCol(j, part, ind int, name string, bound int64, unit float64) int {
	idx := cb.addCol(name, bound, unit)
	cb.c.groupedCols = append(cb.c.groupedCols, groupedCol{idx: idx, y: j, part: part, ind: ind})
	return idx
}

// squareTimes returns the uploaded column y²·ind of Y column j and the
// indicator ind: in two digit columns, each a digit of y² times ind, when
// y² takes two (square.go).
func (cb *circuitBuilder) squareTimes(j, ind int, name string) int {
	y := cb.c.ys[j]
	unit := y.fp.Unit() * y.fp.Unit()
	lo := cb.groupedCol(j, 1, ind, "y2/"+y.info.Ref.Name+"/"+name, y.split.LoMax, unit)
	if y.split.Shift > 0 {
		hi := cb.groupedCol(j, 2, ind, "y2hi/"+y.info.Ref.Name+"/"+name, y.split.HiMax, unit)
		if cb.digits == nil {
			cb.digits = map[int][]upload.ColumnDigit{}
		}
		cb.digits[lo] = []upload.ColumnDigit{{Column: hi, Shift: y.split.Shift}}
	}
	return lo
}

// correlationGroups returns the groups the correlations run over: everyone, or each
// bucket of Request.CorrelationBy.
func (c *Compiled) correlationGroups() []corrGroup {
	if c.corrGroups != nil {
		return c.corrGroups
	}
	return []corrGroup{{n: c.statN, sumX: c.sumX, sumX2: c.sumX2, sumY: c.sumY, sumY2: c.sumY2, sumXY: c.sumXY}}
}

// correlationCells returns, per group (grouped: after the group's
// count), the mean and variance of each X then each Y correlation column
// and r of every pair. An exact release is computed from its integers
// (stats.MeanExact, VarianceExact, PearsonExact), the mean in value units
// in rational arithmetic, so a large lower bound costs no digit. A group
// whose statistics stage two withheld has its cells suppressed, saying so.
func (c *Compiled) correlationCells(r released, sig, dpSig []float64, base Cell, minGroupSize int) []Cell {
	var out []Cell
	for _, g := range c.correlationGroups() {
		if g.label != "" {
			out = append(out, countCell(base, c.req.CorrelationBy.String(), g.label, g.n, r.v, sig, dpSig))
		}
		out = append(out, c.groupCells(g, r, sig, base, minGroupSize)...)
	}
	return out
}

// groupCells returns the cells of the correlations over one group.
func (c *Compiled) groupCells(g corrGroup, r released, sig []float64, base Cell, minGroupSize int) []Cell {
	statistics := r.v
	var out []Cell
	n := statistics[g.n]
	base.Group, base.N = g.label, n
	withheld := func(ss ...int) error {
		for _, s := range ss {
			if math.IsNaN(statistics[s]) {
				return errWithheld
			}
		}
		return nil
	}
	moments := func(ref ColumnRef, fp FixedPoint, sum, sumSq int, isX bool) {
		m := stats.Moments{N: n, Sum: statistics[sum], SumSq: statistics[sumSq]}
		nz := stats.MomentNoise{N: sig[g.n], Sum: sig[sum], SumSq: sig[sumSq]}
		u := fp.Unit() // the value of one encoded unit
		cell := base
		if isX {
			cell.X = ref.String()
		} else {
			cell.Y = ref.String()
		}
		mean, variance := cell, cell
		mean.Statistic, variance.Statistic = CellMean, CellVariance
		ex := r.exact(g.n, sum, sumSq)
		held := withheld(sum, sumSq)
		out = append(out, fillCell(mean, minGroupSize, func() (float64, float64, float64, float64, error) {
			if held != nil {
				return 0, 0, 0, 0, held
			}
			if ex != nil {
				e, err := stats.MeanExact(stats.ExactMoments{N: ex[0], Sum: ex[1], SumSq: ex[2]})
				if err != nil {
					return 0, 0, 0, 0, err
				}
				// lo + u·Σx'/n, rounded once.
				v := new(big.Rat).SetFrac(ex[1], ex[0])
				v.Mul(v, new(big.Rat).SetFloat64(u)).Add(v, new(big.Rat).SetFloat64(fp.Lo))
				m, _ := v.Float64()
				half := stats.Z95 * e.SE * u
				return m, m - half, m + half, 0, nil
			}
			e, err := stats.Mean(m, nz)
			return fp.Lo + e.Value*u, fp.Lo + e.Lo*u, fp.Lo + e.Hi*u, e.NoiseSE * u, err
		}))
		out = append(out, fillCell(variance, minGroupSize, func() (float64, float64, float64, float64, error) {
			if held != nil {
				return 0, 0, 0, 0, held
			}
			if ex != nil {
				e, err := stats.VarianceExact(stats.ExactMoments{N: ex[0], Sum: ex[1], SumSq: ex[2]})
				u2 := u * u
				return e.Value * u2, e.Lo * u2, e.Hi * u2, 0, err
			}
			e, err := stats.Variance(m, nz)
			u2 := u * u
			// NoiseSE is on the log scale: back to the variance's units.
			return e.Value * u2, e.Lo * u2, e.Hi * u2, e.Value * e.NoiseSE * u2, err
		}))
	}
	for i, xi := range c.corrX {
		x := c.xs[xi]
		moments(x.info.Ref, x.fp, g.sumX[i], g.sumX2[i], true)
	}
	for j, yj := range c.corrY {
		y := c.ys[yj]
		moments(y.info.Ref, y.fp, g.sumY[j], g.sumY2[j], false)
	}
	for i, xi := range c.corrX {
		x := c.xs[xi]
		for j, yj := range c.corrY {
			y := c.ys[yj]
			// r is invariant to the fixed-point shift and scale, so the
			// encoded sums give it directly.
			sums := stats.Sums{N: n, SumX: statistics[g.sumX[i]], SumY: statistics[g.sumY[j]],
				SumXX: statistics[g.sumX2[i]], SumYY: statistics[g.sumY2[j]], SumXY: statistics[g.sumXY[i][j]]}
			nz := stats.Noise{N: sig[g.n], SumX: sig[g.sumX[i]], SumY: sig[g.sumY[j]],
				SumXX: sig[g.sumX2[i]], SumYY: sig[g.sumY2[j]], SumXY: sig[g.sumXY[i][j]]}
			cell := base
			cell.Statistic, cell.X, cell.Y = CellPearson, x.info.Ref.String(), y.info.Ref.String()
			ids := []int{g.n, g.sumX[i], g.sumY[j], g.sumX2[i], g.sumY2[j], g.sumXY[i][j]}
			ex, held := r.exact(ids...), withheld(ids[1:]...)
			out = append(out, fillCell(cell, minGroupSize, func() (float64, float64, float64, float64, error) {
				if held != nil {
					return 0, 0, 0, 0, held
				}
				if ex != nil {
					e, err := stats.PearsonExact(stats.ExactSums{N: ex[0], SumX: ex[1], SumY: ex[2], SumXX: ex[3], SumYY: ex[4], SumXY: ex[5]})
					return e.Value, e.Lo, e.Hi, 0, err
				}
				e, err := stats.PearsonCI(sums, nz)
				noise := e.NoiseSE
				if e.Scale == stats.FisherZ {
					noise *= 1 - e.Value*e.Value
				}
				return e.Value, e.Lo, e.Hi, noise, err
			}))
		}
	}
	return out
}
