package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// RateRequest asks for a rate Σ events / Σ exposure per bucket of a column,
// with the relative risk of each bucket against the first. For a numeric
// By, Edges are the inner cut points (stats.Edges): k strictly increasing
// edges strictly inside (lo, hi) of By make k+1 buckets, bucket i holding
// Edges[i−1] ≤ v < Edges[i] after clamping to the bounds. A categorical By
// (ColumnInfo.Levels) takes no Edges: each level is a bucket, labelled
// with its name.
//
// The rate is reported per Per, a time unit ("year", the default, "month",
// "week", "day") when the exposure declares one (ColumnInfo.Unit), and per
// the exposure's own unit otherwise (units.go).
//
// By is either an evaluator column (in Request.X: the evaluator multiplies
// one 0/1 bucket indicator per bucket with the uploaded events and
// exposure) or an uploader column (in Request.Y, for example the insurer's
// age band). In the second case events, exposure and By all belong to the
// uploader, so it lays out per bucket b the columns 1[b], events·1[b] and
// exposure·1[b] itself, in plaintext (they are its own data), and the
// evaluator multiplies them by its membership: 3 uploaded columns per bucket
// instead of one multiplier per bucket.
type RateRequest struct {
	Events, Exposure ColumnRef // uploaded columns (in Request.Y), lo ≥ 0
	By               ColumnRef // in Request.X or in Request.Y
	Edges            []float64
	Per              string
}

// rateSpec is one compiled RateRequest.
type rateSpec struct {
	req RateRequest
	// by indexes Compiled.xs, or Compiled.ys when ySide; events and
	// exposure index Compiled.ys.
	by, events, exposure int
	ySide                bool
	byRef                ColumnRef
	edges                stats.Edges
	labels               []string
	// factor turns events per unit of exposure into events per per.
	factor float64
	per    string
	// mults are the indicator multipliers per bucket (X side); ind, evCol
	// and exCol the uploaded 1[b], events·1[b], exposure·1[b] (Y side).
	mults             []int
	ind, evCol, exCol []int
	// statistics per bucket
	n, ev, ex []int
}

// rates marks the events and exposure of every rate grouped by an X column
// for laying out as they are: the evaluator multiplies them by its bucket
// indicators. A rate grouped by a Y column uses only its per-bucket
// products.
func (n columnNeeds) rates(r Request) {
	for _, rr := range r.Rates {
		if indexOf(r.X, rr.By) >= 0 {
			n.yVal[indexOf(r.Y, rr.Events)], n.yVal[indexOf(r.Y, rr.Exposure)] = true, true
		}
	}
}

// rates adds, per rate request and bucket, the count, events and exposure
// statistics: a bucket indicator multiplier for a group-by X column, or the
// uploaded 1[b], events·1[b] and exposure·1[b] for a group-by Y column. The
// buckets of each of the three are one family.
func (cb *circuitBuilder) rates() {
	c, r := cb.c, cb.c.req
	for i, rr := range r.Rates {
		rs := rateSpec{req: rr, byRef: rr.By, events: indexOf(r.Y, rr.Events), exposure: indexOf(r.Y, rr.Exposure)}
		var by ColumnInfo
		if rs.by = indexOf(r.X, rr.By); rs.by >= 0 {
			by = c.xs[rs.by].info
		} else {
			rs.by, rs.ySide = indexOf(r.Y, rr.By), true
			by = c.ys[rs.by].info
		}
		evs, exs := c.ys[rs.events], c.ys[rs.exposure]
		rs.edges, rs.labels, _ = grouping(by, rr.Edges)  // validated
		rs.factor, rs.per, _ = ratePer(exs.info, rr.Per) // validated
		for b := range rs.labels {
			prefix := fmt.Sprintf("rate%d/%d", i, b)
			if rs.ySide {
				ind := cb.addCol("ind"+prefix[4:], 1, 1)
				ev := cb.addCol("events"+prefix[4:], evs.fp.Max(), evs.fp.Unit())
				ex := cb.addCol("exposure"+prefix[4:], exs.fp.Max(), exs.fp.Unit())
				rs.ind, rs.evCol, rs.exCol = append(rs.ind, ind), append(rs.evCol, ev), append(rs.exCol, ex)
				rs.n = append(rs.n, cb.addStat(prefix+"/n", c.memberMult, ind))
				rs.ev = append(rs.ev, cb.addStat(prefix+"/events", c.memberMult, ev))
				rs.ex = append(rs.ex, cb.addStat(prefix+"/exposure", c.memberMult, ex))
				continue
			}
			m := cb.addMult("by"+prefix[4:], 1, 1)
			rs.mults = append(rs.mults, m)
			rs.n = append(rs.n, cb.addStat(prefix+"/n", m, c.memberColumn))
			rs.ev = append(rs.ev, cb.addStat(prefix+"/events", m, evs.val))
			rs.ex = append(rs.ex, cb.addStat(prefix+"/exposure", m, exs.val))
		}
		cb.addGroup(rs.n)
		cb.addGroup(rs.ev)
		cb.addGroup(rs.ex)
		c.rates = append(c.rates, rs)
	}
}

// rateCells returns, per bucket of one rate, the count, the rate and the
// relative risk against the first bucket (exactly 1 for the first).
func (c *Compiled) rateCells(rs rateSpec, statistics, sig, dpSig []float64, base Cell, minGroupSize int) []Cell {
	var out []Cell
	evc, exc := c.ys[rs.events], c.ys[rs.exposure]
	xName, yName := rs.byRef.String(), evc.info.Ref.String()+"/"+exc.info.Ref.String()
	buckets := make([]stats.Bucket, len(rs.n))
	for b := range rs.n {
		nb := statistics[rs.n[b]]
		// Unshift: Σv = Σv'·u + lo·n_b, and the noise likewise.
		ue, ux := evc.fp.Unit(), exc.fp.Unit()
		buckets[b] = stats.Bucket{
			Claims:        statistics[rs.ev[b]]*ue + evc.fp.Lo*nb,
			Exposure:      statistics[rs.ex[b]]*ux + exc.fp.Lo*nb,
			ClaimsNoise:   math.Hypot(sig[rs.ev[b]]*ue, evc.fp.Lo*sig[rs.n[b]]),
			ExposureNoise: math.Hypot(sig[rs.ex[b]]*ux, exc.fp.Lo*sig[rs.n[b]]),
		}
	}
	for b := range rs.n {
		nb := statistics[rs.n[b]]
		out = append(out, countCell(base, xName, rs.labels[b], rs.n[b], statistics, sig, dpSig))
		cell := base
		cell.X, cell.Y, cell.Group, cell.N = xName, yName, rs.labels[b], nb
		rate := cell
		rate.Statistic, rate.Per = CellRate, rs.per
		out = append(out, fillCell(rate, minGroupSize, func() (float64, float64, float64, float64, error) {
			e, err := stats.Rate(buckets[b])
			f := rs.factor
			return f * e.Value, f * e.Lo, f * e.Hi, f * e.Value * e.NoiseSE, err
		}))
		rr := cell
		rr.Statistic = CellRelativeRisk
		rr.N = math.Min(nb, statistics[rs.n[0]])
		out = append(out, fillCell(rr, minGroupSize, func() (float64, float64, float64, float64, error) {
			if b == 0 {
				return 1, 1, 1, 0, nil
			}
			e, err := stats.RelativeRisk(buckets[b], buckets[0])
			return e.Value, e.Lo, e.Hi, e.Value * e.NoiseSE, err
		}))
	}
	return out
}
