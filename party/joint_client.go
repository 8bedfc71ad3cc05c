package party

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jointly-dev/jointly/crypto/upload"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// JointRequest is a querier's joint query.
type JointRequest struct {
	// X are columns of the node the query is sent to, Y of the other owner
	// (or of Pool, with the pool's name as their owner), as owner.column
	// references; bounds are filled in by the nodes.
	X, Y          []aggregate.ColumnRef
	Pool          *Pool
	Correlations  bool
	Rates         []aggregate.RateRequest
	Regressions   []aggregate.RegressionRequest
	Contingencies []aggregate.ContingencyRequest
	Purpose       string
	Epsilon       float64
	Delta         float64
	Exact         bool
	Querier       string
	// Evaluator, if set, is the owner the query is meant for: any other
	// node refuses it rather than evaluate it with its own columns.
	Evaluator string
	// CorrelationX and CorrelationY are the columns of the correlations
	// (aggregate.Request): both empty for every x × y pair. CorrelationBy,
	// if set, groups them by a column of either owner, cut at
	// CorrelationEdges when it is numeric.
	CorrelationX, CorrelationY []aggregate.ColumnRef
	CorrelationBy              aggregate.ColumnRef
	CorrelationEdges           []float64
}

// JointResult is a decrypted joint query.
type JointResult struct {
	// QueryID is the id the query was charged and released under at every
	// owner (their audit logs name it); Purpose is the query's.
	QueryID, Purpose string
	// Columns are the query's columns as the owners evaluated them, the
	// evaluator's x columns then the y columns, with the bounds each value
	// was clipped to.
	Columns []aggregate.ColumnInfo
	// Phases is the wall time of each phase at the evaluating node
	// ("match", "upload_evaluate", "release"); UploadedBytes and
	// UploadedColumns describe the encrypted upload.
	Phases          map[string]time.Duration
	UploadedBytes   int64
	UploadedColumns int
	// Products is the number of products of the plan, Withheld how many of
	// them stayed encrypted in stage two because their gating count was
	// below MinGroupSize.
	Products, Withheld int
	Cells              []aggregate.Cell
	Owners             []string
	// BudgetLeft is the querier's privacy budget left at each owner once
	// this query was charged.
	BudgetLeft map[string]ledger.Budget
	// UnionSize is the plan's bound on the records: the union size padded
	// with DP noise (aggregate.SessionPadding), or the union size itself in
	// exact mode.
	UnionSize    int
	MinGroupSize int
	Exact        bool
	Epsilon      float64
	Delta        float64
	// Compiled is the query as the owners compiled it.
	Compiled *aggregate.Compiled
	// Predicted is the accuracy planner's prediction of Cells, cell by
	// cell, once Predict has made it.
	Predicted *aggregate.AccuracyPlan
	// Resolution is the resolution each column of the query was encoded
	// at, by "owner.column": its declared step, or the power-of-two unit
	// the query chose (aggregate.Compiled.Resolutions).
	Resolution map[string]float64
}

// Joint runs a joint query through the node and decrypts the result.
func (c *Client) Joint(ctx context.Context, r JointRequest) (*JointResult, error) {
	qs, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	info, params, sk, pkBytes, id := qs.info, qs.params, qs.sk, qs.pk, qs.id
	spec := jointRequestToProto(r, id, pkBytes)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stream, err := pb.NewQueryClient(c.conn).SubmitJoint(ctx, &pb.SubmitRequest{Query: spec})
	if err != nil {
		return nil, fromStatus(info.Node, "submit", err)
	}
	recv := func() (*pb.JointResultPart, error) {
		part, err := stream.Recv()
		return part, fromStatus(info.Node, "submit", err)
	}
	return decodeJoint(params, sk, spec, progressParts(recv, progressFn(ctx)))
}

// progressParts reads the progress reports at the head of a result
// stream, checks that each phase only moves forward and hands them to
// onProgress (if set); it returns the stream's other parts.
func progressParts(recv func() (*pb.JointResultPart, error), onProgress func(Progress)) func() (*pb.JointResultPart, error) {
	last := map[string]uint64{}
	return func() (*pb.JointResultPart, error) {
		for {
			part, err := recv()
			if err != nil {
				return nil, err
			}
			p := part.GetProgress()
			if p == nil {
				return part, nil
			}
			if p.Done > p.Total || p.Done < last[p.Phase] {
				return nil, fmt.Errorf("%w: progress of %s goes from %d to %d of %d", ErrBadPeerMessage, p.Phase, last[p.Phase], p.Done, p.Total)
			}
			last[p.Phase] = p.Done
			if onProgress != nil {
				onProgress(progressFromProto(p))
			}
		}
	}
}

