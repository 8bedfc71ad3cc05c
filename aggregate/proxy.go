package aggregate

import (
	"fmt"
	"math"
	"slices"
)

// Proxy checks (docs/privacy.md, "Proxy checks"). An owner that declares
// a purpose segmenting (underwriting, pricing, marketing) refuses to
// release a result whose grouping column is a proxy of a column it or
// another owner tagged protected. The association is computed inside the
// query's encrypted pipeline from sums of the circuit's Σ multiplier ·
// column form, released in stage one with DP noise from a fixed share
// ProxyBudgetShare of the query's ρ, and each owner that declared a
// threshold decides on the noisy value before it releases stage two.
//
// Both columns are read on a coarse grid of their own: a numeric value v
// on [lo, hi] as q(v) = round((v − lo)/(hi − lo)·(ProxyLevels − 1)), a
// categorical one as the 0/1 indicator of each level. Under DP noise the
// grid costs nothing (r of 32 levels differs from r of the values by
// well under 0.01 for any smooth distribution), and it keeps every
// multiplier below 2^11, so that each sum is one product of the plan and
// one value of stage one. The association is
//
//   - Pearson |r| of q(by) and q(protected) when both are numeric, from n,
//     Σg, Σg², Σp, Σp² and Σg·p;
//   - the correlation ratio η of the numeric column on the categorical
//     one's levels when one of them is categorical, from n, Σa, Σa² and, per
//     level k, n_k = Σ 1[c = k] and S_k = Σ a·1[c = k]:
//     η² = (Σ_k S_k²/n_k − (Σa)²/n) / (Σa² − (Σa)²/n);
//     for a two-level column η is |r| of its indicator;
//   - Cramér's V when both are categorical, from the counts of their
//     table, V = √(χ² / (n·(min(rows, columns) − 1))).
//
// All three lie in [0, 1] (up to noise) and are 0 for independent columns
// and 1 for a column that determines the other's value (linearly, for r).
//
// A sum of two columns of different owners is the evaluator's feature as a
// multiplier times the uploader's as an uploaded column; of one owner's
// two columns, that owner's product of the two as a multiplier times the
// other's membership, or as an uploaded column times the evaluator's
// membership, like the clipping counts.

// ProxyRequest asks for the association of a grouping column By with a
// protected column Protected, both X or Y columns of the request.
type ProxyRequest struct {
	By, Protected ColumnRef
}

// ProxyBudgetShare is the share of a query's ρ spent on the proxy
// statistics, split evenly over their families; the other statistics
// share the rest.
const ProxyBudgetShare = 0.05

// ProxyLevels is the number of steps of the grid a numeric column is read
// on for a proxy check.
const ProxyLevels = 32

// The kinds of association.
const (
	ProxyPearson   = "pearson_r"
	ProxyEta       = "correlation_ratio"
	ProxyCramersV  = "cramers_v"
	maxProxyChecks = 64
)

// Association is the noisy association of a ProxyRequest's columns, as
// the stage-one release gives it.
type Association struct {
	By, Protected ColumnRef
	// Kind is ProxyPearson, ProxyEta or ProxyCramersV.
	Kind string
	// Value is the association in [0, 1] up to noise (|r| for Pearson);
	// NaN when the noisy sums do not define it (too few records, or a
	// column without variance among them).
	Value float64
	// N is the noisy count of the common records.
	N float64
}

// featureKind is what a proxy feature lays out of a column.
type featureKind int

const (
	featOne featureKind = iota // the membership
	featVal                    // q(v)
	featSq                     // q(v)²
	featInd                    // 1[level = k]
)

// proxyFeature is one per-record value of a side's column.
type proxyFeature struct {
	kind  featureKind
	ySide bool
	col   int // index into xs or ys
	level int
}

// max bounds the feature's values.
func (f proxyFeature) max() int64 {
	switch f.kind {
	case featVal:
		return ProxyLevels - 1
	case featSq:
		return (ProxyLevels - 1) * (ProxyLevels - 1)
	}
	return 1
}

// proxyVec is a multiplier (X) or uploaded column (Y) the proxy
// statistics add: the product of two features of the side (b may be
// featOne).
type proxyVec struct {
	ySide bool
	index int
	a, b  proxyFeature
}

