package aggregate

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// RegressionRequest asks for the least-squares fit, with intercept, of an
// uploader column on predictors of either owner over the common records:
// Outcome = β_0 + Σ_j β_j·t_j + ε, where the terms t_j are the numeric
// predictors as they are and, for a categorical predictor, the indicator
// of each of its levels but the first (the reference level, which the
// intercept and the other terms' coefficients describe). The sufficient
// statistics are n, and over the terms and y: Σt_j, Σt_j·t_k, Σt_j·y, Σy
// and Σy². A product of two evaluator terms is the evaluator's own
// multiplier, of an evaluator and an uploader term a statistic like Σxy,
// and of two uploader terms (or one and y) a column the uploader computes
// from its own values and uploads. The evaluator's predictors' encoded
// ranges must stay under 2^24; a product the uploader uploads under
// upload.MaxColumnBound; the outcome's square is uploaded in two digit
// columns when it is wider (square.go).
type RegressionRequest struct {
	Outcome    ColumnRef   // in Request.Y
	Predictors []ColumnRef // in Request.X or Request.Y, distinct, not the outcome; at most MaxPredictors terms
	// NoIntercept fits through the origin, Outcome = Σ_j β_j·t_j + ε, with
	// the uncentred R² = 1 − RSS/Σy². Under DP noise the outcome and the
	// predictors must have lo = 0, so that the released sums are those of
	// the values themselves (in exact mode the querier moves them to the
	// origin exactly).
	NoIntercept bool
}

// MaxPredictors bounds the terms of one regression (a categorical
// predictor is one term per level but the first): XᵀX has p(p+1)/2
// entries, each a statistic and most a product laid out.
const MaxPredictors = 16

// regTerm is one column of a regression's design matrix: a numeric
// predictor, or the indicator of one level of a categorical one.
type regTerm struct {
	ySide bool
	col   int // index into Compiled.xs (ySide: ys)
	// level is 0 for a numeric predictor and k ≥ 1 for the indicator of
	// level k of a categorical one.
	level int
	// name is the coefficient cell's X: "owner.column", or
	// "owner.column=LEVEL" for a level's indicator; key the same without
	// the owner, for the names of its products.
	name, key string
	// fp is the term's encoding: its column's, or a 0/1 indicator's.
	fp FixedPoint
	// idx is the multiplier (ySide: uploaded column) of its values, sq of
	// its squares (an indicator's are its values).
	idx, sq int
}

// indicatorFP is the encoding of a level's indicator: 0 or 1.
var indicatorFP = FixedPoint{Lo: 0, Hi: 1, Step: 1}

// regSpec is one compiled RegressionRequest. Statistic indexes are in the
// shifted fixed-point units; xx is the upper triangle (j ≤ k), −1 where
// the product is 0 for every record (two levels of one column).
type regSpec struct {
	outcome   int // index into Compiled.ys
	terms     []regTerm
	intercept bool
	label     string
	// sumX and sumY are nil and −1 for a fit through the origin under DP
	// noise, which does not need them.
	sumX  []int
	xx    [][]int
	sumY  int
	sumXY []int
	sumY2 int
}

// productSpec is a multiplier or uploaded column that is the element-wise
// product of two others of the same side (a and b index them).
type productSpec struct{ idx, a, b int }

// regressions marks the outcome's value and square and each numeric
// predictor's value (and an uploader predictor's square) for laying out;
// a categorical predictor's indicators are laid out from its values.
func (n columnNeeds) regressions(r Request) {
	for _, rg := range r.Regressions {
		j := indexOf(r.Y, rg.Outcome)
		n.yVal[j], n.ySq[j] = true, true
		for _, p := range rg.Predictors {
			if i := indexOf(r.X, p); i >= 0 && len(r.X[i].Levels) == 0 {
				n.xVal[i] = true
			}
			if j := indexOf(r.Y, p); j >= 0 && len(r.Y[j].Levels) == 0 {
				n.yVal[j], n.ySq[j] = true, true
			}
		}
	}
}

// regressionTerms counts the terms of a regression's predictors: one per
// numeric predictor, one per level but the first of a categorical one.
func regressionTerms(r *Request, rg RegressionRequest) int {
	n := 0
	for _, p := range rg.Predictors {
		ci, _ := findColumn(r, p)
		n += max(len(ci.Levels)-1, 1)
	}
	return n
}

