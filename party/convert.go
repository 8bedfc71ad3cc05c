package party

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/source"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// This file is the one place where protobuf messages become domain values
// and back. Everything that comes from the wire is validated here.

// Query is a validated query.
type Query struct {
	ID      string
	Purpose string
	// Evaluator is the owner the querier addressed the query to ("" for
	// whichever node it was sent to).
	Evaluator  string
	Querier    string
	Epsilon    float64
	Delta      float64
	Exact      bool
	QuerierKey *rlwe.PublicKey
	Joint      *JointQuery

	// digest binds every field of the query as the evaluator sent it; data
	// owners only release shares for the exact query they prepared.
	digest []byte
	// admitted binds the query as the querier asked it (every field but
	// the ones the evaluator fills in after admission: the matchings, the
	// union size and the number of key holders). The ledger records it
	// with the charge, so a query id is bound to one query.
	admitted []byte
}

// JointQuery asks for statistics over the common customers of the
// evaluating owner (X columns) and one other owner, or a pool of owners
// with disjoint populations (Y columns).
type JointQuery struct {
	X, Y          []aggregate.ColumnInfo
	Correlations  bool
	Rates         []aggregate.RateRequest
	Regressions   []aggregate.RegressionRequest
	Contingencies []aggregate.ContingencyRequest
	Pool          *Pool
	// CorrelationX and CorrelationY are the columns of the correlations,
	// both empty for every x × y pair (aggregate.Request); CorrelationBy,
	// if set, groups them, cut at CorrelationEdges.
	CorrelationX, CorrelationY []aggregate.ColumnRef
	CorrelationBy              aggregate.ColumnRef
	CorrelationEdges           []float64
	// Proxies and Guards are the proxy checks and the owners that declare
	// the purpose segmenting (proxy.go), set by the evaluating node.
	Proxies []aggregate.ProxyRequest
	Guards  []ProxyGuard
	// Set by the evaluating node: the plan's bound on the records (the
	// total of the matchings' padded sizes), one matching per y owner, and
	// the number of parties of the key.
	UnionSize  int
	Matches    []MatchRef
	KeyHolders int
}

// Pool names data owners whose y columns a joint query pools: each holds
// the same columns (names and bounds) for its own customers, no customer
// is with two of them, and the statistics run over the union of the
// evaluator's common customers with each.
type Pool struct {
	// Name is what the query's y columns use as their owner.
	Name   string
	Owners []string
}

// MatchRef is the matching of the evaluator with one y owner.
type MatchRef struct {
	Owner     string
	Session   []byte
	UnionSize int
	// PaddedSize is the rows the session is laid out over (padding.go in
	// aggregate): at least UnionSize.
	PaddedSize int
}

// yOwners returns the owners of the y columns.
func (j *JointQuery) yOwners() []string {
	if j.Pool != nil {
		return j.Pool.Owners
	}
	return []string{j.Y[0].Ref.Owner}
}

// match returns owner's matching with the evaluator.
func (j *JointQuery) match(owner string) (MatchRef, bool) {
	for _, m := range j.Matches {
		if m.Owner == owner {
			return m, true
		}
	}
	return MatchRef{}, false
}

// request is the aggregate request every owner compiles identically.
func (q *Query) request() aggregate.Request {
	j := q.Joint
	return aggregate.Request{X: j.X, Y: j.Y, Correlations: j.Correlations, Rates: j.Rates,
		Regressions: j.Regressions, Contingencies: j.Contingencies, CorrelationX: j.CorrelationX, CorrelationY: j.CorrelationY,
		CorrelationBy: j.CorrelationBy, CorrelationEdges: j.CorrelationEdges,
		Proxies: j.Proxies, Epsilon: q.Epsilon, Delta: q.Delta, Exact: q.Exact, MaxRecords: j.UnionSize,
		Owners: 1 + len(j.yOwners()), KeyHolders: j.KeyHolders}
}

