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
//	sums, _ := ev.Evaluate(ctx, blocks, 0)
//	packs, _ := sums.Pack(ctx, products)
//	// each owner, per pack: its own DP noise added to Value[0] of its own
//	// key-switch share, flooded per coefficient
//	noise, _ := c.PackNoise(pack.Products, aggregate.NoiseSampler(dp.NewSampler(nil)))
//	widths, _ := c.PackFlooding(pack.Products)
//	// querier, after decryption
//	stats, _ := c.Plan().DecodePacked(packs, plaintexts)
//	cells, _ := c.Results(stats, owners, minGroupSize)
//	// exact mode: the sums as the exact integers they are
//	sums, _ := c.Plan().DecodePackedExact(packs, plaintexts)
//	cells, _ = c.ExactResults(sums, minGroupSize)
//
// A Request asks for correlations, rates (grouped by a column of either
// owner), least-squares regressions of a Y column on X columns, and
// contingency tables of an X by a Y column with a chi-square test. Each
// kind has its own file (correlation.go, rate.go, regression.go,
// contingency.go): its request, its part of the circuit and its cells.

import (
	"errors"
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/crypto/upload"
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

// ExactResolutionBits is the finest resolution of exact (validation)
// queries: with 2^20 steps over the range, rounding moves a Pearson r by
// well under 1e-6. A column without a declared step gets the finest
// resolution from ExactResolutionBits down to ResolutionBits at which the
// plan can recover every sum exactly (upload.PlanConfig.Exact).
const ExactResolutionBits = 20

// QueryLambda is the flooding bits of every compiled query, the minimum
// statistical hiding (docs/architecture.md, "Encoding and statistics"); QueryParties is the default
// number of owners, the two-owner vertical join of section 1.
const (
	QueryLambda  = upload.MinLambda
	QueryParties = 2
	maxOwners    = 64
)

// ColumnRef names a column of one data owner.
type ColumnRef struct {
	Owner, Name string
}

// String returns "owner.name", the form used in result cells.
func (r ColumnRef) String() string { return r.Owner + "." + r.Name }

// ColumnInfo is a column with its owner's public declaration: bounds, and
// the levels of a categorical column or the unit of a numeric one. Values
// are clamped to [Lo, Hi] before encryption, and the bounds set the
// sensitivity of every statistic the column enters. Every owner and the
// querier compile the same ColumnInfo, so the levels and unit are part of
// the query (they change labels and rate units, not the circuit's shape
// beyond the number of levels).
type ColumnInfo struct {
	Ref    ColumnRef
	Lo, Hi float64
	// Levels name a categorical column's levels in order: its values are
	// the level indexes 0 … len−1, so Lo = 0 and Hi = len−1. A rate or a
	// contingency table groups by them without cut points. Empty for a
	// numeric column.
	Levels []string
	// Unit is the unit of a numeric column's values ("months"), empty when
	// its owner declares none. A rate converts its exposure's time unit to
	// the one it is reported per (units.go).
	Unit string
	// Step, when positive, is the column's declared resolution: its values
	// and bounds lie on the grid of Step and are encoded as exact integers
	// on it (FixedPoint). 0 leaves the power-of-two grid of Resolution.
	Step float64
}

// clone returns ci with its own copy of Levels.
func (ci ColumnInfo) clone() ColumnInfo {
	ci.Levels = append([]string(nil), ci.Levels...)
	if len(ci.Levels) == 0 {
		ci.Levels = nil
	}
	return ci
}

// cloneColumns deep-copies a side's columns.
func cloneColumns(cols []ColumnInfo) []ColumnInfo {
	out := make([]ColumnInfo, len(cols))
	for i, ci := range cols {
		out[i] = ci.clone()
	}
	return out
}

// Request is a joint query between the evaluating owner, whose columns X
// are plaintext multipliers, and the uploading owner, whose columns Y are
// encrypted. Every statistic runs over the records both owners hold.
type Request struct {
	X []ColumnInfo
	Y []ColumnInfo
	// Correlations asks for Pearson r of every pair of a CorrelationX and a
	// CorrelationY column, and the mean and variance of each of them.
	Correlations  bool
	Rates         []RateRequest
	Regressions   []RegressionRequest
	Contingencies []ContingencyRequest

	// CorrelationX are X columns and CorrelationY Y columns; when both are
	// empty, Correlations covers every X and every Y column (the form of
	// queries made before the sets existed). Columns outside the sets, such
	// as a rate's group-by or exposure, get no mean, variance or r.
	CorrelationX, CorrelationY []ColumnRef
	// CorrelationBy, when set, asks for the correlations within each group
	// of a column of either owner that is not one of theirs: each level of
	// a categorical column, or each bucket of a numeric one cut at
	// CorrelationEdges (inner cut points, as RateRequest.Edges), each with
	// its count. The groups replace the correlations over everyone.
	CorrelationBy    ColumnRef
	CorrelationEdges []float64

	// Proxies asks for the association of grouping columns with protected
	// columns (proxy.go), released in stage one with its own share of ρ.
	Proxies []ProxyRequest

	// Epsilon and Delta are the privacy cost of the whole query; each data
	// owner adds noise worth the full budget. Ignored when Exact.
	Epsilon, Delta float64
	// Exact releases the statistics without differential-privacy noise
	// (tests and trusted settings only).
	Exact bool
	// MaxRecords is the public bound on the union size (upload.PlanConfig; 0
	// means its default, 2^20). It also sets the headroom the DP noise must
	// fit in: a tiny bound with a tiny ε is refused with upload.ErrInfeasible.
	MaxRecords int
	// Resolution is the fixed-point resolution in bits over each column's
	// range; 0 picks ResolutionBits, or in exact mode the finest from
	// ExactResolutionBits down to ResolutionBits whose sums the plan can
	// recover exactly.
	Resolution int
	// Owners is the number of data owners of the query (0 means 2): the
	// evaluator and one uploader per session whose products are summed
	// (a pool of Y owners with disjoint populations). Each owner adds its
	// own DP noise and floods its own key-switch share. MaxRecords then
	// bounds the sum of the sessions' union sizes.
	Owners int
	// KeyHolders is the number of parties of the collective key (0 means
	// Owners); it sets the noise of the Galois and public keys.
	KeyHolders int
}

// colSpec is one compiled X or Y column.
type colSpec struct {
	info ColumnInfo
	fp   FixedPoint
	// val and sq index upload.Circuit.Multipliers (X) or upload.Circuit.Columns (Y), −1
	// when the column is not needed.
	val, sq int
	// split is how a Y column's square is uploaded; when it is cut in two
	// (split.Shift > 0), sq holds the low digit and sqHi the high one
	// (square.go).
	split upload.SquareSplit
	sqHi  int
}

// Compiled is a validated Request turned into the public upload.Circuit and upload.Plan
// both owners run, with the bookkeeping that maps statistics back to the
// query's cells and the calibration of each owner's DP noise. It is
// immutable and safe for concurrent use.
type Compiled struct {
	req     Request
	params  rlwe.Parameters
	circuit upload.Circuit
	plan    *upload.Plan
	xs, ys  []colSpec
	rates   []rateSpec
	regs    []regSpec
	cts     []ctSpec
	clips   []clipSpec
	// proxies are the proxy checks, proxyVecs the multipliers and
	// uploaded columns they add, and proxyFamilies their statistics by
	// family of the privacy split (proxy.go).
	proxies       []proxySpec
	proxyVecs     []proxyVec
	proxyFamilies [][]int
	// corrX and corrY index xs and ys: the columns of the correlations;
	// corrGroups holds their statistics per group when they are grouped
	// (and the sum fields below are empty), and is nil otherwise.
	corrX, corrY []int
	corrGroups   []corrGroup
	groupedCols  []groupedCol
	// prodMults and prodCols are the products of two multipliers, or of
	// two uploaded columns, a regression needs; xLevels and yLevels the
	// indicators of the levels of its categorical predictors
	// (regression.go).
	prodMults, prodCols []productSpec
	xLevels, yLevels    []levelSpec
	// regCounts are the regressions' statistics released in stage one as
	// counts (the people at a level of a categorical predictor), regGates
	// the count that gates each of their statistics of a level in stage
	// two (release.go).
	regCounts []int
	regGates  map[int]int
	// groups are the statistic families of several statistics, disjoint in
	// people (the buckets of one kind of a rate, the cells of a table);
	// every other statistic is a family of its own.
	groups [][]int
	// statistic indexes
	statN        int
	sumX, sumX2  []int
	sumY, sumY2  []int
	sumXY        [][]int // [x][y]
	statUnits    []float64
	noise        noiseCalibration
	memberMult   int
	memberColumn int
	// resolution is the fixed-point resolution in bits of the columns.
	resolution int
}

// Compile validates req, builds the circuit and its upload.Plan at λ =
// QueryLambda for req.Owners owners, and calibrates the DP noise of
// every statistic. The evaluator's multipliers are its membership, each x
// and x² a correlation or regression needs, the products x_j·x_k of each
// regression's predictors, and one indicator per bucket of an evaluator
// group-by or table; the uploaded columns are the membership, each y (and
// y²) needed, 1[b], events·1[b] and exposure·1[b] per bucket of a rate
// grouped by an uploader column, and one indicator per Y bucket of a table.
// A statistic two requests need is computed and released once.
func Compile(params rlwe.Parameters, req Request) (*Compiled, error) {
	tmpl := Compiled{params: params}
	tmpl.req = Request{
		X: cloneColumns(req.X), Y: cloneColumns(req.Y),
		Correlations: req.Correlations, Epsilon: req.Epsilon, Delta: req.Delta,
		CorrelationX: append([]ColumnRef(nil), req.CorrelationX...), CorrelationY: append([]ColumnRef(nil), req.CorrelationY...),
		CorrelationBy: req.CorrelationBy, CorrelationEdges: append([]float64(nil), req.CorrelationEdges...),
		Exact: req.Exact, MaxRecords: req.MaxRecords, Resolution: req.Resolution,
		Owners: req.Owners, KeyHolders: req.KeyHolders,
		Proxies: append([]ProxyRequest(nil), req.Proxies...),
	}
	tmpl.req.Rates, tmpl.req.Regressions, tmpl.req.Contingencies = copyRequests(req)
	if err := tmpl.validate(); err != nil {
		return nil, err
	}
	// Under DP noise, which is far larger than one record's contribution,
	// the default resolution and precision suffice and keep the upload
	// compact. Exact queries need every sum exactly (upload.PlanConfig.Exact):
	// the finest resolution at which the modulus holds them.
	resolutions := []int{ResolutionBits}
	switch {
	case req.Resolution > 0:
		resolutions = []int{req.Resolution}
	case req.Exact && !tmpl.allStepped():
		resolutions = nil
		for r := ExactResolutionBits; r >= ResolutionBits; r-- {
			resolutions = append(resolutions, r)
		}
	}
	var err error
	for _, r := range resolutions {
		c := tmpl // the circuit, the plan and the noise are built afresh
		c.resolution = r
		if err = c.build(); err != nil {
			return nil, err
		}
		cfg := upload.PlanConfig{MaxRecords: req.MaxRecords, Lambda: QueryLambda, Parties: c.req.Owners, KeyHolders: c.req.KeyHolders, Exact: req.Exact}
		if c.plan, err = upload.NewPlan(params, c.circuit, cfg); err != nil {
			if errors.Is(err, upload.ErrInfeasible) {
				continue
			}
			return nil, fmt.Errorf("plan: %w", err)
		}
		if err := c.calibrate(); err != nil {
			return nil, err
		}
		return &c, nil
	}
	if req.Exact {
		return nil, fmt.Errorf("plan: %w (exact mode, at %d to %d bits of resolution over each column's range); narrow the bounds or the union", err, resolutions[0], resolutions[len(resolutions)-1])
	}
	return nil, fmt.Errorf("plan: %w", err)
}

// copyRequests deep-copies the statistic requests of r.
func copyRequests(r Request) ([]RateRequest, []RegressionRequest, []ContingencyRequest) {
	var rates []RateRequest
	var regs []RegressionRequest
	var cts []ContingencyRequest
	for _, rr := range r.Rates {
		rr.Edges = append([]float64(nil), rr.Edges...)
		rates = append(rates, rr)
	}
	for _, rg := range r.Regressions {
		rg.Predictors = append([]ColumnRef(nil), rg.Predictors...)
		regs = append(regs, rg)
	}
	for _, ct := range r.Contingencies {
		ct.XEdges = append([]float64(nil), ct.XEdges...)
		ct.YEdges = append([]float64(nil), ct.YEdges...)
		cts = append(cts, ct)
	}
	return rates, regs, cts
}

// allStepped reports whether every column of the request declares a step,
// so that the resolution of the grid is not the compiler's to choose.
func (c *Compiled) allStepped() bool {
	for _, ci := range append(append([]ColumnInfo(nil), c.req.X...), c.req.Y...) {
		if ci.Step == 0 {
			return false
		}
	}
	return true
}

// fixedPointFor returns the encoding of a column: its declared step, or
// the fewest fractional bits that give resolution bits over its declared
// range.
func fixedPointFor(ci ColumnInfo, resolution int) (FixedPoint, error) {
	f := FixedPoint{Lo: ci.Lo, Hi: ci.Hi, Step: ci.Step}
	for f.Step == 0 && f.FracBits < 30 && (ci.Hi-ci.Lo)*math.Exp2(float64(f.FracBits)) < math.Exp2(float64(resolution)) {
		f.FracBits++
	}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("%w: column %q: %w", ErrInvalidQuery, ci.Ref, err)
	}
	return f, nil
}

