package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// ContingencyRequest asks for the table of counts of the common records by
// a bucket of an evaluator column X and a bucket of an uploader column Y,
// and Pearson's chi-square test of their independence. Edges are inner cut
// points as in RateRequest, strictly inside each column's bounds; a
// categorical column takes none and is tabulated by level. The
// evaluator multiplies one indicator per X bucket with the uploader's
// one-hot columns of the Y buckets.
type ContingencyRequest struct {
	X      ColumnRef // in Request.X
	XEdges []float64
	Y      ColumnRef // in Request.Y
	YEdges []float64
}

// MaxContingencyCells bounds the cells of one contingency table.
const MaxContingencyCells = 1024

// ctSpec is one compiled ContingencyRequest.
type ctSpec struct {
	x, y             int // indexes into Compiled.xs / ys
	xEdges, yEdges   stats.Edges
	xLabels, yLabels []string
	xMults, yCols    []int
	cells            [][]int // [x bucket][y bucket] statistic
}

// contingencies adds, per table, one evaluator indicator per X bucket, one
// uploaded indicator per Y bucket and the count of every cell; the cells
// of a table are one family.
func (cb *circuitBuilder) contingencies() {
	c, r := cb.c, cb.c.req
	for i, ct := range r.Contingencies {
		t := ctSpec{x: indexOf(r.X, ct.X), y: indexOf(r.Y, ct.Y)}
		t.xEdges, t.xLabels, _ = grouping(c.xs[t.x].info, ct.XEdges) // validated
		t.yEdges, t.yLabels, _ = grouping(c.ys[t.y].info, ct.YEdges)
		for a := range t.xLabels {
			t.xMults = append(t.xMults, cb.addMult(fmt.Sprintf("cx%d/%d", i, a), 1, 1))
		}
		for b := range t.yLabels {
			t.yCols = append(t.yCols, cb.addCol(fmt.Sprintf("cy%d/%d", i, b), 1, 1))
		}
		var group []int
		for a, m := range t.xMults {
			row := make([]int, len(t.yCols))
			for b, col := range t.yCols {
				row[b] = cb.addStat(fmt.Sprintf("table%d/%d/%d", i, a, b), m, col)
				group = append(group, row[b])
			}
			t.cells = append(t.cells, row)
		}
		cb.addGroup(group)
		c.cts = append(c.cts, t)
	}
}

// contingencyCells returns the count of every cell of a table and its
// chi-square test. The counts are released as they are (never suppressed,
// like every count); the test is post-processing of them.
func (c *Compiled) contingencyCells(t ctSpec, st, sig, dpSig []float64, base Cell, minGroupSize int) []Cell {
	xr, yr := c.xs[t.x].info.Ref.String(), c.ys[t.y].info.Ref.String()
	table := make([][]float64, len(t.cells))
	var out []Cell
	var total, cellSig float64
	for a, row := range t.cells {
		table[a] = make([]float64, len(row))
		for b, s := range row {
			v := st[s]
			table[a][b] = v
			total += v
			cellSig = math.Max(cellSig, sig[s])
			cell := base
			cell.Statistic, cell.X, cell.Y = CellCount, xr, yr
			cell.Group = "x=" + t.xLabels[a] + " y=" + t.yLabels[b]
			cell.Value, cell.N, cell.NoiseStd = v, v, dpSig[s]
			cell.CILow, cell.CIHigh = v-stats.Z95*sig[s], v+stats.Z95*sig[s]
			out = append(out, cell)
		}
	}
	chi := base
	chi.Statistic, chi.X, chi.Y, chi.N = CellChiSquare, xr, yr, total
	// Exact counts (cellSig = 0) get the plain test.
	var res stats.ChiSquareResult
	chi = fillCell(chi, minGroupSize, func() (float64, float64, float64, float64, error) {
		var err error
		if res, err = stats.ChiSquare(table, cellSig); err != nil {
			return 0, 0, 0, 0, err
		}
		return res.AdjustedStatistic, 0, 0, chiSquareNoiseStd(table, cellSig) / res.NoiseFactor, nil
	})
	if !chi.Suppressed {
		chi.P = res.AdjustedP
	}
	return append(out, chi)
}

// chiSquareNoiseStd is the standard deviation independent N(0, σ²) noise
// on every cell gives Pearson's statistic, on the table as stats.ChiSquare
// reads it (negative cells clamped to 0, empty rows and columns left out):
// the first-order (delta) term σ²·Σ(∂χ²/∂O_ij)², with
//
//	χ² = N·Σ q − N,  q_kl = O_kl²/(R_k·C_l),
//	∂χ²/∂O_ij = Σq − 1 + N·(2·O_ij/(R_i·C_j) − Σ_l q_il/R_i − Σ_k q_kj/C_j),
//
// which vanishes under exact independence, plus the second-order term of
// the noise's own squares, which then dominates: Σ η_ij²/E_ij projected on
// the (r−1)(c−1) dimensions the margins leave, 2σ⁴·Σ(1/E_ij²)·DF/(r·c).
func chiSquareNoiseStd(table [][]float64, sigma float64) float64 {
	rows, cols := len(table), len(table[0])
	o := make([][]float64, rows)
	r, cs := make([]float64, rows), make([]float64, cols)
	for i, row := range table {
		o[i] = make([]float64, cols)
		for j, v := range row {
			o[i][j] = math.Max(v, 0)
			r[i] += o[i][j]
			cs[j] += o[i][j]
		}
	}
	var n, sumQ float64
	for _, v := range r {
		n += v
	}
	q := make([][]float64, rows)
	rowQ, colQ := make([]float64, rows), make([]float64, cols)
	for i := range o {
		q[i] = make([]float64, cols)
		for j := range o[i] {
			if r[i] > 0 && cs[j] > 0 {
				q[i][j] = o[i][j] * o[i][j] / (r[i] * cs[j])
				sumQ += q[i][j]
				rowQ[i] += q[i][j]
				colQ[j] += q[i][j]
			}
		}
	}
	var first, second float64
	keptR, keptC := 0, 0
	for i := range r {
		if r[i] > 0 {
			keptR++
		}
	}
	for j := range cs {
		if cs[j] > 0 {
			keptC++
		}
	}
	for i := range o {
		for j := range o[i] {
			if !(r[i] > 0 && cs[j] > 0) {
				continue
			}
			grad := sumQ - 1 + n*(2*o[i][j]/(r[i]*cs[j])-rowQ[i]/r[i]-colQ[j]/cs[j])
			first += grad * grad
			e := r[i] * cs[j] / n
			second += 1 / (e * e)
		}
	}
	df := float64((keptR - 1) * (keptC - 1))
	v := sigma*sigma*first + 2*math.Pow(sigma, 4)*second*df/float64(keptR*keptC)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0 // not reached on a table stats.ChiSquare accepted; keeps cells JSON-encodable
	}
	return math.Sqrt(v)
}