// regressions adds, per regression, Σy, Σy², and per term Σt, Σt·y and
// the upper triangle of TᵀT, laying out every product they need: the
// evaluator's as its multipliers, the uploader's as its columns.
func (cb *circuitBuilder) regressions() error {
	c := cb.c
	rb := &regBuilder{cb: cb, indicators: map[levelKey]int{}}
	for _, rg := range c.req.Regressions {
		g, err := rb.regression(rg)
		if err != nil {
			return err
		}
		c.regs = append(c.regs, g)
	}
	return nil
}

// regBuilder compiles the regressions of one circuit, sharing the level
// indicators two regressions both need (and, through the circuit builder,
// the products).
type regBuilder struct {
	cb *circuitBuilder
	// indicators holds the indicator multiplier (ySide: column) of each
	// level of a categorical predictor.
	indicators map[levelKey]int
}

type productKey struct {
	ySide bool
	a, b  int
}

type levelKey struct {
	predictorKey
	level int
}

// regression compiles one request: its terms, then its statistics, each
// level's gated by the people at it (released in stage one).
func (rb *regBuilder) regression(rg RegressionRequest) (regSpec, error) {
	c, r := rb.cb.c, rb.cb.c.req
	g := regSpec{outcome: indexOf(r.Y, rg.Outcome), intercept: !rg.NoIntercept, sumY: -1}
	y := c.ys[g.outcome]
	names := make([]string, len(rg.Predictors))
	for k, p := range rg.Predictors {
		names[k] = p.String()
		g.terms = append(g.terms, rb.terms(p)...)
	}
	g.label = rg.Outcome.String() + " ~ " + strings.Join(names, " + ")
	if !g.intercept {
		g.label = rg.Outcome.String() + " ~ 0 + " + strings.Join(names, " + ")
	}
	// Exact mode moves the sums of a fit through the origin from the
	// shifted encoding back to the origin, which needs Σt and Σy.
	sums := g.intercept || r.Exact
	if sums {
		g.sumY = rb.cb.addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val)
	}
	g.sumY2 = rb.cb.addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq)
	// people[j] is the count of the people at term j's level (−1 for a
	// numeric term), released in stage one: the statistics of a level are
	// gated by it, and those of two levels are counts themselves.
	people := make([]int, len(g.terms))
	for j := range g.terms {
		people[j] = -1
		if g.terms[j].level > 0 {
			people[j] = rb.sum(&g.terms[j])
			c.countStat(people[j])
		}
	}
	gated := func(s, j, k int) {
		switch {
		case k >= 0 && people[j] >= 0 && people[k] >= 0:
			c.countStat(s)
		case people[j] >= 0:
			c.regGates[s] = people[j]
		case k >= 0 && people[k] >= 0:
			c.regGates[s] = people[k]
		}
	}
	g.xx = make([][]int, len(g.terms))
	for j := range g.terms {
		a := &g.terms[j]
		if sums {
			g.sumX = append(g.sumX, rb.sum(a))
		}
		sxy, err := rb.stat("sum_ty/"+a.key+"/"+y.info.Ref.Name, y, a, nil)
		if err != nil {
			return g, fmt.Errorf("regression %s: %w", g.label, err)
		}
		gated(sxy, j, -1)
		g.sumXY = append(g.sumXY, sxy)
		g.xx[j] = make([]int, len(g.terms))
		for k := j; k < len(g.terms); k++ {
			b := &g.terms[k]
			switch {
			case k == j && a.level > 0:
				g.xx[j][k] = people[j] // an indicator's square is itself
			case k == j && a.ySide:
				g.xx[j][k] = rb.cb.addStat("sum_t2/"+a.key, c.memberMult, a.sq)
			case k == j:
				g.xx[j][k] = rb.cb.addStat("sum_t2/"+a.key, a.sq, c.memberColumn)
			case a.level > 0 && b.level > 0 && a.ySide == b.ySide && a.col == b.col:
				g.xx[j][k] = -1 // two levels of one column: never both
			default:
				if g.xx[j][k], err = rb.stat("sum_tt/"+a.key+"/"+b.key, y, a, b); err != nil {
					return g, fmt.Errorf("regression %s: %w", g.label, err)
				}
				gated(g.xx[j][k], j, k)
			}
		}
	}
	return g, nil
}