// MaxSquared bounds the encoded range of an X column, whose square (and
// products with the other predictors) are multipliers: they must stay
// under upload.MaxColumnBound. A Y column's square is uploaded in two
// digits when it is wider (square.go).
const MaxSquared = int64(1) << 24

// circuitBuilder lays out the circuit of a Compiled: its multipliers,
// uploaded columns and statistics, in the order each kind of statistic
// adds them.
type circuitBuilder struct {
	c *Compiled
	// The value of one encoded unit of every multiplier and column: a
	// statistic's unit is the product of its multiplier's and column's.
	multUnit, colUnit []float64
	// byPair is the statistic Σ m·c of each (multiplier, column) pair.
	byPair map[[2]int]int
	// digits are the high digit columns of a column uploaded in digits,
	// by its low digit: every statistic of the column spreads over them.
	digits map[int][]upload.ColumnDigit
	// products holds the product multiplier (ySide: column) of two others,
	// which grouped correlations and regressions share.
	products map[productKey]int
}

func (cb *circuitBuilder) addMult(name string, max int64, unit float64) int {
	circ := &cb.c.circuit
	circ.Multipliers = append(circ.Multipliers, upload.Column{Name: name, Max: max})
	cb.multUnit = append(cb.multUnit, unit)
	return len(circ.Multipliers) - 1
}