// proxySpec is one compiled ProxyRequest.
type proxySpec struct {
	req  ProxyRequest
	kind string
	// Pearson: Σg, Σg², Σp, Σp², Σg·p. Eta: Σa, Σa² of the numeric column,
	// and nk, sk per level of the categorical one. Cramér: cells[a][b].
	sg, sgg, sp, spp, sgp int
	nk, sk                []int
	cells                 [][]int
}

// proxyBuilder keeps the vectors the proxy statistics share.
type proxyBuilder struct {
	cb   *circuitBuilder
	vecs map[[2]proxyFeature]int // a side's product → multiplier or column
}

// vec returns the multiplier (X) or uploaded column (Y) a·b of one side.
func (pb *proxyBuilder) vec(a, b proxyFeature) int {
	key := [2]proxyFeature{a, b}
	if i, ok := pb.vecs[key]; ok {
		return i
	}
	c, cb := pb.cb.c, pb.cb
	name := fmt.Sprintf("proxy/%d", len(c.proxyVecs))
	var i int
	if a.ySide {
		i = cb.addCol(name, a.max()*b.max(), 1)
	} else {
		i = cb.addMult(name, a.max()*b.max(), 1)
	}
	pb.vecs[key] = i
	c.proxyVecs = append(c.proxyVecs, proxyVec{ySide: a.ySide, index: i, a: a, b: b})
	return i
}

// sum returns the statistic Σ a·b over the common records.
func (pb *proxyBuilder) sum(a, b proxyFeature) int {
	c, cb := pb.cb.c, pb.cb
	if a.kind == featOne {
		a, b = b, a
	}
	one := proxyFeature{kind: featOne}
	name := fmt.Sprintf("proxy/sum/%d", len(c.circuit.Stats))
	switch {
	case a.kind == featOne:
		return c.statN
	case b.kind == featOne && a.ySide:
		return cb.addStat(name, c.memberMult, pb.vec(a, one))
	case b.kind == featOne:
		return cb.addStat(name, pb.vec(a, one), c.memberColumn)
	case a.ySide != b.ySide:
		if a.ySide {
			a, b = b, a
		}
		return cb.addStat(name, pb.vec(a, one), pb.vec(b, one))
	case a.ySide:
		return cb.addStat(name, c.memberMult, pb.vec(a, b))
	default:
		return cb.addStat(name, pb.vec(a, b), c.memberColumn)
	}
}

// proxies adds the statistics of every proxy check, and their families
// for the privacy split.
func (cb *circuitBuilder) proxies() {
	c := cb.c
	pb := &proxyBuilder{cb: cb, vecs: map[[2]proxyFeature]int{}}
	one := proxyFeature{kind: featOne}
	side := func(ref ColumnRef) (col int, ySide bool, info ColumnInfo) {
		if i := indexOf(c.req.X, ref); i >= 0 {
			return i, false, c.xs[i].info
		}
		j := indexOf(c.req.Y, ref)
		return j, true, c.ys[j].info
	}
	seen := map[string]bool{}
	family := func(stats ...int) {
		key := fmt.Sprint(stats)
		if !seen[key] {
			seen[key] = true
			c.proxyFamilies = append(c.proxyFamilies, stats)
		}
	}
	levels := func(col int, ySide bool, info ColumnInfo) []proxyFeature {
		out := make([]proxyFeature, len(info.Levels))
		for k := range out {
			out[k] = proxyFeature{kind: featInd, ySide: ySide, col: col, level: k}
		}
		return out
	}
	for _, pr := range c.req.Proxies {
		gc, gy, gi := side(pr.By)
		pc, py, pi := side(pr.Protected)
		s := proxySpec{req: pr}
		switch {
		case len(gi.Levels) == 0 && len(pi.Levels) == 0:
			s.kind = ProxyPearson
			g, p := proxyFeature{kind: featVal, ySide: gy, col: gc}, proxyFeature{kind: featVal, ySide: py, col: pc}
			g2, p2 := g, p
			g2.kind, p2.kind = featSq, featSq
			s.sg, s.sgg, s.sp, s.spp, s.sgp = pb.sum(g, one), pb.sum(g2, one), pb.sum(p, one), pb.sum(p2, one), pb.sum(g, p)
			family(s.sg)
			family(s.sgg)
			family(s.sp)
			family(s.spp)
			family(s.sgp)
		case len(gi.Levels) > 0 && len(pi.Levels) > 0:
			s.kind = ProxyCramersV
			var all []int
			for _, a := range levels(gc, gy, gi) {
				var row []int
				for _, b := range levels(pc, py, pi) {
					row = append(row, pb.sum(a, b))
				}
				s.cells = append(s.cells, row)
				all = append(all, row...)
			}
			family(all...)
		default:
			s.kind = ProxyEta
			ac, ay, cc, cy, ci := gc, gy, pc, py, pi
			if len(gi.Levels) > 0 {
				ac, ay, cc, cy, ci = pc, py, gc, gy, gi
			}
			a := proxyFeature{kind: featVal, ySide: ay, col: ac}
			a2 := a
			a2.kind = featSq
			s.sg, s.sgg = pb.sum(a, one), pb.sum(a2, one)
			for _, ind := range levels(cc, cy, ci) {
				s.nk = append(s.nk, pb.sum(ind, one))
				s.sk = append(s.sk, pb.sum(a, ind))
			}
			family(s.sg)
			family(s.sgg)
			family(s.nk...)
			family(s.sk...)
		}
		c.proxies = append(c.proxies, s)
	}
}