// terms returns the terms of predictor p: the column, or the indicator of
// each of its levels but the first.
func (rb *regBuilder) terms(p ColumnRef) []regTerm {
	c, r := rb.cb.c, rb.cb.c.req
	ySide, i, specs := false, indexOf(r.X, p), c.xs
	if i < 0 {
		ySide, i, specs = true, indexOf(r.Y, p), c.ys
	}
	s := specs[i]
	if len(s.info.Levels) == 0 {
		return []regTerm{{ySide: ySide, col: i, name: p.String(), key: p.Name, fp: s.fp, idx: s.val, sq: s.sq}}
	}
	var out []regTerm
	for level := 1; level < len(s.info.Levels); level++ {
		key := levelKey{predictorKey{ySide, i}, level}
		idx, ok := rb.indicators[key]
		if !ok {
			name := "d/" + s.info.Ref.Name + "/" + strconv.Itoa(level)
			if ySide {
				idx = rb.cb.addCol(name, 1, 1)
				c.yLevels = append(c.yLevels, levelSpec{col: i, level: level, idx: idx})
			} else {
				idx = rb.cb.addMult(name, 1, 1)
				c.xLevels = append(c.xLevels, levelSpec{col: i, level: level, idx: idx})
			}
			rb.indicators[key] = idx
		}
		lv := "=" + s.info.Levels[level]
		out = append(out, regTerm{ySide: ySide, col: i, level: level, name: p.String() + lv, key: p.Name + lv, fp: indicatorFP, idx: idx, sq: idx})
	}
	return out
}

// sum returns the statistic Σt of term a.
func (rb *regBuilder) sum(a *regTerm) int {
	if a.ySide {
		return rb.cb.addStat("sum_t/"+a.key, rb.cb.c.memberMult, a.idx)
	}
	return rb.cb.addStat("sum_t/"+a.key, a.idx, rb.cb.c.memberColumn)
}

// stat returns the statistic Σ a·b of two terms' values, or with b nil of
// term a's and the outcome y's: a multiplier times a column, one side's
// product being that side's own multiplier or column.
func (rb *regBuilder) stat(name string, y colSpec, a, b *regTerm) (int, error) {
	c := rb.cb.c
	if b == nil {
		if !a.ySide {
			return rb.cb.addStat(name, a.idx, y.val), nil
		}
		m, err := rb.cb.product(true, a.idx, y.val, a.key+"/"+y.info.Ref.Name, a.name+"·"+y.info.Ref.String(), a.fp, y.fp)
		return rb.cb.addStat(name, c.memberMult, m), err
	}
	switch {
	case a.ySide == b.ySide && !a.ySide:
		m, err := rb.cb.product(false, a.idx, b.idx, a.key+"/"+b.key, a.name+"·"+b.name, a.fp, b.fp)
		return rb.cb.addStat(name, m, c.memberColumn), err
	case a.ySide == b.ySide:
		m, err := rb.cb.product(true, a.idx, b.idx, a.key+"/"+b.key, a.name+"·"+b.name, a.fp, b.fp)
		return rb.cb.addStat(name, c.memberMult, m), err
	case a.ySide:
		a, b = b, a
	}
	return rb.cb.addStat(name, a.idx, b.idx), nil
}

// product returns the multiplier (ySide: uploaded column) holding the
// product of two others with encodings fa and fb, adding it the first
// time; what names it in the error of one too wide to lay out.
func (cb *circuitBuilder) product(ySide bool, a, b int, name, what string, fa, fb FixedPoint) (int, error) {
	maxA, maxB := fa.Max(), fb.Max()
	if maxA > upload.MaxColumnBound/max(maxB, 1) {
		return 0, fmt.Errorf("%w: the product %s spans more than 2^48 encoded values, too many to upload; its owner declares smaller bounds or a coarser step for these columns",
			ErrInvalidQuery, what)
	}
	return cb.productOf(ySide, a, b, name, maxA*maxB, fa.Unit()*fb.Unit()), nil
}

