package party

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Accuracy planning (docs/results.md, "Planning a query"): before a
// querier spends budget, the node it would send a joint query to tells it
// what the querier's planner needs and cannot know alone — the declared
// bounds of the other owners' columns, which owners would add noise, and
// their release threshold — all public. The querier's client predicts the
// release with aggregate.PlanAccuracy. Nothing is read from the data,
// charged or released; the node audits the request.

// KindPlan is the audit kind of a plan a node answered: the querier and
// purpose, and in the detail the owners and the number of columns.
const KindPlan audit.Kind = "plan"

// planQuery answers a plan of the joint query spec, asked by querier: the
// query with its bounds filled in, as the owners would evaluate it.
func (n *Node) planQuery(ctx context.Context, spec *pb.QuerySpec) (*pb.PlanResponse, error) {
	if ev := spec.Evaluator; ev != "" && ev != n.cfg.Name {
		return nil, fmt.Errorf("%w: the query is addressed to %s, and this node is %s: send it to %s", ErrBadRequest, ev, n.cfg.Name, ev)
	}
	j := spec.GetJoint()
	if j == nil || len(j.X) == 0 || len(j.Y) == 0 {
		return nil, fmt.Errorf("%w: a joint query needs x and y columns", ErrBadRequest)
	}
	j.UnionSize, j.Matches, j.KeyHolders = 0, nil, 0
	asked, err := queryFromProto(n.params, spec)
	if err != nil {
		return nil, err
	}
	owners, err := n.jointOwners(asked.Joint)
	if err != nil {
		return nil, err
	}
	table, err := n.table()
	if err != nil {
		return nil, err
	}
	infos, err := n.peerInfos(ctx, owners)
	if err != nil {
		return nil, err
	}
	if err := n.fillBounds(j, table, owners, infos); err != nil {
		return nil, err
	}
	// The proxy checks the owners would ask for take their share of the
	// budget: the plan has them as the query would.
	if err := n.fillProxyChecks(spec, table, owners, infos); err != nil {
		return nil, err
	}
	q, err := queryFromProto(n.params, spec)
	if err != nil {
		return nil, err
	}
	if err := n.checkOwnColumns(q, table); err != nil {
		return nil, err
	}
	if err := checkCompiles(n.params, q); err != nil {
		return nil, err
	}
	minGroup, err := n.minGroupSize(ctx, owners)
	if err != nil {
		return nil, err
	}
	all := append([]string{n.cfg.Name}, owners...)
	refusal, detail := n.planRefusal(q, refNames(q.ownColumns(n.cfg.Name)))
	refusedBy := ""
	if refusal != "" {
		refusedBy = n.cfg.Name
	}
	if err := n.recordPlan(q, all, refusal, detail); err != nil {
		return nil, err
	}
	if refusal == "" {
		if refusedBy, refusal, err = n.peersPlan(ctx, spec, owners); err != nil {
			return nil, err
		}
	}
	n.logger.Named("query").Info("plan answered", "querier", q.Querier, "owners", len(all))
	return &pb.PlanResponse{Query: spec, Owners: all, MinGroupSize: uint32(minGroup), Refusal: refusal, RefusedBy: refusedBy}, nil
}

// recordPlan audits a plan this owner answered: the querier and purpose,
// the owners, the number of columns, the planned ε (no cost: it stays in
// the detail, so that no report counts it) and why the policy would
// refuse the query, with the rule it breaks.
func (n *Node) recordPlan(q *Query, owners []string, refusal string, ruleDetail map[string]string) error {
	detail := map[string]string{"owners": strings.Join(owners, ","), "columns": fmt.Sprint(len(q.Joint.X) + len(q.Joint.Y))}
	if refusal != "" {
		detail["would_refuse"] = refusal
		maps.Copy(detail, ruleDetail)
	}
	if !q.Exact {
		detail["planned_epsilon"] = fmt.Sprintf("%g", q.Epsilon)
	}
	return n.record(audit.Event{Kind: KindPlan, Querier: q.Querier, Purpose: q.Purpose, Detail: detail})
}