func (cb *circuitBuilder) addCol(name string, max int64, unit float64) int {
	circ := &cb.c.circuit
	circ.Columns = append(circ.Columns, upload.Column{Name: name, Max: max})
	cb.colUnit = append(cb.colUnit, unit)
	return len(circ.Columns) - 1
}

// addStat returns the statistic Σ m·c, shared by every request that
// needs it: it is released once and is one family of the privacy split.
func (cb *circuitBuilder) addStat(name string, m, col int) int {
	circ := &cb.c.circuit
	if s, ok := cb.byPair[[2]int{m, col}]; ok {
		return s
	}
	circ.Stats = append(circ.Stats, upload.Stat{Name: name, Multiplier: m, Column: col, Digits: cb.digits[col]})
	cb.byPair[[2]int{m, col}] = len(circ.Stats) - 1
	return len(circ.Stats) - 1
}

// addGroup adds statistics that are disjoint in people and form one
// family; they are never shared (their multiplier or column is theirs).
func (cb *circuitBuilder) addGroup(group []int) { cb.c.groups = append(cb.c.groups, group) }

// columnNeeds says which values and squares each side lays out, as the
// requested statistics need them.
type columnNeeds struct {
	xVal, yVal, ySq []bool
}

// build lays out the circuit: the membership of both sides, every needed
// column value and square, the overall count, then the statistics of each
// kind in request order.
func (c *Compiled) build() error {
	cb := &circuitBuilder{c: c, byPair: map[[2]int]int{}, products: map[productKey]int{}}
	c.prodMults, c.prodCols, c.xLevels, c.yLevels = nil, nil, nil, nil
	c.regCounts, c.regGates = nil, map[int]int{}
	c.memberMult = cb.addMult("member", 1, 1)
	c.memberColumn = cb.addCol("member", 1, 1)
	if err := cb.columns(); err != nil {
		return err
	}
	c.statN = cb.addStat(upload.StatCount, c.memberMult, c.memberColumn)
	if c.req.Correlations {
		if err := cb.correlations(); err != nil {
			return err
		}
	}
	cb.rates()
	if err := cb.regressions(); err != nil {
		return err
	}
	cb.contingencies()
	cb.clips()
	c.proxies, c.proxyVecs, c.proxyFamilies = nil, nil, nil
	cb.proxies()
	circ := &c.circuit
	if err := circ.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	for _, s := range circ.Stats {
		c.statUnits = append(c.statUnits, 1/(cb.multUnit[s.Multiplier]*cb.colUnit[s.Column]))
	}
	return nil
}