// productOf returns the multiplier (ySide: uploaded column) holding the
// product of two others, of bound and unit, adding it the first
// time; the caller has checked the bound.
func (cb *circuitBuilder) productOf(ySide bool, a, b int, name string, bound int64, unit float64) int {
	c, key := cb.c, productKey{ySide, min(a, b), max(a, b)}
	if i, ok := cb.products[key]; ok {
		return i
	}
	var i int
	if ySide {
		i = cb.addCol("yy/"+name, bound, unit)
		c.prodCols = append(c.prodCols, productSpec{idx: i, a: key.a, b: key.b})
	} else {
		i = cb.addMult("xx/"+name, bound, unit)
		c.prodMults = append(c.prodMults, productSpec{idx: i, a: key.a, b: key.b})
	}
	cb.products[key] = i
	return i
}

// countStat releases statistic s in stage one, as a count (the people at
// a level, or at two levels of two columns).
func (c *Compiled) countStat(s int) {
	if !slices.Contains(c.regCounts, s) {
		c.regCounts = append(c.regCounts, s)
	}
}

// levelSpec is the indicator of one level of a categorical column (or of
// one bucket of a numeric one cut at edges), a multiplier or an uploaded
// column idx.
type levelSpec struct {
	col, level, idx int
	edges           []float64
}

// regressionCells fits one regression on the decoded statistics.
//
// The fit runs on the shifted fixed-point values x'_j = a_j·(x_j − lo_j)
// and y' = b·(y − lo_y) (a = 1/FixedPoint.Unit: 2^F, or 1/step), whose sums
// are exactly the released statistics, each with its own independent noise,
// which is what the DP sandwich of stats.OLS assumes; stats.OLS centres them
// exactly, so the shift costs no precision. Back in value units the slopes
// are β_j = β'_j·a_j/b, a positive rescaling of their intervals, and R² is
// unchanged. The intercept is the fitted value at the origin of the value
// units, β_0 = ȳ − Σ_j β_j·x̄_j, computed from the means in value units in
// rational arithmetic so that no bound moves its digits; its variance is
// that of the shifted fit's prediction at that point, whose offset from
// the shifted means is d_j = −a_j·x̄_j (stats.OLSResult.PredictionVariance),
// divided by b².
//
// A fit through the origin runs on x'_j + a_j·lo_j, the values in units of
// their grid (exactOLS; under DP noise lo = 0 and the released sums are
// those). An exact release is fitted from its integers (stats.OLSExact).
func (c *Compiled) regressionCells(g regSpec, r released, sig []float64, base Cell, minGroupSize int) []Cell {
	st := r.v
	off := 0 // index of the first slope
	if g.intercept {
		off = 1
	}
	p := len(g.terms) + off
	y := c.ys[g.outcome]
	n := st[c.statN]
	var res stats.OLSResult
	var fitErr error
	switch level := c.withheld(g, st); {
	case level != "":
		fitErr = fmt.Errorf("%w: fewer people than min_group_size at %s", errWithheld, level)
	case r.x == nil:
		res, fitErr = stats.OLS(c.olsInput(g, st, sig))
	default:
		res, fitErr = c.exactOLS(g, r)
	}
	uY := y.fp.Unit()
	scale := make([]float64, p) // a_j/b: shifted slope → value slope
	for j, t := range g.terms {
		scale[j+off] = uY / t.fp.Unit()
	}

	refs := c.referenceCounts(g, st)
	cell := base
	cell.Y, cell.Group, cell.N = y.info.Ref.String(), g.label, n
	if fitErr == nil {
		cell.Condition = res.Cond
		if res.Cond > stats.WarnCondition {
			cell.Warning = fmt.Sprintf("ill-conditioned: the predictors' condition number %.2g exceeds %g, so any error in the data moves the coefficients by up to that many times as much", res.Cond, stats.WarnCondition)
		}
	}
	var out []Cell
	if g.intercept {
		intercept := cell
		intercept.Statistic = CellOLSIntercept
		for _, n := range refs {
			intercept.N = math.Min(intercept.N, n) // the fit at the reference levels
		}
		out = append(out, fillCell(intercept, minGroupSize, func() (float64, float64, float64, float64, error) {
			if fitErr != nil {
				return 0, 0, 0, 0, fitErr
			}
			v, d := c.valueIntercept(g, r, res, scale)
			samp, dpv, err := res.PredictionVariance(d)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			se := math.Sqrt(samp+dpv) * uY
			return v, v - stats.Z95*se, v + stats.Z95*se, math.Sqrt(dpv) * uY, nil
		}))
	}
	for j, t := range g.terms {
		coef := cell
		coef.Statistic, coef.X = CellOLSCoef, t.name
		if t.level > 0 { // a level against the reference: the fewer people of the two
			coef.N = math.Min(st[g.xx[j][j]], refs[predictorKey{t.ySide, t.col}])
		}
		out = append(out, fillCell(coef, minGroupSize, func() (float64, float64, float64, float64, error) {
			if fitErr != nil {
				return 0, 0, 0, 0, fitErr
			}
			e, f := res.Coef[j+off], scale[j+off]
			return e.Value * f, e.Lo * f, e.Hi * f, e.NoiseSE * f, nil
		}))
	}
	r2 := cell
	r2.Statistic = CellR2
	out = append(out, fillCell(r2, minGroupSize, func() (float64, float64, float64, float64, error) {
		return res.R2, 0, 0, 0, fitErr
	}))
	return out
}