// peersPlan asks every y owner whether its policy would refuse the query
// (an Admit round marked plan: nothing charged) and returns the first
// that would, with its reason.
func (n *Node) peersPlan(ctx context.Context, spec *pb.QuerySpec, owners []string) (owner, refusal string, err error) {
	refusals := make([]string, len(owners))
	err = forEachPeer(ctx, owners, func(ctx context.Context, k int, o string) error {
		r, err := n.tr.Admit(ctx, o, &pb.AdmitRequest{Query: spec, Evaluator: n.cfg.Name, Plan: true})
		if err != nil {
			return err
		}
		refusals[k] = r.WouldRefuse
		return nil
	})
	if err != nil {
		return "", "", err
	}
	for k, r := range refusals {
		if r != "" {
			return owners[k], r, nil
		}
	}
	return "", "", nil
}

// minGroupSize is the release threshold of a query with the y owners:
// the largest min_group_size of this node and theirs (their Info).
func (n *Node) minGroupSize(ctx context.Context, owners []string) (int, error) {
	sizes := make([]int, len(owners))
	err := forEachPeer(ctx, owners, func(ctx context.Context, k int, peer string) error {
		info, err := n.tr.Info(ctx, peer)
		if err != nil {
			return err
		}
		sizes[k] = int(info.MinGroupSize)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return max(n.cfg.Policy.MinGroupSize, slices.Max(append(sizes, 0))), nil
}

// JointPlan is a node's answer to a plan and the planner's prediction.
type JointPlan struct {
	// Plan is the predicted release, cell by cell.
	Plan *aggregate.AccuracyPlan
	// Request is the query as the owners would compile it (bounds filled
	// in; the union, unknown before the query runs, left at 0).
	Request aggregate.Request
	// Owners are the data owners that would add noise, the evaluator
	// first; MinGroupSize their release threshold.
	Owners       []string
	MinGroupSize int
	// Refusal says why an owner's policy would refuse the query (the
	// evaluating node's, else a y owner's), or is "", and RefusedBy names
	// that owner. Every owner checks its purposes, queriers, columns and
	// purpose rules; budgets are checked when the query runs.
	Refusal, RefusedBy string
}

// Plan asks the node how it would evaluate r and predicts the release
// under a and t (aggregate.PlanAccuracy), free of charge: the node reads
// no data and charges nothing, and audits the request. a.MinGroupSize is
// raised to the owners' threshold.
func (c *Client) Plan(ctx context.Context, r JointRequest, a aggregate.Assumptions, t aggregate.Targets) (*JointPlan, error) {
	qs, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	spec := jointRequestToProto(r, qs.id, qs.pk)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := pb.NewQueryClient(c.conn).Plan(ctx, &pb.PlanRequest{Query: proto.Clone(spec).(*pb.QuerySpec)})
	if err != nil {
		return nil, fromStatus(qs.info.Node, "plan", err)
	}
	p, err := planFromProto(qs.params, spec, resp)
	if err != nil {
		return nil, err
	}
	a.MinGroupSize = max(a.MinGroupSize, p.MinGroupSize)
	if p.Plan, err = aggregate.PlanAccuracy(qs.params, p.Request, a, t); err != nil {
		return nil, err
	}
	return p, nil
}

// Predict sets r.Predicted: the planner's prediction of r's cells under a
// and t, to read beside the realised ones. Whatever a leaves open is taken
// from r itself: N from its count, the means and standard deviations of
// the columns a does not model from its mean and variance cells (what the
// same query would get again), and the release threshold from r.
func (r *JointResult) Predict(a aggregate.Assumptions, t aggregate.Targets) error {
	if r.Compiled == nil {
		return fmt.Errorf("%w: a result without its compiled query", ErrBadRequest)
	}
	own := aggregate.AssumptionsFromCells(r.Cells)
	if a.N == 0 && a.Sample == nil {
		a.N = own.N
	}
	for ref, m := range a.Columns {
		own.Columns[ref] = m
	}
	for ref, g := range a.Groups {
		own.Groups[ref] = g
	}
	for k, r := range a.Rates {
		own.Rates[k] = r
	}
	a.Columns, a.Groups, a.Rates = own.Columns, own.Groups, own.Rates
	a.MinGroupSize = max(a.MinGroupSize, r.MinGroupSize)
	p, err := r.Compiled.PlanAccuracy(a, t)
	if err != nil {
		return err
	}
	r.Predicted = p
	return nil
}
