package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// Each owner's columns of a compiled query, in circuit order, from its own
// values and the union rows private matching gave its records.

// ownValues returns the values of a side's column, checking their count.
func ownValues(values map[string][]float64, s colSpec, records int) ([]float64, error) {
	v, ok := values[s.info.Ref.Name]
	if !ok {
		return nil, fmt.Errorf("%w: no values for column %q", ErrInvalidQuery, s.info.Ref)
	}
	if len(v) != records {
		return nil, fmt.Errorf("%w: column %q has %d values for %d records", ErrInvalidQuery, s.info.Ref, len(v), records)
	}
	return v, nil
}

// layoutColumn lays out a side's column at its records' union rows in its
// fixed-point encoding, clamped to the declared bounds.
func layoutColumn(values map[string][]float64, s colSpec, rows []int, unionSize int) ([]int64, error) {
	v, err := ownValues(values, s, len(rows))
	if err != nil {
		return nil, err
	}
	col, err := Layout(unionSize, rows, v, s.fp)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", s.info.Ref, err)
	}
	return col, nil
}

// bucketLevels returns bucket+1 of each own record's clamped value at its
// union row and 0 elsewhere; rows must have been validated (Membership).
func bucketLevels(values map[string][]float64, s colSpec, edges stats.Edges, rows []int, unionSize int) ([]int64, error) {
	v, err := ownValues(values, s, len(rows))
	if err != nil {
		return nil, err
	}
	level := make([]int64, unionSize)
	for k, r := range rows {
		if math.IsNaN(v[k]) {
			return nil, fmt.Errorf("%w: column %q: record %d is NaN", upload.ErrInvalidLayout, s.info.Ref, k)
		}
		b, _ := edges.Bucket(math.Min(math.Max(v[k], s.fp.Lo), s.fp.Hi))
		level[r] = int64(b) + 1
	}
	return level, nil
}

// layoutLevels lays out the indicators of the levels of a side's
// categorical columns (specs) that a regression takes as predictors, and
// of the buckets the correlations are grouped by.
func (c *Compiled) layoutLevels(out [][]int64, specs []colSpec, levels []levelSpec, values map[string][]float64, rows []int, unionSize int) error {
	byCol := map[int][]int64{}
	for _, l := range levels {
		level, ok := byCol[l.col]
		if !ok {
			s := specs[l.col]
			edges, _, err := grouping(s.info, l.edges)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
			}
			if level, err = bucketLevels(values, s, edges, rows, unionSize); err != nil {
				return err
			}
			byCol[l.col] = level
		}
		out[l.idx] = upload.Indicator(level, int64(l.level)+1)
	}
	return nil
}

// product returns the element-wise product of two laid-out columns.
func product(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i] * b[i]
	}
	return out
}

// EvaluatorColumns lays out the evaluating owner's multipliers in circuit
// order. values holds each X column by name, one value per own record;
// rows[k] is record k's union row from private matching. Values are clamped
// to their declared bounds; NaN is rejected. Bucket indicators are taken on
// the clamped value. The products x_j·x_k of a regression are taken on the
// encoded (shifted, fixed-point) values.
func (c *Compiled) EvaluatorColumns(values map[string][]float64, rows []int, unionSize int) ([][]int64, error) {
	out := make([][]int64, len(c.circuit.Multipliers))
	member, err := Membership(unionSize, rows)
	if err != nil {
		return nil, err
	}
	out[c.memberMult] = member
	for _, x := range c.xs {
		if x.val < 0 {
			continue
		}
		col, err := layoutColumn(values, x, rows, unionSize)
		if err != nil {
			return nil, err
		}
		out[x.val], out[x.sq] = col, upload.Square(col)
	}
	if err := c.layoutLevels(out, c.xs, c.xLevels, values, rows, unionSize); err != nil {
		return nil, err
	}
	for _, p := range c.prodMults {
		out[p.idx] = product(out[p.a], out[p.b])
	}
	indicators := func(s colSpec, edges stats.Edges, mults []int) error {
		level, err := bucketLevels(values, s, edges, rows, unionSize)
		if err != nil {
			return err
		}
		for b, m := range mults {
			out[m] = upload.Indicator(level, int64(b)+1)
		}
		return nil
	}
	for _, rs := range c.rates {
		if rs.ySide {
			continue // the uploader's buckets, multiplied by the membership
		}
		if err := indicators(c.xs[rs.by], rs.edges, rs.mults); err != nil {
			return nil, err
		}
	}
	for _, t := range c.cts {
		if err := indicators(c.xs[t.x], t.xEdges, t.xMults); err != nil {
			return nil, err
		}
	}
	if err := c.layoutClips(out, false, values, rows, unionSize); err != nil {
		return nil, err
	}
	if err := c.layoutProxies(out, false, values, rows, unionSize, member); err != nil {
		return nil, err
	}
	return out, nil
}

