package aggregate

import (
	"fmt"
	"math"
	"math/big"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// Clipping reported (docs/privacy.md, "Clipping"). Every query clamps each
// numeric column to its declared bounds, which biases every statistic of
// the column toward them when many values lie outside. So that the querier
// can see it, each query also releases, per numeric column, how many of the
// common records had a value outside the bounds: the statistic Σ clip·member,
// where clip is the owner's own 0/1 indicator of a clipped value — a
// multiplier of the evaluator (times the uploader's membership) or an
// uploaded column of the uploader (times the evaluator's membership), so
// only common records count and neither owner learns which of its records
// are common. The counts carry DP noise like every statistic, from a fixed
// share ClipBudgetShare of the query's ρ, counted in the query's ε; exact
// queries release them exactly. A categorical column is never clipped (a
// value outside its levels is an input error) and gets no count.

// CellClipped is the share of the common records whose value of the
// cell's column (X for the evaluator's, Y for the uploader's) was outside
// its declared bounds and was clipped to them.
const CellClipped = "clipped"

// ClipBudgetShare is the share of a query's ρ (zCDP) spent on the clipping
// counts, split evenly over them; the other statistics share the rest.
const ClipBudgetShare = 0.05

// ClipWarnShare is the clipped share above which a clipping cell carries a
// warning: the column's statistics are then visibly biased toward its
// bounds. A noisy share warns only when its whole 95 % interval lies
// above it, so that the noise of a small query does not call for wider
// bounds on its own.
const ClipWarnShare = 0.05

// clipSpec is the clipping count of one numeric column.
type clipSpec struct {
	info  ColumnInfo
	ySide bool
	// index is the clip indicator's multiplier (X) or uploaded column (Y);
	// stat is Σ clip·member.
	index, stat int
}

// clips adds the clip indicator and count of every numeric column, X then
// Y in request order.
func (cb *circuitBuilder) clips() {
	c := cb.c
	for _, x := range c.xs {
		if len(x.info.Levels) > 0 {
			continue
		}
		m := cb.addMult("clip/x/"+x.info.Ref.Name, 1, 1)
		c.clips = append(c.clips, clipSpec{info: x.info, index: m, stat: cb.addStat("clipped/x/"+x.info.Ref.Name, m, c.memberColumn)})
	}
	for _, y := range c.ys {
		if len(y.info.Levels) > 0 {
			continue
		}
		col := cb.addCol("clip/y/"+y.info.Ref.Name, 1, 1)
		c.clips = append(c.clips, clipSpec{info: y.info, ySide: true, index: col, stat: cb.addStat("clipped/y/"+y.info.Ref.Name, c.memberMult, col)})
	}
}

// isClipStat reports whether statistic s is a clipping count.
func (c *Compiled) isClipStat(s int) bool {
	for _, cs := range c.clips {
		if cs.stat == s {
			return true
		}
	}
	return false
}

// clipIndicator lays out 1 at the union row of each own record whose value
// of the column lies outside its bounds, 0 elsewhere; NaN is rejected.
func clipIndicator(values map[string][]float64, ci ColumnInfo, rows []int, unionSize int) ([]int64, error) {
	v, err := ownValues(values, colSpec{info: ci}, len(rows))
	if err != nil {
		return nil, err
	}
	out := make([]int64, unionSize)
	for k, r := range rows {
		if math.IsNaN(v[k]) {
			return nil, fmt.Errorf("%w: column %q: record %d is NaN", ErrInvalidQuery, ci.Ref, k)
		}
		if v[k] < ci.Lo || v[k] > ci.Hi {
			out[r] = 1
		}
	}
	return out, nil
}

// layoutClips fills the clip indicators of one side (ySide) into out, the
// side's multipliers or uploaded columns.
func (c *Compiled) layoutClips(out [][]int64, ySide bool, values map[string][]float64, rows []int, unionSize int) error {
	for _, cs := range c.clips {
		if cs.ySide != ySide {
			continue
		}
		col, err := clipIndicator(values, cs.info, rows, unionSize)
		if err != nil {
			return err
		}
		out[cs.index] = col
	}
	return nil
}

// clipCells returns one CellClipped per clipping count: the clipped count
// over the noisy n, with its interval (delta method over both noisy
// counts), and a warning above ClipWarnShare. Like a noisy count, the share
// is left as the noise made it (it may fall below 0 or above 1), so that
// it stays unbiased and its noise_std is its spread; readers' outputs
// clamp what they print.
func (c *Compiled) clipCells(r released, sig []float64, base Cell, minGroupSize int) []Cell {
	statistics := r.v
	n := statistics[c.statN]
	var out []Cell
	for _, cs := range c.clips {
		cell := base
		cell.Statistic, cell.N = CellClipped, n
		if cs.ySide {
			cell.Y = cs.info.Ref.String()
		} else {
			cell.X = cs.info.Ref.String()
		}
		k := statistics[cs.stat]
		cell = fillCell(cell, minGroupSize, func() (float64, float64, float64, float64, error) {
			if math.IsNaN(k) {
				return 0, 0, 0, 0, fmt.Errorf("withheld in stage two of the release")
			}
			if !(n > 0) {
				return 0, 0, 0, 0, fmt.Errorf("no common records")
			}
			share := k / n
			if ex := r.exact(c.statN, cs.stat); ex != nil {
				share, _ = new(big.Rat).SetFrac(ex[1], ex[0]).Float64()
			}
			// Var(k/n) ≈ (σ_k/n)² + (k·σ_n/n²)².
			nz := math.Hypot(sig[cs.stat]/n, share*sig[c.statN]/n)
			lo, hi := share-stats.Z95*nz, share+stats.Z95*nz
			return share, lo, hi, nz, nil
		})
		if !cell.Suppressed && cell.Value > ClipWarnShare && cell.CILow > ClipWarnShare {
			cell.Warning = fmt.Sprintf("%.0f %% of the values were outside the bounds [%g, %g] and were clipped to them: the column's statistics lean toward its bounds; widen the bounds", 100*cell.Value, cs.info.Lo, cs.info.Hi)
		}
		out = append(out, cell)
	}
	return out
}