// predictorKey names the predictor column of a term.
type predictorKey struct {
	ySide bool
	col   int
}

// referenceCounts returns, per categorical predictor of g, the people at
// its reference level: n less those at its other levels (noisy counts
// under DP; this is post-processing).
func (c *Compiled) referenceCounts(g regSpec, st []float64) map[predictorKey]float64 {
	ref := map[predictorKey]float64{}
	for j, t := range g.terms {
		if t.level == 0 {
			continue
		}
		k := predictorKey{t.ySide, t.col}
		if _, ok := ref[k]; !ok {
			ref[k] = st[c.statN]
		}
		ref[k] -= st[g.xx[j][j]]
	}
	return ref
}

// olsInput returns the normal equations of g from the float64 statistics
// and their noise: with an intercept, column 0 is the count and the sums.
func (c *Compiled) olsInput(g regSpec, st, sig []float64) (stats.OLSInput, stats.OLSNoise) {
	off := 0
	if g.intercept {
		off = 1
	}
	p := len(g.terms) + off
	in := stats.OLSInput{N: st[c.statN], XtX: make([][]float64, p), Xty: make([]float64, p), Yty: st[g.sumY2], Intercept: g.intercept}
	nz := stats.OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
	for i := range in.XtX {
		in.XtX[i], nz.XtX[i] = make([]float64, p), make([]float64, p)
	}
	set := func(i, j, s int) {
		if s < 0 {
			return // a product that is 0 for every record, exactly
		}
		in.XtX[i][j], in.XtX[j][i] = st[s], st[s]
		nz.XtX[i][j], nz.XtX[j][i] = sig[s], sig[s]
	}
	if g.intercept {
		set(0, 0, c.statN)
		in.Xty[0], nz.Xty[0] = st[g.sumY], sig[g.sumY]
	}
	for j := range g.terms {
		if g.intercept {
			set(0, j+1, g.sumX[j])
		}
		for k := j; k < len(g.terms); k++ {
			set(j+off, k+off, g.xx[j][k])
		}
		in.Xty[j+off], nz.Xty[j+off] = st[g.sumXY[j]], sig[g.sumXY[j]]
	}
	return in, nz
}

// valueIntercept returns the intercept in value units, ȳ − Σ_j β_j·x̄_j with
// the means ȳ = lo_y + Σy'/(n·b) and x̄_j = lo_j + Σx'_j/(n·a_j) and the
// value slopes β_j = β'_j·scale_j, in rational arithmetic and rounded once,
// and the offset d_j = −a_j·x̄_j of the value origin from the shifted means.
func (c *Compiled) valueIntercept(g regSpec, r released, res stats.OLSResult, scale []float64) (float64, []float64) {
	rat := func(v float64) *big.Rat { return new(big.Rat).SetFloat64(v) }
	n := r.rat(c.statN)
	mean := func(fp FixedPoint, sum int) *big.Rat {
		m := new(big.Rat).Quo(r.rat(sum), n)
		m.Mul(m, rat(fp.Unit()))
		return m.Add(m, rat(fp.Lo))
	}
	v := mean(c.ys[g.outcome].fp, g.sumY)
	d := make([]float64, len(g.terms))
	t := new(big.Rat)
	for j, term := range g.terms {
		fp := term.fp
		xm := mean(fp, g.sumX[j])
		v.Sub(v, t.Mul(xm, rat(res.Coef[j+1].Value*scale[j+1])))
		d[j], _ = t.Quo(xm, rat(-fp.Unit())).Float64()
	}
	out, _ := v.Float64()
	return out, d
}

