package aggregate

import (
	"fmt"
	"math/big"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// Correlations (Request.Correlations): the mean and variance of every
// correlation column and Pearson r of every pair of an X and a Y
// correlation column, from n, Σx, Σx², Σy, Σy² and Σxy.

// correlationSets resolves the correlation columns (Request.CorrelationX
// and CorrelationY, or every column when both are empty) to indexes of X
// and Y, and marks them used.
func (c *Compiled) correlationSets(usedX, usedY map[ColumnRef]bool) error {
	r := &c.req
	if !r.Correlations {
		if len(r.CorrelationX) > 0 || len(r.CorrelationY) > 0 {
			return fmt.Errorf("%w: correlation columns given without correlations", ErrInvalidQuery)
		}
		return nil
	}
	c.corrX, c.corrY = nil, nil
	if len(r.CorrelationX) == 0 && len(r.CorrelationY) == 0 {
		for i, ci := range r.X {
			c.corrX, usedX[ci.Ref] = append(c.corrX, i), true
		}
		for j, ci := range r.Y {
			c.corrY, usedY[ci.Ref] = append(c.corrY, j), true
		}
		return nil
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
	c.corrY, err = set("Y", r.CorrelationY, r.Y, usedY)
	return err
}

// correlations marks every correlation column's value, and every Y
// correlation column's square, for laying out; the evaluator lays out x²
// with every x.
func (n columnNeeds) correlations(c *Compiled) {
	for _, i := range c.corrX {
		n.xVal[i] = true
	}
	for _, j := range c.corrY {
		n.yVal[j], n.ySq[j] = true, true
	}
}

// correlations adds Σx and Σx² of every X correlation column, Σy and Σy²
// of every Y one and Σxy of every pair.
func (cb *circuitBuilder) correlations() {
	c := cb.c
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
}

// correlationCells returns the mean and variance of each X then each Y
// correlation column and r of every pair. An exact release is computed
// from its integers (stats.MeanExact, VarianceExact, PearsonExact), the
// mean in value units in rational arithmetic, so a large lower bound costs
// no digit.
func (c *Compiled) correlationCells(r released, sig []float64, base Cell, minGroupSize int) []Cell {
	statistics := r.v
	var out []Cell
	n := statistics[c.statN]
	moments := func(ref ColumnRef, fp FixedPoint, sum, sumSq int, isX bool) {
		m := stats.Moments{N: n, Sum: statistics[sum], SumSq: statistics[sumSq]}
		nz := stats.MomentNoise{N: sig[c.statN], Sum: sig[sum], SumSq: sig[sumSq]}
		u := fp.Unit() // the value of one encoded unit
		cell := base
		cell.N = n
		if isX {
			cell.X = ref.String()
		} else {
			cell.Y = ref.String()
		}
		mean, variance := cell, cell
		mean.Statistic, variance.Statistic = CellMean, CellVariance
		ex := r.exact(c.statN, sum, sumSq)
		out = append(out, fillCell(mean, minGroupSize, func() (float64, float64, float64, float64, error) {
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
		moments(x.info.Ref, x.fp, c.sumX[i], c.sumX2[i], true)
	}
	for j, yj := range c.corrY {
		y := c.ys[yj]
		moments(y.info.Ref, y.fp, c.sumY[j], c.sumY2[j], false)
	}
	for i, xi := range c.corrX {
		x := c.xs[xi]
		for j, yj := range c.corrY {
			y := c.ys[yj]
			// r is invariant to the fixed-point shift and scale, so the
			// encoded sums give it directly.
			sums := stats.Sums{N: n, SumX: statistics[c.sumX[i]], SumY: statistics[c.sumY[j]],
				SumXX: statistics[c.sumX2[i]], SumYY: statistics[c.sumY2[j]], SumXY: statistics[c.sumXY[i][j]]}
			nz := stats.Noise{N: sig[c.statN], SumX: sig[c.sumX[i]], SumY: sig[c.sumY[j]],
				SumXX: sig[c.sumX2[i]], SumYY: sig[c.sumY2[j]], SumXY: sig[c.sumXY[i][j]]}
			cell := base
			cell.Statistic, cell.X, cell.Y, cell.N = CellPearson, x.info.Ref.String(), y.info.Ref.String(), n
			ex := r.exact(c.statN, c.sumX[i], c.sumY[j], c.sumX2[i], c.sumY2[j], c.sumXY[i][j])
			out = append(out, fillCell(cell, minGroupSize, func() (float64, float64, float64, float64, error) {
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
