package party_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestPlan: a node answers a plan with the query as the owners would
// evaluate it — every bound as its owner declares it, the owners, the
// largest min_group_size — and the client predicts every cell; nothing is
// charged, the node audits the plan with the querier and purpose, and a
// plan of a query the node's policy would refuse says why.
func TestPlan(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	// Spend in whole cents: the node fills the declared step in too.
	r.Steps = map[string]float64{"spend_diet_aids": 0.01}
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	c.Configs[1].Policy.MinGroupSize = 25
	c.Configs[1].Queriers[0].Epsilon = 5
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{ref(0, "spend_diet_aids")},
		Y:            []aggregate.ColumnRef{ref(1, "claims_diabetes"), ref(1, "exposure_months")},
		Correlations: true,
		Rates:        []aggregate.RateRequest{{Events: ref(1, "claims_diabetes"), Exposure: ref(1, "exposure_months"), By: ref(0, "spend_diet_aids"), Edges: []float64{50, 200}}},
		Purpose:      "research",
		Epsilon:      1,
		Delta:        1e-7,
	}
	client := c.Dial(t, 0)
	ctx := context.Background()
	p, err := client.Plan(ctx, req, aggregate.Assumptions{N: 10000}, aggregate.Targets{aggregate.CellPearson: {HalfWidth: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Owners) != 2 || p.Owners[0] != partytest.NodeName(0) || p.Owners[1] != partytest.NodeName(1) || p.MinGroupSize != 25 || p.Refusal != "" {
		t.Fatalf("plan owners %v, min group size %d, refusal %q; want both nodes, 25 and none", p.Owners, p.MinGroupSize, p.Refusal)
	}
	for k, side := range [][]aggregate.ColumnInfo{p.Request.X, p.Request.Y} {
		info, err := c.Dial(t, k).Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range side {
			if ci.Step != info.Steps[ci.Ref.Name] {
				t.Errorf("%s planned at step %g, declared %g", ci.Ref, ci.Step, info.Steps[ci.Ref.Name])
			}
			if b := info.Bounds[ci.Ref.Name]; ci.Lo != b[0] || ci.Hi != b[1] {
				t.Errorf("%s planned on [%g, %g], declared [%g, %g]", ci.Ref, ci.Lo, ci.Hi, b[0], b[1])
			}
		}
	}
	if p.Plan.MinGroupSize != 25 || p.Plan.N != 10000 || p.Plan.Owners != 2 || p.Plan.Epsilon != 1 {
		t.Errorf("plan of %d people at ε %g, %d owners, threshold %d", int(p.Plan.N), p.Plan.Epsilon, p.Plan.Owners, p.Plan.MinGroupSize)
	}
	rs := 0
	for _, cell := range p.Plan.Cells {
		if cell.Statistic == aggregate.CellPearson {
			rs++
			if !(cell.NoiseStd > 0) || !(cell.EpsilonForTarget > 0) {
				t.Errorf("r %s × %s: noise %g, ε for ±0.05 %g", cell.X, cell.Y, cell.NoiseStd, cell.EpsilonForTarget)
			}
		}
	}
	if rs != 2 {
		t.Errorf("%d correlations planned, want 2", rs)
	}
	for k := range c.Configs {
		if spent, err := ledgerSpent(c.Configs[k]); err != nil || spent != 0 {
			t.Fatalf("%s: a plan charged ε %v (%v)", c.Configs[k].Name, spent, err)
		}
	}
	under := req
	under.Purpose = "underwriting"
	if p, err = client.Plan(ctx, under, aggregate.Assumptions{N: 10000}, nil); err != nil || p.Refusal == "" {
		t.Errorf("plan for underwriting: refusal %q, error %v; want a refusal", p.Refusal, err)
	}
	// A plan whose ε the querier's budget at an owner cannot pay says so,
	// before the query is sent, and charges nothing.
	costly := req
	costly.Epsilon = 6
	if p, err = client.Plan(ctx, costly, aggregate.Assumptions{N: 10000}, nil); err != nil || p.RefusedBy != partytest.NodeName(1) || !strings.Contains(p.Refusal, "privacy budget exhausted") {
		t.Errorf("plan at ε 6 against a budget of 5: refused by %q: %q, error %v; want node1's budget refusal", p.RefusedBy, p.Refusal, err)
	}
	events := auditLog(t, c.Configs[0])
	for _, e := range events {
		if e.Kind == audit.KindQueryReceived || e.Kind == audit.KindPolicyDecision {
			t.Errorf("a plan recorded %s", e.Kind)
		}
	}
	plans := ofKind(events, party.KindPlan)
	if len(plans) != 3 || plans[0].Querier != partytest.Querier || plans[0].Purpose != "research" || plans[1].Detail["would_refuse"] == "" {
		t.Errorf("plan events %+v", plans)
	}
	wrong := req
	wrong.Evaluator = partytest.NodeName(1)
	if _, err := client.Plan(ctx, wrong, aggregate.Assumptions{N: 10000}, nil); !errors.Is(err, party.ErrBadRequest) {
		t.Errorf("plan addressed to the other node: error %v, want ErrBadRequest", err)
	}
}
