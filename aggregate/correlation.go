package aggregate

import (
	"math"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// Correlations (Request.Correlations): the mean and variance of every X
// and Y column and Pearson r of every X×Y pair, from n, Σx, Σx², Σy, Σy²
// and Σxy.

// correlations marks every column's value, and every Y column's square,
// for laying out; the evaluator lays out x² with every x.
func (n columnNeeds) correlations() {
	for i := range n.xVal {
		n.xVal[i] = true
	}
	for j := range n.yVal {
		n.yVal[j], n.ySq[j] = true, true
	}
}

// correlations adds Σx and Σx² of every X column, Σy and Σy² of every Y
// column and Σxy of every X×Y pair.
func (cb *circuitBuilder) correlations() {
	c := cb.c
	for _, x := range c.xs {
		c.sumX = append(c.sumX, cb.addStat("sum_x/"+x.info.Ref.Name, x.val, c.memberColumn))
		c.sumX2 = append(c.sumX2, cb.addStat("sum_x2/"+x.info.Ref.Name, x.sq, c.memberColumn))
	}
	for _, y := range c.ys {
		c.sumY = append(c.sumY, cb.addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val))
		c.sumY2 = append(c.sumY2, cb.addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq))
	}
	for _, x := range c.xs {
		row := make([]int, len(c.ys))
		for j, y := range c.ys {
			row[j] = cb.addStat("sum_xy/"+x.info.Ref.Name+"/"+y.info.Ref.Name, x.val, y.val)
		}
		c.sumXY = append(c.sumXY, row)
	}
}

// correlationCells returns the mean and variance of each X then each Y
// column and r of every X×Y pair.
func (c *Compiled) correlationCells(statistics, sig []float64, base Cell, minGroupSize int) []Cell {
	var out []Cell
	n := statistics[c.statN]
	moments := func(ref ColumnRef, fp FixedPoint, sum, sumSq int, isX bool) {
		m := stats.Moments{N: n, Sum: statistics[sum], SumSq: statistics[sumSq]}
		nz := stats.MomentNoise{N: sig[c.statN], Sum: sig[sum], SumSq: sig[sumSq]}
		unit := math.Exp2(float64(fp.FracBits))
		cell := base
		cell.N = n
		if isX {
			cell.X = ref.String()
		} else {
			cell.Y = ref.String()
		}
		mean, variance := cell, cell
		mean.Statistic, variance.Statistic = CellMean, CellVariance
		out = append(out, fillCell(mean, minGroupSize, func() (float64, float64, float64, float64, error) {
			e, err := stats.Mean(m, nz)
			return fp.Lo + e.Value/unit, fp.Lo + e.Lo/unit, fp.Lo + e.Hi/unit, e.NoiseSE / unit, err
		}))
		out = append(out, fillCell(variance, minGroupSize, func() (float64, float64, float64, float64, error) {
			e, err := stats.Variance(m, nz)
			u2 := unit * unit
			// NoiseSE is on the log scale: back to the variance's units.
			return e.Value / u2, e.Lo / u2, e.Hi / u2, e.Value * e.NoiseSE / u2, err
		}))
	}
	for i, x := range c.xs {
		moments(x.info.Ref, x.fp, c.sumX[i], c.sumX2[i], true)
	}
	for j, y := range c.ys {
		moments(y.info.Ref, y.fp, c.sumY[j], c.sumY2[j], false)
	}
	for i, x := range c.xs {
		for j, y := range c.ys {
			// r is invariant to the fixed-point shift and scale, so the
			// encoded sums give it directly.
			sums := stats.Sums{N: n, SumX: statistics[c.sumX[i]], SumY: statistics[c.sumY[j]],
				SumXX: statistics[c.sumX2[i]], SumYY: statistics[c.sumY2[j]], SumXY: statistics[c.sumXY[i][j]]}
			nz := stats.Noise{N: sig[c.statN], SumX: sig[c.sumX[i]], SumY: sig[c.sumY[j]],
				SumXX: sig[c.sumX2[i]], SumYY: sig[c.sumY2[j]], SumXY: sig[c.sumXY[i][j]]}
			cell := base
			cell.Statistic, cell.X, cell.Y, cell.N = CellPearson, x.info.Ref.String(), y.info.Ref.String(), n
			out = append(out, fillCell(cell, minGroupSize, func() (float64, float64, float64, float64, error) {
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