// proxyStats lists the proxy statistics, increasing, each once.
func (c *Compiled) proxyStats() []int {
	var out []int
	for _, f := range c.proxyFamilies {
		out = append(out, f...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isProxyStat reports whether statistic s is a proxy statistic.
func (c *Compiled) isProxyStat(s int) bool {
	for _, f := range c.proxyFamilies {
		if slices.Contains(f, s) {
			return true
		}
	}
	return false
}

// proxyLevel reads value v of column ci on the proxy grid: q(v) of a
// numeric column, the level index of a categorical one.
func proxyLevel(v float64, ci ColumnInfo) int64 {
	if len(ci.Levels) > 0 {
		return int64(math.Round(clampFloat(v, 0, float64(len(ci.Levels)-1))))
	}
	return int64(math.Round((clampFloat(v, ci.Lo, ci.Hi) - ci.Lo) / (ci.Hi - ci.Lo) * (ProxyLevels - 1)))
}

func clampFloat(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

// layoutProxies fills the proxy vectors of one side (ySide) into out, the
// side's multipliers or uploaded columns; member is the side's
// membership.
func (c *Compiled) layoutProxies(out [][]int64, ySide bool, values map[string][]float64, rows []int, unionSize int, member []int64) error {
	specs := c.xs
	if ySide {
		specs = c.ys
	}
	feature := func(f proxyFeature) ([]int64, error) {
		if f.kind == featOne {
			return member, nil
		}
		s := specs[f.col]
		v, err := ownValues(values, s, len(rows))
		if err != nil {
			return nil, err
		}
		col := make([]int64, unionSize)
		for k, r := range rows {
			if math.IsNaN(v[k]) {
				return nil, fmt.Errorf("%w: column %q: record %d is NaN", ErrInvalidQuery, s.info.Ref, k)
			}
			q := proxyLevel(v[k], s.info)
			switch f.kind {
			case featVal:
				col[r] = q
			case featSq:
				col[r] = q * q
			case featInd:
				if q == int64(f.level) {
					col[r] = 1
				}
			}
		}
		return col, nil
	}
	for _, pv := range c.proxyVecs {
		if pv.ySide != ySide {
			continue
		}
		a, err := feature(pv.a)
		if err != nil {
			return err
		}
		b, err := feature(pv.b)
		if err != nil {
			return err
		}
		out[pv.index] = product(a, b)
	}
	return nil
}

// Proxies returns the query's proxy checks in request order.
func (c *Compiled) Proxies() []ProxyRequest { return append([]ProxyRequest(nil), c.req.Proxies...) }

// ProxyAssociations computes the association of every proxy check from
// the stage-one values (statistic → value, as Release takes them), in
// request order. A statistic missing from values gives NaN.
func (c *Compiled) ProxyAssociations(values map[int]float64) []Association {
	get := func(s int) float64 {
		if v, ok := values[s]; ok {
			return v
		}
		return math.NaN()
	}
	n := get(c.statN)
	out := make([]Association, len(c.proxies))
	for i, s := range c.proxies {
		a := Association{By: s.req.By, Protected: s.req.Protected, Kind: s.kind, N: n}
		switch s.kind {
		case ProxyPearson:
			a.Value = math.Abs(pearsonFromSums(n, get(s.sg), get(s.sp), get(s.sgg), get(s.spp), get(s.sgp)))
		case ProxyEta:
			nk, sk := make([]float64, len(s.nk)), make([]float64, len(s.sk))
			for k := range s.nk {
				nk[k], sk[k] = get(s.nk[k]), get(s.sk[k])
			}
			a.Value = correlationRatio(n, get(s.sg), get(s.sgg), nk, sk)
		case ProxyCramersV:
			table := make([][]float64, len(s.cells))
			for r, row := range s.cells {
				table[r] = make([]float64, len(row))
				for k, st := range row {
					table[r][k] = get(st)
				}
			}
			a.Value = cramersV(table)
		}
		out[i] = a
	}
	return out
}

// pearsonFromSums is r of the sums, NaN when a variance is not positive.
func pearsonFromSums(n, sx, sy, sxx, syy, sxy float64) float64 {
	vx, vy := n*sxx-sx*sx, n*syy-sy*sy
	if !(n > 1 && vx > 0 && vy > 0) {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / math.Sqrt(vx*vy)
}

// correlationRatio is η of a numeric column on a categorical one's levels
// (n_k records with sum S_k at level k), NaN when the numeric column has no
// variance. Levels whose noisy count is not positive are left out; the
// ratio is capped to [0, 1], which noise can leave.
func correlationRatio(n, sa, saa float64, nk, sk []float64) float64 {
	total := saa - sa*sa/n
	if !(n > 1 && total > 0) {
		return math.NaN()
	}
	var between float64
	for k := range nk {
		if nk[k] > 0 {
			between += sk[k] * sk[k] / nk[k]
		}
	}
	between -= sa * sa / n
	return math.Sqrt(clampFloat(between/total, 0, 1))
}

// cramersV is V of a table of counts: negative (noisy) cells count as 0,
// empty rows and columns are left out; NaN when fewer than two rows or
// columns remain.
func cramersV(table [][]float64) float64 {
	rows, cols := make([]float64, len(table)), make([]float64, len(table[0]))
	var n float64
	for r, row := range table {
		for k, v := range row {
			v = math.Max(v, 0)
			rows[r] += v
			cols[k] += v
			n += v
		}
	}
	keptR, keptC := 0, 0
	for _, v := range rows {
		if v > 0 {
			keptR++
		}
	}
	for _, v := range cols {
		if v > 0 {
			keptC++
		}
	}
	if keptR < 2 || keptC < 2 {
		return math.NaN()
	}
	var chi2 float64
	for r, row := range table {
		for k, v := range row {
			if rows[r] > 0 && cols[k] > 0 {
				e := rows[r] * cols[k] / n
				d := math.Max(v, 0) - e
				chi2 += d * d / e
			}
		}
	}
	return math.Sqrt(chi2 / (n * float64(min(keptR, keptC)-1)))
}

// validateProxies checks the proxy checks of the request and marks their
// columns used.
func (c *Compiled) validateProxies(usedX, usedY map[ColumnRef]bool) error {
	r := &c.req
	if len(r.Proxies) > maxProxyChecks {
		return fmt.Errorf("%w: %d proxy checks, at most %d", ErrInvalidQuery, len(r.Proxies), maxProxyChecks)
	}
	seen := map[ProxyRequest]bool{}
	for i, pr := range r.Proxies {
		if pr.By == pr.Protected {
			return fmt.Errorf("%w: proxy check %d: column %q against itself", ErrInvalidQuery, i, pr.By)
		}
		if seen[pr] {
			return fmt.Errorf("%w: proxy check %d: %q against %q twice", ErrInvalidQuery, i, pr.By, pr.Protected)
		}
		seen[pr] = true
		for _, ref := range []ColumnRef{pr.By, pr.Protected} {
			switch {
			case indexOf(r.X, ref) >= 0:
				usedX[ref] = true
			case indexOf(r.Y, ref) >= 0:
				usedY[ref] = true
			default:
				return fmt.Errorf("%w: proxy check %d: column %q is neither an X nor a Y column", ErrInvalidQuery, i, ref)
			}
		}
	}
	return nil
}