// columns compiles every X and Y column, adding the multipliers x and x²
// and the uploaded columns y and y² that the statistics need.
func (cb *circuitBuilder) columns() error {
	c, r := cb.c, cb.c.req
	need := columnNeeds{xVal: make([]bool, len(r.X)), yVal: make([]bool, len(r.Y)), ySq: make([]bool, len(r.Y))}
	if r.Correlations {
		need.correlations(c)
	}
	need.rates(r)
	need.regressions(r)
	xVal, yVal, ySq := need.xVal, need.yVal, need.ySq
	spec := func(ci ColumnInfo, squared bool) (colSpec, error) {
		fp, err := fixedPointFor(ci, c.resolution)
		if err != nil {
			return colSpec{}, err
		}
		if squared && fp.Max() > MaxSquared {
			return colSpec{}, tooWideToSquare(ci, fp, "at most 2^24")
		}
		return colSpec{info: ci, fp: fp, val: -1, sq: -1}, nil
	}
	for i, ci := range r.X {
		s, err := spec(ci, xVal[i])
		if err != nil {
			return err
		}
		if xVal[i] {
			u := s.fp.Unit()
			s.val = cb.addMult("x/"+ci.Ref.Name, s.fp.Max(), u)
			s.sq = cb.addMult("x2/"+ci.Ref.Name, s.fp.Max()*s.fp.Max(), u*u)
		}
		c.xs = append(c.xs, s)
	}
	for j, ci := range r.Y {
		s, err := spec(ci, false)
		if err != nil {
			return err
		}
		if yVal[j] {
			s.val = cb.addCol("y/"+ci.Ref.Name, s.fp.Max(), s.fp.Unit())
		}
		if ySq[j] {
			if err := cb.ySquare(&s); err != nil {
				return err
			}
		}
		c.ys = append(c.ys, s)
	}
	return nil
}