// UploaderColumns lays out the uploading owner's columns in circuit order,
// as EvaluatorColumns does for the evaluator: membership, then each needed
// y (and y²), clamped to the declared bounds; for a rate grouped by one of
// its own columns, per bucket the indicator 1[b] and the encoded events
// and exposure times 1[b]; for a contingency table the one-hot indicators
// of its Y buckets.
func (c *Compiled) UploaderColumns(values map[string][]float64, rows []int, unionSize int) ([][]int64, error) {
	out := make([][]int64, len(c.circuit.Columns))
	member, err := Membership(unionSize, rows)
	if err != nil {
		return nil, err
	}
	out[c.memberColumn] = member
	layout := func(y colSpec) ([]int64, error) { return layoutColumn(values, y, rows, unionSize) }
	for _, y := range c.ys {
		if y.val < 0 {
			continue
		}
		col, err := layout(y)
		if err != nil {
			return nil, err
		}
		out[y.val] = col
		if y.sq >= 0 {
			layoutSquare(out, y, col)
		}
	}
	if err := c.layoutLevels(out, c.ys, c.yLevels, values, rows, unionSize); err != nil {
		return nil, err
	}
	for _, p := range c.prodCols {
		out[p.idx] = product(out[p.a], out[p.b])
	}
	// The correlations grouped by an uploader column: y and the digits of
	// y² times each group's indicator.
	parts := map[int][][]int64{}
	for _, g := range c.groupedCols {
		v, ok := parts[g.y]
		if !ok {
			col, err := layout(c.ys[g.y])
			if err != nil {
				return nil, err
			}
			v = append([][]int64{col}, c.ys[g.y].split.Digits(col)...)
			parts[g.y] = v
		}
		out[g.idx] = product(v[g.part], out[g.ind])
	}
	for _, rs := range c.rates {
		if !rs.ySide {
			continue
		}
		level, err := bucketLevels(values, c.ys[rs.by], rs.edges, rows, unionSize)
		if err != nil {
			return nil, err
		}
		ev, err := layout(c.ys[rs.events])
		if err != nil {
			return nil, err
		}
		ex, err := layout(c.ys[rs.exposure])
		if err != nil {
			return nil, err
		}
		for b := range rs.ind {
			ind := upload.Indicator(level, int64(b)+1)
			out[rs.ind[b]], out[rs.evCol[b]], out[rs.exCol[b]] = ind, product(ev, ind), product(ex, ind)
		}
	}
	for _, t := range c.cts {
		level, err := bucketLevels(values, c.ys[t.y], t.yEdges, rows, unionSize)
		if err != nil {
			return nil, err
		}
		for b, col := range t.yCols {
			out[col] = upload.Indicator(level, int64(b)+1)
		}
	}
	if err := c.layoutClips(out, true, values, rows, unionSize); err != nil {
		return nil, err
	}
	if err := c.layoutProxies(out, true, values, rows, unionSize, member); err != nil {
		return nil, err
	}
	return out, nil
}