var (
	queryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	columnPattern  = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// queryFromProto validates a query from the wire.
func queryFromProto(params rlwe.Parameters, spec *pb.QuerySpec) (*Query, error) {
	if spec == nil {
		return nil, fmt.Errorf("%w: no query", ErrBadRequest)
	}
	if !queryIDPattern.MatchString(spec.Id) {
		return nil, fmt.Errorf("%w: query id must be 8 to 64 characters of [A-Za-z0-9_-]", ErrBadRequest)
	}
	if len(spec.Purpose) > 256 {
		return nil, fmt.Errorf("%w: purpose longer than 256 bytes", ErrBadRequest)
	}
	pk := rlwe.NewPublicKey(params)
	if err := crypto.UnmarshalWire(params, spec.QuerierPublicKey, pk); err != nil {
		return nil, fmt.Errorf("%w: querier public key does not fit the parameter preset: %v", ErrBadRequest, err)
	}
	if spec.Exact {
		if err := dp.CheckExactBudget(spec.Epsilon, spec.Delta); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
	} else if err := dp.CheckBudget(spec.Epsilon, spec.Delta); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(spec.Querier) > 64 {
		return nil, fmt.Errorf("%w: querier name longer than 64 bytes", ErrBadRequest)
	}
	if spec.Evaluator != "" && !namePattern.MatchString(spec.Evaluator) {
		return nil, fmt.Errorf("%w: evaluator %q is not a node name", ErrBadRequest, spec.Evaluator)
	}
	q := &Query{ID: spec.Id, Purpose: spec.Purpose, Querier: spec.Querier, Epsilon: spec.Epsilon, Delta: spec.Delta, Exact: spec.Exact, QuerierKey: pk, Evaluator: spec.Evaluator}
	switch k := spec.Kind.(type) {
	case *pb.QuerySpec_Joint:
		j, err := jointFromProto(k.Joint)
		if err != nil {
			return nil, err
		}
		q.Joint = j
	default:
		return nil, fmt.Errorf("%w: query has no statistic", ErrBadRequest)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	q.digest = digest(b)
	asked := spec
	if j := spec.GetJoint(); j != nil && (j.UnionSize != 0 || len(j.Matches) != 0 || j.KeyHolders != 0) {
		asked = proto.Clone(spec).(*pb.QuerySpec)
		j := asked.GetJoint()
		j.UnionSize, j.Matches, j.KeyHolders = 0, nil, 0
		if b, err = (proto.MarshalOptions{Deterministic: true}).Marshal(asked); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	q.admitted = digest(b)
	return q, nil
}

func columnFromProto(c *pb.ColumnRef) (aggregate.ColumnInfo, error) {
	if c == nil || !namePattern.MatchString(c.Owner) || !columnPattern.MatchString(c.Name) {
		return aggregate.ColumnInfo{}, fmt.Errorf("%w: a column must be named owner.column", ErrBadRequest)
	}
	if math.IsNaN(c.Lo) || math.IsNaN(c.Hi) || math.IsInf(c.Lo, 0) || math.IsInf(c.Hi, 0) {
		return aggregate.ColumnInfo{}, fmt.Errorf("%w: column %s.%s has non-finite bounds", ErrBadRequest, c.Owner, c.Name)
	}
	if len(c.Levels) > source.MaxLevels || len(c.Unit) > maxUnitBytes {
		return aggregate.ColumnInfo{}, fmt.Errorf("%w: column %s.%s has more than %d levels or a unit longer than %d bytes", ErrBadRequest, c.Owner, c.Name, source.MaxLevels, maxUnitBytes)
	}
	for _, l := range c.Levels {
		if len(l) > source.MaxLevelBytes {
			return aggregate.ColumnInfo{}, fmt.Errorf("%w: column %s.%s has a level name longer than %d bytes", ErrBadRequest, c.Owner, c.Name, source.MaxLevelBytes)
		}
	}
	if math.IsNaN(c.Step) || math.IsInf(c.Step, 0) || c.Step < 0 {
		return aggregate.ColumnInfo{}, fmt.Errorf("%w: column %s.%s has a step that is not a positive number", ErrBadRequest, c.Owner, c.Name)
	}
	ci := aggregate.ColumnInfo{Ref: aggregate.ColumnRef{Owner: c.Owner, Name: c.Name}, Lo: c.Lo, Hi: c.Hi, Unit: c.Unit, Step: c.Step}
	if len(c.Levels) > 0 {
		ci.Levels = slices.Clone(c.Levels)
	}
	return ci, nil
}

// maxUnitBytes bounds a column's unit on the wire (a source declares at
// most 32 characters).
const maxUnitBytes = 64

// convertAll converts each of in with f, stopping at the first error; an
// empty in gives nil.
func convertAll[S, T any](in []S, f func(S) (T, error)) ([]T, error) {
	var out []T
	for _, s := range in {
		t, err := f(s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func refFromProto(c *pb.ColumnRef) (aggregate.ColumnRef, error) {
	ci, err := columnFromProto(c)
	return ci.Ref, err
}

const (
	maxJointColumns = 64
	maxOwners       = 64
)

func jointFromProto(j *pb.JointQuery) (*JointQuery, error) {
	if j == nil {
		return nil, fmt.Errorf("%w: empty joint query", ErrBadRequest)
	}
	if len(j.X) == 0 || len(j.Y) == 0 || len(j.X)+len(j.Y) > maxJointColumns || len(j.Rates) > maxJointColumns {
		return nil, fmt.Errorf("%w: a joint query needs 1 to %d columns on each side", ErrBadRequest, maxJointColumns)
	}
	out := &JointQuery{Correlations: j.Correlations, UnionSize: int(j.UnionSize), KeyHolders: int(j.KeyHolders)}
	if j.UnionSize > 1<<31 || j.KeyHolders > maxOwners || len(j.Matches) > maxOwners {
		return nil, fmt.Errorf("%w: malformed union size, key holders or matchings", ErrBadRequest)
	}
	if p := j.Pool; p != nil {
		if !namePattern.MatchString(p.Name) || len(p.Owners) < 2 || len(p.Owners) > maxOwners-1 {
			return nil, fmt.Errorf("%w: a pool needs a name and 2 to %d owners", ErrBadRequest, maxOwners-1)
		}
		seen := map[string]bool{p.Name: true}
		for _, o := range p.Owners {
			if !namePattern.MatchString(o) || seen[o] {
				return nil, fmt.Errorf("%w: pool %q: owner %q is malformed, repeated or the pool's own name", ErrBadRequest, p.Name, o)
			}
			seen[o] = true
		}
		out.Pool = &Pool{Name: p.Name, Owners: append([]string(nil), p.Owners...)}
	}
	total := uint64(0)
	for _, m := range j.Matches {
		if m == nil || !namePattern.MatchString(m.Owner) || len(m.Session) > sessionIDSize || m.UnionSize > 1<<31 || m.PaddedSize > 1<<31 || m.PaddedSize < m.UnionSize {
			return nil, fmt.Errorf("%w: malformed matching reference", ErrBadRequest)
		}
		total += m.PaddedSize
		out.Matches = append(out.Matches, MatchRef{Owner: m.Owner, Session: m.Session, UnionSize: int(m.UnionSize), PaddedSize: int(m.PaddedSize)})
	}
	if len(j.Matches) > 0 && total != j.UnionSize {
		return nil, fmt.Errorf("%w: the matchings' padded sizes do not add up to the query's", ErrBadRequest)
	}
	var err error
	if out.X, err = convertAll(j.X, columnFromProto); err != nil {
		return nil, err
	}
	if out.Y, err = convertAll(j.Y, columnFromProto); err != nil {
		return nil, err
	}
	for _, r := range j.Rates {
		if r == nil || len(r.Edges) > 64 {
			return nil, fmt.Errorf("%w: malformed rate", ErrBadRequest)
		}
		ev, err := refFromProto(r.Events)
		if err != nil {
			return nil, err
		}
		ex, err := refFromProto(r.Exposure)
		if err != nil {
			return nil, err
		}
		by, err := refFromProto(r.By)
		if err != nil {
			return nil, err
		}
		if len(r.Per) > maxUnitBytes {
			return nil, fmt.Errorf("%w: malformed rate unit", ErrBadRequest)
		}
		out.Rates = append(out.Rates, aggregate.RateRequest{Events: ev, Exposure: ex, By: by, Edges: append([]float64(nil), r.Edges...), Per: r.Per})
	}
	if len(j.CorrelationX)+len(j.CorrelationY) > maxJointColumns {
		return nil, fmt.Errorf("%w: more correlation columns than columns", ErrBadRequest)
	}
	if out.CorrelationX, err = convertAll(j.CorrelationX, refFromProto); err != nil {
		return nil, err
	}
	if out.CorrelationY, err = convertAll(j.CorrelationY, refFromProto); err != nil {
		return nil, err
	}
	if j.CorrelationBy != nil {
		if out.CorrelationBy, err = refFromProto(j.CorrelationBy); err != nil {
			return nil, err
		}
	}
	if len(j.CorrelationEdges) > aggregate.MaxLevels {
		return nil, fmt.Errorf("%w: more than %d correlation buckets", ErrBadRequest, aggregate.MaxLevels)
	}
	out.CorrelationEdges = slices.Clone(j.CorrelationEdges)
	if len(j.Regressions) > maxJointColumns || len(j.Contingencies) > maxJointColumns {
		return nil, fmt.Errorf("%w: too many regressions or tables", ErrBadRequest)
	}
	for _, r := range j.Regressions {
		if r == nil || len(r.Predictors) == 0 || len(r.Predictors) > aggregate.MaxPredictors {
			return nil, fmt.Errorf("%w: a regression needs 1 to %d predictors", ErrBadRequest, aggregate.MaxPredictors)
		}
		outcome, err := refFromProto(r.Outcome)
		if err != nil {
			return nil, err
		}
		predictors, err := convertAll(r.Predictors, refFromProto)
		if err != nil {
			return nil, err
		}
		out.Regressions = append(out.Regressions, aggregate.RegressionRequest{Outcome: outcome, Predictors: predictors, NoIntercept: r.NoIntercept})
	}
	for _, ct := range j.Contingencies {
		if ct == nil || len(ct.XEdges) > 64 || len(ct.YEdges) > 64 {
			return nil, fmt.Errorf("%w: malformed contingency table", ErrBadRequest)
		}
		x, err := refFromProto(ct.X)
		if err != nil {
			return nil, err
		}
		y, err := refFromProto(ct.Y)
		if err != nil {
			return nil, err
		}
		out.Contingencies = append(out.Contingencies, aggregate.ContingencyRequest{X: x, XEdges: append([]float64(nil), ct.XEdges...), Y: y, YEdges: append([]float64(nil), ct.YEdges...)})
	}
	if len(j.ProxyChecks) > maxJointColumns*maxJointColumns || len(j.ProxyGuards) > maxOwners {
		return nil, fmt.Errorf("%w: too many proxy checks or guards", ErrBadRequest)
	}
	for _, pc := range j.ProxyChecks {
		if pc == nil {
			return nil, fmt.Errorf("%w: malformed proxy check", ErrBadRequest)
		}
		by, err := refFromProto(pc.By)
		if err != nil {
			return nil, err
		}
		prot, err := refFromProto(pc.Protected)
		if err != nil {
			return nil, err
		}
		out.Proxies = append(out.Proxies, aggregate.ProxyRequest{By: by, Protected: prot})
	}
	for _, g := range j.ProxyGuards {
		if g == nil || !namePattern.MatchString(g.Owner) || !(g.Threshold > 0 && g.Threshold <= 1) {
			return nil, fmt.Errorf("%w: a proxy guard names an owner and a threshold in (0, 1]", ErrBadRequest)
		}
		out.Guards = append(out.Guards, ProxyGuard{Owner: g.Owner, Threshold: g.Threshold})
	}
	if !out.Correlations && len(out.Rates) == 0 && len(out.Regressions) == 0 && len(out.Contingencies) == 0 {
		return nil, fmt.Errorf("%w: the joint query asks for no statistic (correlations, rates, regressions or tables)", ErrBadRequest)
	}
	for _, c := range out.Y {
		if out.Pool != nil && c.Ref.Owner != out.Pool.Name {
			return nil, fmt.Errorf("%w: y column %s is not the pool's: name pooled columns %s.<column>", ErrBadRequest, c.Ref, out.Pool.Name)
		}
	}
	if len(out.Matches) > 0 {
		owners := out.yOwners()
		if len(out.Matches) != len(owners) {
			return nil, fmt.Errorf("%w: %d matchings for %d y owners", ErrBadRequest, len(out.Matches), len(owners))
		}
		for _, o := range owners {
			if _, ok := out.match(o); !ok {
				return nil, fmt.Errorf("%w: no matching for y owner %q", ErrBadRequest, o)
			}
		}
	}
	return out, nil
}

// kind names the query's statistic for logs and the audit trail.
func (q *Query) kind() string { return "joint" }

// ownColumns lists the joint query's columns of owner (a pool's y columns
// belong to each of its owners), without repeats.
func (q *Query) ownColumns(owner string) []aggregate.ColumnInfo {
	var out []aggregate.ColumnInfo
	seen := map[string]bool{}
	pooled := q.Joint.Pool != nil && slices.Contains(q.Joint.Pool.Owners, owner)
	for _, c := range append(append([]aggregate.ColumnInfo{}, q.Joint.X...), q.Joint.Y...) {
		mine := c.Ref.Owner == owner || (pooled && c.Ref.Owner == q.Joint.Pool.Name)
		if mine && !seen[c.Ref.Name] {
			seen[c.Ref.Name] = true
			out = append(out, c)
		}
	}
	return out
}

// jointHeaderToProto is the header of an evaluation's result: the query as
// evaluated, without the owners' matchings (their union sizes and
// sessions are theirs; the padded total is the querier's), the stage-one
// counts, the products released, and the querier's budget left at every
// owner.
func jointHeaderToProto(e *evaluation) *pb.JointHeader {
	asEvaluated := proto.Clone(e.spec).(*pb.QuerySpec)
	asEvaluated.GetJoint().Matches = nil
	h := &pb.JointHeader{
		Query: asEvaluated, Products: uint32(len(e.compiled.Plan().Products())), Owners: append([]string{e.n.cfg.Name}, e.owners...),
		MinGroupSize: uint32(e.minGroup), PhaseSeconds: e.phase, UploadedColumns: uint32(len(e.compiled.Circuit().Columns)),
	}
	for _, r := range e.prepared {
		h.UploadedBytes += r.UploadedBytes
	}
	h.CountStats, h.CountValues = countsToProto(e.counts)
	for _, i := range e.released {
		h.ReleasedProducts = append(h.ReleasedProducts, uint32(i))
	}
	own := e.n.gov.ledger.Remaining(e.query.Querier)
	h.EpsilonLeft = map[string]float64{e.n.cfg.Name: own.Epsilon}
	h.DeltaLeft = map[string]float64{e.n.cfg.Name: own.Delta}
	for k, o := range e.owners {
		h.EpsilonLeft[o], h.DeltaLeft[o] = e.prepared[k].EpsilonLeft, e.prepared[k].DeltaLeft
	}
	return h
}

// countsToProto encodes stage-one counts (statistic → noisy count) as
// parallel lists, in statistic order.
func countsToProto(counts map[int]float64) ([]uint32, []float64) {
	stats := make([]int, 0, len(counts))
	for s := range counts {
		stats = append(stats, s)
	}
	slices.Sort(stats)
	var ids []uint32
	var values []float64
	for _, s := range stats {
		ids, values = append(ids, uint32(s)), append(values, counts[s])
	}
	return ids, values
}

// countsFromProto decodes countsToProto's lists.
func countsFromProto(ids []uint32, values []float64) (map[int]float64, error) {
	if len(ids) != len(values) {
		return nil, fmt.Errorf("%w: %d count statistics with %d values", ErrBadPeerMessage, len(ids), len(values))
	}
	counts := make(map[int]float64, len(ids))
	for k, s := range ids {
		counts[int(s)] = values[k]
	}
	return counts, nil
}

// columnRefsToProto encodes column references without bounds.
func columnRefsToProto(refs []aggregate.ColumnRef) []*pb.ColumnRef {
	out := make([]*pb.ColumnRef, len(refs))
	for i, r := range refs {
		out[i] = &pb.ColumnRef{Owner: r.Owner, Name: r.Name}
	}
	return out
}

// jointRequestToProto is a querier's request as the query it sends.
func jointRequestToProto(r JointRequest, id string, querierKey []byte) *pb.QuerySpec {
	jq := &pb.JointQuery{X: columnRefsToProto(r.X), Y: columnRefsToProto(r.Y), Correlations: r.Correlations,
		CorrelationX: columnRefsToProto(r.CorrelationX), CorrelationY: columnRefsToProto(r.CorrelationY),
		CorrelationEdges: slices.Clone(r.CorrelationEdges)}
	if r.Pool != nil {
		jq.Pool = &pb.Pool{Name: r.Pool.Name, Owners: r.Pool.Owners}
	}
	one := func(r aggregate.ColumnRef) *pb.ColumnRef { return columnRefsToProto([]aggregate.ColumnRef{r})[0] }
	if r.CorrelationBy != (aggregate.ColumnRef{}) {
		jq.CorrelationBy = one(r.CorrelationBy)
	}
	for _, rate := range r.Rates {
		jq.Rates = append(jq.Rates, &pb.RateSpec{Events: one(rate.Events), Exposure: one(rate.Exposure), By: one(rate.By), Edges: rate.Edges, Per: rate.Per})
	}
	for _, reg := range r.Regressions {
		jq.Regressions = append(jq.Regressions, &pb.RegressionSpec{Outcome: one(reg.Outcome), Predictors: columnRefsToProto(reg.Predictors), NoIntercept: reg.NoIntercept})
	}
	for _, ct := range r.Contingencies {
		jq.Contingencies = append(jq.Contingencies, &pb.ContingencySpec{X: one(ct.X), XEdges: ct.XEdges, Y: one(ct.Y), YEdges: ct.YEdges})
	}
	return &pb.QuerySpec{Id: id, QuerierPublicKey: querierKey, Purpose: r.Purpose, Epsilon: r.Epsilon, Delta: r.Delta, Exact: r.Exact, Querier: r.Querier, Evaluator: r.Evaluator,
		Kind: &pb.QuerySpec_Joint{Joint: jq}}
}

// infoToProto is a node's description as Info sends it: the columns with
// bounds in the order of Columns, the categorical ones sorted by name.
func infoToProto(i *NodeInfo) *pb.InfoResponse {
	r := &pb.InfoResponse{Node: i.Node, Federation: i.Federation, Owners: i.Owners, Preset: i.Preset, SetupDone: i.SetupDone,
		Columns: i.Columns, Version: i.Version, MinGroupSize: uint32(max(i.MinGroupSize, 0)),
		Segmenting: i.Segmenting, ProxyThreshold: i.ProxyThreshold}
	for _, c := range i.Columns {
		if b, ok := i.Bounds[c]; ok {
			r.ColumnInfo = append(r.ColumnInfo, &pb.ColumnRef{Owner: i.Node, Name: c, Lo: b[0], Hi: b[1], Unit: i.Units[c], Step: i.Steps[c]})
		}
	}
	names := make([]string, 0, len(i.Levels))
	for c := range i.Levels {
		names = append(names, c)
	}
	slices.Sort(names)
	for _, c := range names {
		r.Categorical = append(r.Categorical, &pb.CategoricalColumn{Name: c, Levels: i.Levels[c]})
	}
	for _, c := range slices.Sorted(maps.Keys(i.Estimated)) {
		e := i.Estimated[c]
		r.EstimatedBounds = append(r.EstimatedBounds, &pb.EstimatedBounds{Name: c, Epsilon: e.Epsilon, Quantile: e.Quantile, Lo: e.Lo})
	}
	for _, c := range slices.Sorted(maps.Keys(i.Tags)) {
		r.ColumnTags = append(r.ColumnTags, &pb.ColumnTags{Name: c, Tags: i.Tags[c]})
	}
	if b := i.Budget; b != nil {
		r.Budget = &pb.QuerierBudget{Querier: b.Querier, Epsilon: b.Budget.Epsilon, Delta: b.Budget.Delta, EpsilonLeft: b.Left.Epsilon, DeltaLeft: b.Left.Delta}
	}
	return r
}

// infoFromProto is a node's description as Info received it.
func infoFromProto(r *pb.InfoResponse) *NodeInfo {
	i := &NodeInfo{Node: r.Node, Federation: r.Federation, Preset: r.Preset, Version: r.Version, Owners: r.Owners, Columns: r.Columns, SetupDone: r.SetupDone,
		MinGroupSize: int(r.MinGroupSize), Segmenting: r.Segmenting, ProxyThreshold: r.ProxyThreshold}
	for _, c := range r.ColumnInfo {
		put(&i.Bounds, c.Name, [2]float64{c.Lo, c.Hi})
		if c.Unit != "" {
			put(&i.Units, c.Name, c.Unit)
		}
		if c.Step > 0 {
			put(&i.Steps, c.Name, c.Step)
		}
	}
	for _, c := range r.Categorical {
		put(&i.Levels, c.Name, c.Levels)
	}
	for _, e := range r.EstimatedBounds {
		put(&i.Estimated, e.Name, BoundsEstimate{Epsilon: e.Epsilon, Quantile: e.Quantile, Lo: e.Lo})
	}
	for _, c := range r.ColumnTags {
		put(&i.Tags, c.Name, c.Tags)
	}
	if b := r.Budget; b != nil {
		i.Budget = &QuerierBudget{Querier: b.Querier, Budget: ledger.Budget{Epsilon: b.Epsilon, Delta: b.Delta},
			Left: ledger.Budget{Epsilon: b.EpsilonLeft, Delta: b.DeltaLeft}}
	}
	return i
}

// planFromProto checks a node's answer to a plan of the query the client
// sent (same columns, statistics and cost; only the columns' declarations
// filled in) and
// returns it with the request the owners would compile.
func planFromProto(params rlwe.Parameters, sent *pb.QuerySpec, r *pb.PlanResponse) (*JointPlan, error) {
	if r.Query == nil || r.Query.Id != sent.Id {
		return nil, fmt.Errorf("%w: the plan is not of the query sent", ErrBadPeerMessage)
	}
	q, err := queryFromProto(params, r.Query)
	if err != nil {
		return nil, err
	}
	bare := proto.Clone(r.Query).(*pb.QuerySpec)
	if sent.Querier == "" {
		bare.Querier = "" // the node names the querier its certificate names
	}
	if j := bare.GetJoint(); j != nil {
		// The node adds the proxy checks of a segmenting purpose, with the
		// protected columns they need (fillProxyChecks).
		j.ProxyChecks, j.ProxyGuards = nil, nil
		if s := sent.GetJoint(); s != nil {
			named := func(cols []*pb.ColumnRef) func(*pb.ColumnRef) bool {
				return func(c *pb.ColumnRef) bool {
					return !slices.ContainsFunc(cols, func(d *pb.ColumnRef) bool { return d.Owner == c.Owner && d.Name == c.Name })
				}
			}
			j.X = slices.DeleteFunc(j.X, named(s.X))
			j.Y = slices.DeleteFunc(j.Y, named(s.Y))
		}
		for _, c := range append(slices.Clone(j.X), j.Y...) {
			c.Lo, c.Hi, c.Levels, c.Unit, c.Step = 0, 0, nil, "", 0
		}
	}
	if q.Joint == nil || !proto.Equal(bare, sent) {
		return nil, fmt.Errorf("%w: the planned query differs from the one sent", ErrBadPeerMessage)
	}
	if want := append([]string{q.Joint.X[0].Ref.Owner}, q.Joint.yOwners()...); !slices.Equal(r.Owners, want) {
		return nil, fmt.Errorf("%w: the plan names owners %v, the query %v", ErrBadPeerMessage, r.Owners, want)
	}
	if len(r.Refusal) > 1024 {
		return nil, fmt.Errorf("%w: a refusal longer than 1024 bytes", ErrBadPeerMessage)
	}
	refusedBy := r.RefusedBy
	switch {
	case r.Refusal == "":
		refusedBy = ""
	case refusedBy == "":
		refusedBy = r.Owners[0] // a node that names no refusing owner answers for itself
	case !slices.Contains(r.Owners, refusedBy):
		return nil, fmt.Errorf("%w: the plan says %q would refuse, which is no owner of the query", ErrBadPeerMessage, refusedBy)
	}
	req := q.request()
	req.MaxRecords, req.KeyHolders = 0, 0
	return &JointPlan{Request: req, Owners: r.Owners, MinGroupSize: int(r.MinGroupSize), Refusal: r.Refusal, RefusedBy: refusedBy}, nil
}