// Circuit returns a copy of the compiled circuit.
func (c *Compiled) Circuit() upload.Circuit { return c.plan.Circuit() }

// Plan returns the plan both owners use.
func (c *Compiled) Plan() *upload.Plan { return c.plan }

// Request returns a copy of the validated request.
func (c *Compiled) Request() Request {
	r := c.req
	r.X, r.Y = cloneColumns(r.X), cloneColumns(r.Y)
	r.CorrelationX = append([]ColumnRef(nil), r.CorrelationX...)
	r.CorrelationY = append([]ColumnRef(nil), r.CorrelationY...)
	r.CorrelationEdges = append([]float64(nil), r.CorrelationEdges...)
	r.Rates, r.Regressions, r.Contingencies = copyRequests(c.req)
	r.Proxies = append([]ProxyRequest(nil), r.Proxies...)
	return r
}

// Resolutions returns the resolution each selected column was encoded at,
// by "owner.column": the value of one encoded unit, its declared step or
// the power-of-two 2^-F the compiler chose (FixedPoint.Unit). Exact sums
// are exact on these grids.
func (c *Compiled) Resolutions() map[string]float64 {
	out := make(map[string]float64, len(c.xs)+len(c.ys))
	for _, s := range append(append([]colSpec(nil), c.xs...), c.ys...) {
		out[s.info.Ref.String()] = s.fp.Unit()
	}
	return out
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