// decodeJoint reads a joint query's result stream (recv) for the query
// spec the querier sent, checks it against the querier's own compilation
// of the query, and decrypts it with sk.
func decodeJoint(params rlwe.Parameters, sk *rlwe.SecretKey, spec *pb.QuerySpec, recv func() (*pb.JointResultPart, error)) (*JointResult, error) {
	id, pkBytes := spec.Id, spec.QuerierPublicKey
	first, err := recv()
	if err != nil {
		return nil, err
	}
	h := first.GetHeader()
	if h == nil || h.Query == nil || h.Query.Id != id {
		return nil, fmt.Errorf("%w: result stream does not start with its header", ErrBadPeerMessage)
	}
	// The query as the owners evaluated it: same columns, bounds filled in,
	// the union size that sizes the plan.
	q, err := queryFromProto(params, h.Query)
	if err != nil {
		return nil, err
	}
	if q.Joint == nil || !bytes.Equal(h.Query.QuerierPublicKey, pkBytes) || q.Exact != spec.Exact || q.Epsilon != spec.Epsilon {
		return nil, fmt.Errorf("%w: the evaluated query differs from the one sent", ErrBadPeerMessage)
	}
	compiled, err := aggregate.Compile(params, q.request())
	if err != nil {
		return nil, err
	}
	if want := append([]string{q.Joint.X[0].Ref.Owner}, q.Joint.yOwners()...); !slices.Equal(h.Owners, want) {
		return nil, fmt.Errorf("%w: the result names owners %v, the query %v", ErrBadPeerMessage, h.Owners, want)
	}
	plan := compiled.Plan()
	if int(h.Products) != len(plan.Products()) || len(h.ReleasedProducts) > len(plan.Products()) {
		return nil, fmt.Errorf("%w: the result header does not fit the plan of %d products", ErrBadPeerMessage, len(plan.Products()))
	}
	counts, err := countsFromProto(h.CountStats, h.CountValues)
	if err != nil {
		return nil, err
	}
	released := make([]bool, len(plan.Products()))
	var two []int
	for _, i := range h.ReleasedProducts {
		if int(i) >= len(released) || released[i] {
			return nil, fmt.Errorf("%w: product %d released twice or out of range", ErrBadPeerMessage, i)
		}
		released[i] = true
		two = append(two, int(i))
	}
	layout, err := plan.PackLayout(two)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	dec := rlwe.NewDecryptor(params, sk)
	packs := make([]*upload.Packed, len(layout))
	pts := make([]*rlwe.Plaintext, len(layout))
	for g, group := range layout {
		part, err := recv()
		if err != nil {
			return nil, err
		}
		ct := rlwe.NewCiphertext(params, 1, productLevel(plan, group[0]))
		if err := crypto.UnmarshalWire(params, part.GetCiphertext(), ct); err != nil {
			return nil, fmt.Errorf("%w: result ciphertext %d: %v", ErrBadPeerMessage, g, err)
		}
		packs[g] = &upload.Packed{Products: group, Stride: plan.PackStride(len(group)), Ct: ct}
		pts[g] = dec.DecryptNew(ct)
	}
	cells, err := decodeCells(compiled, packs, pts, counts, released, len(h.Owners), int(h.MinGroupSize))
	if err != nil {
		return nil, err
	}
	phases := map[string]time.Duration{}
	for k, v := range h.PhaseSeconds {
		phases[k] = time.Duration(v * float64(time.Second))
	}
	withheld := len(plan.Products()) - len(compiled.StageOneProducts()) - len(h.ReleasedProducts)
	left := map[string]ledger.Budget{}
	for o, e := range h.EpsilonLeft {
		left[o] = ledger.Budget{Epsilon: e, Delta: h.DeltaLeft[o]}
	}
	columns := append(slices.Clone(q.Joint.X), q.Joint.Y...)
	return &JointResult{QueryID: id, Purpose: spec.Purpose, Columns: columns, Products: len(plan.Products()), Withheld: withheld, Phases: phases, UploadedBytes: int64(h.UploadedBytes), UploadedColumns: int(h.UploadedColumns), Cells: cells, Owners: h.Owners, BudgetLeft: left, UnionSize: q.Joint.UnionSize, MinGroupSize: int(h.MinGroupSize),
		Exact: q.Exact, Epsilon: q.Epsilon, Delta: q.Delta, Compiled: compiled, Resolution: compiled.Resolutions()}, nil
}

// decodeCells decodes the released packs and computes the result cells: in
// exact mode from the exact integers the plan lets the querier round to
// (upload.Plan.DecodePackedExact), otherwise from the noisy sums.
func decodeCells(compiled *aggregate.Compiled, packs []*upload.Packed, pts []*rlwe.Plaintext, counts map[int]float64, released []bool, owners, minGroupSize int) ([]aggregate.Cell, error) {
	plan := compiled.Plan()
	if !compiled.Request().Exact {
		decoded, err := plan.DecodePacked(packs, pts)
		if err != nil {
			return nil, err
		}
		return compiled.Results(compiled.StageTwoStats(decoded, counts, released), owners, minGroupSize)
	}
	decoded, err := plan.DecodePackedExact(packs, pts)
	if err != nil {
		return nil, err
	}
	stats, err := compiled.StageTwoExact(decoded, counts, released)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	return compiled.ExactResults(stats, minGroupSize)
}