// withheld names the first level of a categorical predictor of g whose
// statistics stage two withheld (NaN), or is empty.
func (c *Compiled) withheld(g regSpec, st []float64) string {
	for j, t := range g.terms {
		if t.level > 0 && math.IsNaN(st[g.sumXY[j]]) {
			return t.name
		}
	}
	return ""
}

// errWithheld is the reason of the cells of a regression some of whose
// statistics stage two withheld.
var errWithheld = errors.New("statistics withheld below min_group_size")

// origin returns lo/Unit, the encoding of the value 0 on a column's grid
// relative to its lower bound: x/u = x' + origin. A declared step has lo
// on its grid, so it is the integer lo/step.
func origin(fp FixedPoint) *big.Rat {
	if fp.Step > 0 {
		return new(big.Rat).SetFloat64(math.Round(fp.Lo / fp.Step))
	}
	o := new(big.Rat).SetFloat64(fp.Lo)
	return o.Mul(o, new(big.Rat).SetFloat64(math.Exp2(float64(fp.FracBits))))
}

// exactOLS fits regression g from the exact statistics of r. A fit through
// the origin first moves the sums to it: with z_j = x'_j + o_j and
// w = y' + o_y (origin), Σz_j·z_k = Σx'_j·x'_k + o_k·Σx'_j + o_j·Σx'_k +
// o_j·o_k·n, and Σz_j·w, Σw² likewise, all exactly.
func (c *Compiled) exactOLS(g regSpec, r released) (stats.OLSResult, error) {
	ids := []int{c.statN, g.sumY2}
	if g.sumY >= 0 {
		ids = append(ids, g.sumY)
	}
	ids = append(ids, g.sumX...)
	ids = append(ids, g.sumXY...)
	for _, row := range g.xx {
		for _, s := range row {
			if s >= 0 {
				ids = append(ids, s)
			}
		}
	}
	if r.exact(ids...) == nil {
		return stats.OLSResult{}, errWithheld
	}
	rat := func(s int) *big.Rat {
		if s < 0 {
			return new(big.Rat) // a product that is 0 for every record
		}
		return new(big.Rat).SetInt(r.x[s])
	}
	off := 0
	if g.intercept {
		off = 1
	}
	p := len(g.terms) + off
	in := stats.OLSExactInput{N: rat(c.statN), XtX: make([][]*big.Rat, p), Xty: make([]*big.Rat, p), Yty: rat(g.sumY2), Intercept: g.intercept}
	for i := range in.XtX {
		in.XtX[i] = make([]*big.Rat, p)
	}
	set := func(i, j int, v *big.Rat) { in.XtX[i][j], in.XtX[j][i] = v, v }
	if g.intercept {
		set(0, 0, rat(c.statN))
		in.Xty[0] = rat(g.sumY)
		for j := range g.terms {
			set(0, j+1, rat(g.sumX[j]))
		}
	}
	for j := range g.terms {
		for k := j; k < len(g.terms); k++ {
			set(j+off, k+off, rat(g.xx[j][k]))
		}
		in.Xty[j+off] = rat(g.sumXY[j])
	}
	if !g.intercept {
		n := in.N
		// moved returns Σ(a + o_a)(b + o_b) from Σab, Σa, Σb and n.
		moved := func(ab *big.Rat, sa, sb *big.Rat, oa, ob *big.Rat) *big.Rat {
			out := new(big.Rat).Set(ab)
			t := new(big.Rat)
			out.Add(out, t.Mul(ob, sa))
			out.Add(out, t.Mul(oa, sb))
			return out.Add(out, t.Mul(t.Mul(oa, ob), n))
		}
		oy := origin(c.ys[g.outcome].fp)
		sy := rat(g.sumY)
		ox := make([]*big.Rat, len(g.terms))
		sx := make([]*big.Rat, len(g.terms))
		for j, t := range g.terms {
			ox[j], sx[j] = origin(t.fp), rat(g.sumX[j])
		}
		for j := range g.terms {
			for k := j; k < len(g.terms); k++ {
				set(j, k, moved(in.XtX[j][k], sx[j], sx[k], ox[j], ox[k]))
			}
			in.Xty[j] = moved(in.Xty[j], sx[j], sy, ox[j], oy)
		}
		in.Yty = moved(in.Yty, sy, sy, oy, oy)
	}
	return stats.OLSExact(in)
}
