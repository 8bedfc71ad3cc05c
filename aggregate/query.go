package aggregate

// The query bridge: from a user's joint query to the encrypted core and
// back, with no bytes moved here. Both owners and the querier compile the
// same Request (it is public):
//
//	c, _ := aggregate.Compile(params, req)
//	// uploading owner: its columns in circuit order, column j uploaded as j
//	cols, _ := c.UploaderColumns(values, rows, unionSize)
//	up.Upload(ctx, j, cols[j], 0, emit)
//	// evaluating owner
//	m, _ := c.EvaluatorColumns(values, rows, unionSize)
//	ev, _ := aggregate.NewEvaluator(c.Plan(), sk, cpk, evk, seed, m)
//	cts, _ := ev.Evaluate(ctx, blocks, 0)
//	// each owner: its own DP noise, one plaintext per product, encrypted
//	// under the collective key and added to cts[i] (or added to Value[0]
//	// of its own key-switch share), flooding with c.FloodingSigma(i)
//	pts, _ := c.NoisePlaintexts(aggregate.NoiseSampler(dp.NewSampler(nil)))
//	// querier, after decryption
//	stats, _ := c.Plan().Decode(plaintexts)
//	cells, _ := c.Results(stats, owners, minGroupSize)

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/jointly-dev/jointly/aggregate/stats"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// ErrInvalidQuery is returned by Compile for a request that names unknown,
// duplicate or unused columns, bad bounds or bad buckets, and by the column
// builders for values that do not match the compiled query. The wrapping
// message names the column, never a value.
var ErrInvalidQuery = errors.New("aggregate: invalid query")

// ResolutionBits sets the fixed-point resolution of a column: the smallest
// number of fractional bits F ≥ 0 such that the declared range hi − lo spans
// at least 2^ResolutionBits steps. A column of range 2000 is kept in whole
// units, a column of range 1 in steps of 2^-10. The rounding error is at
// most half a step per record and averages out in sums; under DP noise a
// finer grid would widen x² (more digits) and y² (less headroom) for no
// useful precision.
const ResolutionBits = 10

// ExactResolutionBits is the resolution of exact (validation) queries, whose
// statistics must match a float64 computation on the raw values: with 2^20
// steps over the range, rounding moves a Pearson r by well under 1e-6.
const ExactResolutionBits = 20

// MaxQueryPrecisionBits is the finest precision Compile asks of the planner
// (see PlanConfig.PrecisionBits); it settles for less when the union is too
// large for the modulus.
const MaxQueryPrecisionBits = 30

// QueryLambda and QueryParties are the flooding bits and the number of key
// holders of every compiled query: the two-owner vertical join of DESIGN.md
// section 1 at the minimum statistical hiding of section 3.
const (
	QueryLambda  = MinLambda
	QueryParties = 2
)

// ColumnRef names a column of one data owner.
type ColumnRef struct {
	Owner, Name string
}

// String returns "owner.name", the form used in result cells.
func (r ColumnRef) String() string { return r.Owner + "." + r.Name }

// ColumnInfo is a numeric column with its declared public bounds. Values are
// clamped to [Lo, Hi] before encryption, and the bounds set the sensitivity
// of every statistic the column enters.
type ColumnInfo struct {
	Ref    ColumnRef
	Lo, Hi float64
}

// RateRequest asks for a rate Σ events / Σ exposure per bucket of a column
// of the evaluating owner, with the relative risk of each bucket against the
// first. Edges are the inner cut points (stats.Edges): k strictly increasing
// edges strictly inside (lo, hi) of By make k+1 buckets, bucket i holding
// Edges[i−1] ≤ v < Edges[i] after clamping to the bounds.
type RateRequest struct {
	Events, Exposure ColumnRef // uploaded columns (in Request.Y), lo ≥ 0
	By               ColumnRef // evaluator column (in Request.X)
	Edges            []float64
}

// Request is a joint query between the evaluating owner, whose columns X
// are plaintext multipliers, and the uploading owner, whose columns Y are
// encrypted. Every statistic runs over the records both owners hold.
type Request struct {
	X []ColumnInfo
	Y []ColumnInfo
	// Correlations asks for Pearson r of every X×Y pair and the mean and
	// variance of every column.
	Correlations bool
	Rates        []RateRequest
	// Epsilon and Delta are the privacy cost of the whole query; each data
	// owner adds noise worth the full budget. Ignored when Exact.
	Epsilon, Delta float64
	// Exact releases the statistics without differential-privacy noise
	// (tests and trusted settings only).
	Exact bool
	// MaxRecords is the public bound on the union size (PlanConfig; 0
	// means its default, 2^20). It also sets the headroom the DP noise must
	// fit in: a tiny bound with a tiny ε is refused with ErrInfeasible.
	MaxRecords int
	// Resolution is the fixed-point resolution in bits over each column's
	// range; 0 picks ResolutionBits, or ExactResolutionBits in exact mode.
	Resolution int
}

