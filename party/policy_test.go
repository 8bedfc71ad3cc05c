package party_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestPolicyRules runs one query per policy rule over real gRPC with mutual
// TLS; each owner's refusal stops the query with its reason.
func TestPolicyRules(t *testing.T) {
	r, i := jointWorld(t, 400, 0.5)
	delete(r.Values, "spend_pharmacy") // as LoadTable does for an excluded column
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	c.Configs[0].Policy = &party.PolicyConfig{Purposes: []string{"research"}, Exclude: []string{"spend_pharmacy"}, MinGroupSize: 10}
	c.Configs[1].Policy = &party.PolicyConfig{Purposes: []string{"research", "product_design"}, AllowExact: true, MinGroupSize: 10}
	c.Configs[1].Queriers[0].Epsilon = 3
	c.StartAll(t)
	ctx := context.Background()
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	base := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-6)
	client := c.Dial(t, 0)
	refused := func(name string, req party.JointRequest, who, reason string) {
		t.Helper()
		res, err := client.Joint(ctx, req)
		if err == nil {
			t.Fatalf("%s: answered with %d cells", name, len(res.Cells))
		}
		if !strings.Contains(err.Error(), who) || !strings.Contains(err.Error(), reason) {
			t.Fatalf("%s: %v (want %s refusing: %s)", name, err, who, reason)
		}
	}

	under := base
	under.Purpose = "underwriting"
	refused("purpose", under, "node0 refuses", "purpose \"underwriting\" is not allowed")

	design := base
	design.Purpose = "product_design" // allowed at node1, not at node0
	refused("purpose of one owner", design, "node0 refuses", "product_design")

	exact := base
	exact.Exact, exact.Epsilon, exact.Delta = true, 0, 0
	refused("exact mode", exact, "node0 refuses", "exact")

	excluded := base
	excluded.X = []aggregate.ColumnRef{ref(0, "spend_pharmacy")}
	if _, err := client.Joint(ctx, excluded); err == nil || !strings.Contains(err.Error(), "spend_pharmacy") {
		t.Fatalf("excluded column: %v", err)
	}

	// The budget: node1 allows ε = 3 in total.
	if _, err := client.Joint(ctx, base); err != nil {
		t.Fatal(err)
	}
	big := base
	big.Epsilon = 2.5
	refused("budget", big, "node1 refuses", "privacy budget exhausted: ε runs out")
	if _, err := client.Joint(ctx, big); !errors.Is(err, party.ErrBudgetExhausted) || !errors.Is(err, party.ErrPolicy) {
		t.Fatalf("budget: %v is not ErrBudgetExhausted", err)
	}
	if _, err := client.Joint(ctx, under); errors.Is(err, party.ErrBudgetExhausted) || !errors.Is(err, party.ErrPolicy) {
		t.Fatalf("purpose: %v is not a policy refusal only", err)
	}

	// min_group_size, two stages: with k between the bucket sizes, the
	// counts are all released, the big buckets' rates too, the small
	// buckets' not.
	c.StopNode(t, 1)
	c.Configs[1].Policy.MinGroupSize = 40
	c.Configs[1].Queriers[0].Epsilon = 100
	c.StartNode(t, 1)
	c.WaitSetup(t)
	rated := base
	rated.Epsilon = 8 // little noise: every bucket's noisy count falls on its side of k
	rated.Y = append(rated.Y, ref(1, "exposure_months"))
	rated.Rates = []aggregate.RateRequest{{Events: ref(1, "claims_diabetes"), Exposure: ref(1, "exposure_months"), By: ref(0, "spend_diet_aids"), Edges: []float64{1, 300}}}
	res, err := c.Dial(t, 0).Joint(ctx, rated)
	if err != nil {
		t.Fatal(err)
	}
	if res.MinGroupSize != 40 {
		t.Fatalf("the release used k = %d, want the larger of the owners' 10 and 40", res.MinGroupSize)
	}
	var small, large int
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellRate {
			continue
		}
		switch {
		case cell.N < 40 && !cell.Suppressed:
			t.Fatalf("rate of bucket %s released with %v people", cell.Group, cell.N)
		case cell.N < 40:
			small++
		case cell.Suppressed && strings.Contains(cell.Reason, "min_group_size"):
			t.Fatalf("rate of bucket %s suppressed with %v people: %s", cell.Group, cell.N, cell.Reason)
		default:
			large++
		}
	}
	if small == 0 || large == 0 {
		t.Fatalf("%d small and %d large buckets: the test needs both", small, large)
	}
	// The small buckets' events and exposure were never key-switched to the
	// querier: two products per small bucket stayed encrypted.
	if res.Withheld != 2*small {
		t.Fatalf("%d products withheld, want %d", res.Withheld, 2*small)
	}

	// With k above the common customers every value is suppressed, the
	// counts still released.
	c.StopNode(t, 0)
	c.Configs[0].Policy.MinGroupSize = 100000
	c.StartNode(t, 0)
	c.WaitSetup(t)
	res, err = c.Dial(t, 0).Joint(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Withheld != res.Products-1 {
		t.Fatalf("%d of %d products withheld; all but the count should be", res.Withheld, res.Products)
	}
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellCount && !cell.Suppressed {
			t.Fatalf("cell %s %s %s released below min_group_size", cell.Statistic, cell.X, cell.Y)
		}
		if cell.Statistic == aggregate.CellCount && (cell.Suppressed || cell.N <= 0) {
			t.Fatalf("the count was not released: %+v", cell)
		}
	}
}