// colSpec is one compiled X or Y column.
type colSpec struct {
	info ColumnInfo
	fp   FixedPoint
	// val and sq index Circuit.Multipliers (X) or Circuit.Columns (Y), −1
	// when the column is not needed.
	val, sq int
}

// rateSpec is one compiled RateRequest.
type rateSpec struct {
	req                  RateRequest
	by, events, exposure int // indexes into Compiled.xs / ys
	edges                stats.Edges
	labels               []string
	mults                []int // indicator multiplier per bucket
	// statistics per bucket
	n, ev, ex []int
}

// Compiled is a validated Request turned into the public Circuit and Plan
// both owners run, with the bookkeeping that maps statistics back to the
// query's cells and the calibration of each owner's DP noise. It is
// immutable and safe for concurrent use.
type Compiled struct {
	req     Request
	params  rlwe.Parameters
	circuit Circuit
	plan    *Plan
	xs, ys  []colSpec
	rates   []rateSpec
	// statistic indexes
	statN        int
	sumX, sumX2  []int
	sumY, sumY2  []int
	sumXY        [][]int // [x][y]
	statUnits    []float64
	noise        noiseCalibration
	memberMult   int
	memberColumn int
}

// Compile validates req, builds the circuit (evaluator multipliers: its
// membership, each x and x² when correlations are asked, one indicator per
// bucket; uploaded columns: membership, each y and y² when needed) and its
// Plan at λ = QueryLambda for QueryParties key holders, and calibrates the
// DP noise of every statistic.
func Compile(params rlwe.Parameters, req Request) (*Compiled, error) {
	c := &Compiled{params: params}
	c.req = Request{
		X: append([]ColumnInfo(nil), req.X...), Y: append([]ColumnInfo(nil), req.Y...),
		Correlations: req.Correlations, Epsilon: req.Epsilon, Delta: req.Delta,
		Exact: req.Exact, MaxRecords: req.MaxRecords, Resolution: req.Resolution,
	}
	for _, r := range req.Rates {
		r.Edges = append([]float64(nil), r.Edges...)
		c.req.Rates = append(c.req.Rates, r)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := c.build(); err != nil {
		return nil, err
	}
	// The finest precision the modulus allows at this union size: the
	// homomorphic error of every statistic is at most 2^-k of one record's
	// largest contribution (PlanConfig.PrecisionBits), from k = 30 down to
	// the planner's default.
	var plan *Plan
	var err error
	for k := MaxQueryPrecisionBits; k >= DefaultPlanConfig().PrecisionBits; k-- {
		cfg := PlanConfig{MaxRecords: req.MaxRecords, Lambda: QueryLambda, Parties: QueryParties, PrecisionBits: k}
		if plan, err = NewPlan(params, c.circuit, cfg); err == nil || !errors.Is(err, ErrInfeasible) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	c.plan = plan
	if err := c.calibrate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Compiled) validate() error {
	r := &c.req
	if len(r.X) == 0 {
		return fmt.Errorf("%w: no evaluator (X) columns selected", ErrInvalidQuery)
	}
	if len(r.Y) == 0 {
		return fmt.Errorf("%w: no uploader (Y) columns selected", ErrInvalidQuery)
	}
	if !r.Correlations && len(r.Rates) == 0 {
		return fmt.Errorf("%w: no statistic requested (neither correlations nor rates)", ErrInvalidQuery)
	}
	if !r.Exact {
		rho, err := dp.ZCDPRho(r.Epsilon, r.Delta)
		if err != nil {
			return fmt.Errorf("%w: privacy cost: %w", ErrInvalidQuery, err)
		}
		c.noise.rho = rho // the conversion costs tens of milliseconds: once
	}
	side := func(kind string, cols []ColumnInfo) error {
		seen := map[string]bool{}
		for _, ci := range cols {
			if ci.Ref.Owner == "" || ci.Ref.Name == "" {
				return fmt.Errorf("%w: %s column %q needs an owner and a name", ErrInvalidQuery, kind, ci.Ref)
			}
			if ci.Ref.Owner != cols[0].Ref.Owner {
				return fmt.Errorf("%w: %s column %q is not from owner %q; each side has one owner", ErrInvalidQuery, kind, ci.Ref, cols[0].Ref.Owner)
			}
			if seen[ci.Ref.Name] {
				return fmt.Errorf("%w: duplicate %s column %q", ErrInvalidQuery, kind, ci.Ref)
			}
			seen[ci.Ref.Name] = true
			if math.IsNaN(ci.Lo) || math.IsNaN(ci.Hi) || math.IsInf(ci.Lo, 0) || math.IsInf(ci.Hi, 0) {
				return fmt.Errorf("%w: column %q bounds are not finite", ErrInvalidQuery, ci.Ref)
			}
			if !(ci.Lo < ci.Hi) {
				return fmt.Errorf("%w: column %q needs lo < hi", ErrInvalidQuery, ci.Ref)
			}
		}
		return nil
	}
	if err := side("X", r.X); err != nil {
		return err
	}
	if err := side("Y", r.Y); err != nil {
		return err
	}
	if r.X[0].Ref.Owner == r.Y[0].Ref.Owner {
		return fmt.Errorf("%w: X and Y both from owner %q", ErrInvalidQuery, r.X[0].Ref.Owner)
	}
	for i, rr := range r.Rates {
		xi, yi := indexOf(r.X, rr.By), indexOf(r.Y, rr.Events)
		if xi < 0 {
			return fmt.Errorf("%w: rate %d: group-by column %q is not an X column", ErrInvalidQuery, i, rr.By)
		}
		if yi < 0 {
			return fmt.Errorf("%w: rate %d: events column %q is not a Y column", ErrInvalidQuery, i, rr.Events)
		}
		ei := indexOf(r.Y, rr.Exposure)
		if ei < 0 {
			return fmt.Errorf("%w: rate %d: exposure column %q is not a Y column", ErrInvalidQuery, i, rr.Exposure)
		}
		if r.Y[yi].Lo < 0 || r.Y[ei].Lo < 0 {
			return fmt.Errorf("%w: rate %d: events %q and exposure %q need lo >= 0", ErrInvalidQuery, i, rr.Events, rr.Exposure)
		}
		if _, err := stats.NewEdges(rr.Edges); err != nil {
			return fmt.Errorf("%w: rate %d: buckets of %q: %w", ErrInvalidQuery, i, rr.By, err)
		}
		by := r.X[xi]
		if !(rr.Edges[0] > by.Lo) || !(rr.Edges[len(rr.Edges)-1] < by.Hi) {
			return fmt.Errorf("%w: rate %d: bucket edges of %q must lie strictly inside its bounds", ErrInvalidQuery, i, rr.By)
		}
	}
	// Every selected column must feed a statistic.
	if !r.Correlations {
		for _, ci := range r.X {
			used := false
			for _, rr := range r.Rates {
				used = used || rr.By == ci.Ref
			}
			if !used {
				return fmt.Errorf("%w: X column %q is used by no statistic", ErrInvalidQuery, ci.Ref)
			}
		}
		for _, ci := range r.Y {
			used := false
			for _, rr := range r.Rates {
				used = used || rr.Events == ci.Ref || rr.Exposure == ci.Ref
			}
			if !used {
				return fmt.Errorf("%w: Y column %q is used by no statistic", ErrInvalidQuery, ci.Ref)
			}
		}
	}
	return nil
}

func indexOf(cols []ColumnInfo, ref ColumnRef) int {
	for i, ci := range cols {
		if ci.Ref == ref {
			return i
		}
	}
	return -1
}

// fixedPointFor returns the encoding of a column: the fewest fractional
// bits that give ResolutionBits of resolution over its declared range.
func fixedPointFor(ci ColumnInfo, resolution int) (FixedPoint, error) {
	f := FixedPoint{Lo: ci.Lo, Hi: ci.Hi}
	for f.FracBits < 30 && (ci.Hi-ci.Lo)*math.Exp2(float64(f.FracBits)) < math.Exp2(float64(resolution)) {
		f.FracBits++
	}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("%w: column %q: %w", ErrInvalidQuery, ci.Ref, err)
	}
	return f, nil
}

// maxSquared bounds the encoded range of a column whose square is a
// multiplier or an uploaded column: its square must stay under
// MaxColumnBound.
const maxSquared = int64(1) << 24

func (c *Compiled) build() error {
	r := c.req
	circ := &c.circuit
	addMult := func(name string, max int64) int {
		circ.Multipliers = append(circ.Multipliers, Column{Name: name, Max: max})
		return len(circ.Multipliers) - 1
	}
	addCol := func(name string, max int64) int {
		circ.Columns = append(circ.Columns, Column{Name: name, Max: max})
		return len(circ.Columns) - 1
	}
	addStat := func(name string, m, col int) int {
		circ.Stats = append(circ.Stats, Stat{Name: name, Multiplier: m, Column: col})
		return len(circ.Stats) - 1
	}
	c.memberMult = addMult("member", 1)
	c.memberColumn = addCol("member", 1)
	spec := func(ci ColumnInfo) (colSpec, error) {
		resolution := r.Resolution
		switch {
		case resolution > 0:
		case r.Exact:
			resolution = ExactResolutionBits
		default:
			resolution = ResolutionBits
		}
		fp, err := fixedPointFor(ci, resolution)
		if err != nil {
			return colSpec{}, err
		}
		if r.Correlations && fp.Max() > maxSquared {
			return colSpec{}, fmt.Errorf("%w: column %q: encoded range %d too wide to square (at most 2^24)", ErrInvalidQuery, ci.Ref, fp.Max())
		}
		return colSpec{info: ci, fp: fp, val: -1, sq: -1}, nil
	}
	for _, ci := range r.X {
		s, err := spec(ci)
		if err != nil {
			return err
		}
		if r.Correlations {
			s.val = addMult("x/"+ci.Ref.Name, s.fp.Max())
			s.sq = addMult("x2/"+ci.Ref.Name, s.fp.Max()*s.fp.Max())
		}
		c.xs = append(c.xs, s)
	}
	for _, ci := range r.Y {
		s, err := spec(ci)
		if err != nil {
			return err
		}
		used := r.Correlations
		for _, rr := range r.Rates {
			used = used || rr.Events == ci.Ref || rr.Exposure == ci.Ref
		}
		if used {
			s.val = addCol("y/"+ci.Ref.Name, s.fp.Max())
		}
		if r.Correlations {
			s.sq = addCol("y2/"+ci.Ref.Name, s.fp.Max()*s.fp.Max())
		}
		c.ys = append(c.ys, s)
	}
	c.statN = addStat(StatCount, c.memberMult, c.memberColumn)
	if r.Correlations {
		for _, x := range c.xs {
			c.sumX = append(c.sumX, addStat("sum_x/"+x.info.Ref.Name, x.val, c.memberColumn))
			c.sumX2 = append(c.sumX2, addStat("sum_x2/"+x.info.Ref.Name, x.sq, c.memberColumn))
		}
		for _, y := range c.ys {
			c.sumY = append(c.sumY, addStat("sum_y/"+y.info.Ref.Name, c.memberMult, y.val))
			c.sumY2 = append(c.sumY2, addStat("sum_y2/"+y.info.Ref.Name, c.memberMult, y.sq))
		}
		for _, x := range c.xs {
			row := make([]int, len(c.ys))
			for j, y := range c.ys {
				row[j] = addStat("sum_xy/"+x.info.Ref.Name+"/"+y.info.Ref.Name, x.val, y.val)
			}
			c.sumXY = append(c.sumXY, row)
		}
	}
	for i, rr := range r.Rates {
		rs := rateSpec{req: rr, by: indexOf(r.X, rr.By), events: indexOf(r.Y, rr.Events), exposure: indexOf(r.Y, rr.Exposure)}
		rs.edges, _ = stats.NewEdges(rr.Edges) // validated
		by := c.xs[rs.by].info
		ev, ex := c.ys[rs.events].val, c.ys[rs.exposure].val
		for b := 0; b < rs.edges.NumBuckets(); b++ {
			lo, hi, closeHi := by.Lo, by.Hi, "]"
			if b > 0 {
				lo = rs.edges[b-1]
			}
			if b < len(rs.edges) {
				hi, closeHi = rs.edges[b], ")"
			}
			label := "[" + strconv.FormatFloat(lo, 'g', -1, 64) + "," + strconv.FormatFloat(hi, 'g', -1, 64) + closeHi
			rs.labels = append(rs.labels, label)
			prefix := fmt.Sprintf("rate%d/%d", i, b)
			m := addMult("by"+prefix[4:], 1)
			rs.mults = append(rs.mults, m)
			rs.n = append(rs.n, addStat(prefix+"/n", m, c.memberColumn))
			rs.ev = append(rs.ev, addStat(prefix+"/events", m, ev))
			rs.ex = append(rs.ex, addStat(prefix+"/exposure", m, ex))
		}
		c.rates = append(c.rates, rs)
	}
	if err := circ.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	// 2^(F_m + F_c) per statistic: fixed-point units per value unit.
	multBits := make([]int, len(circ.Multipliers))
	colBits := make([]int, len(circ.Columns))
	for _, x := range c.xs {
		if x.val >= 0 {
			multBits[x.val], multBits[x.sq] = x.fp.FracBits, 2*x.fp.FracBits
		}
	}
	for _, y := range c.ys {
		if y.val >= 0 {
			colBits[y.val] = y.fp.FracBits
		}
		if y.sq >= 0 {
			colBits[y.sq] = 2 * y.fp.FracBits
		}
	}
	for _, s := range circ.Stats {
		c.statUnits = append(c.statUnits, math.Exp2(float64(multBits[s.Multiplier]+colBits[s.Column])))
	}
	return nil
}

// Circuit returns a copy of the compiled circuit.
func (c *Compiled) Circuit() Circuit { return c.plan.Circuit() }

// Plan returns the plan both owners use.
func (c *Compiled) Plan() *Plan { return c.plan }

// Request returns a copy of the validated request.
func (c *Compiled) Request() Request {
	r := c.req
	r.X = append([]ColumnInfo(nil), r.X...)
	r.Y = append([]ColumnInfo(nil), r.Y...)
	r.Rates = nil
	for _, rr := range c.req.Rates {
		rr.Edges = append([]float64(nil), rr.Edges...)
		r.Rates = append(r.Rates, rr)
	}
	return r
}

// FixedPoint returns the encoding of a selected column (X or Y).
func (c *Compiled) FixedPoint(ref ColumnRef) (FixedPoint, bool) {
	for _, s := range append(append([]colSpec(nil), c.xs...), c.ys...) {
		if s.info.Ref == ref {
			return s.fp, true
		}
	}
	return FixedPoint{}, false
}

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

// EvaluatorColumns lays out the evaluating owner's multipliers in circuit
// order. values holds each X column by name, one value per own record;
// rows[k] is record k's union row from private matching. Values are clamped
// to their declared bounds; NaN is rejected. Bucket indicators are taken on
// the clamped value.
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
		v, err := ownValues(values, x, len(rows))
		if err != nil {
			return nil, err
		}
		col, err := Layout(unionSize, rows, v, x.fp)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", x.info.Ref, err)
		}
		out[x.val], out[x.sq] = col, Square(col)
	}
	for _, rs := range c.rates {
		by := c.xs[rs.by]
		v, err := ownValues(values, by, len(rows))
		if err != nil {
			return nil, err
		}
		// level[r] = bucket+1 at own rows, 0 elsewhere (rows validated above).
		level := make([]int64, unionSize)
		for k, r := range rows {
			if math.IsNaN(v[k]) {
				return nil, fmt.Errorf("%w: column %q: record %d is NaN", ErrInvalidLayout, by.info.Ref, k)
			}
			b, _ := rs.edges.Bucket(math.Min(math.Max(v[k], by.fp.Lo), by.fp.Hi))
			level[r] = int64(b) + 1
		}
		for b, m := range rs.mults {
			out[m] = Indicator(level, int64(b)+1)
		}
	}
	return out, nil
}

// UploaderColumns lays out the uploading owner's columns in circuit order,
// as EvaluatorColumns does for the evaluator: membership, then each needed
// y (and y²), clamped to the declared bounds.
func (c *Compiled) UploaderColumns(values map[string][]float64, rows []int, unionSize int) ([][]int64, error) {
	out := make([][]int64, len(c.circuit.Columns))
	member, err := Membership(unionSize, rows)
	if err != nil {
		return nil, err
	}
	out[c.memberColumn] = member
	for _, y := range c.ys {
		if y.val < 0 {
			continue
		}
		v, err := ownValues(values, y, len(rows))
		if err != nil {
			return nil, err
		}
		col, err := Layout(unionSize, rows, v, y.fp)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", y.info.Ref, err)
		}
		out[y.val] = col
		if y.sq >= 0 {
			out[y.sq] = Square(col)
		}
	}
	return out, nil
}
