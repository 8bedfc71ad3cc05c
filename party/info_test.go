package party_test

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/synth"
)

// TestInfo: over real gRPC with mutual TLS, a node describes its columns
// with their bounds, a categorical column's levels and a numeric column's
// unit, and tells the querier its budget there, what is left once a query
// was charged.
func TestInfo(t *testing.T) {
	dir := t.TempDir()
	model := synth.DefaultModel()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 200, Overlap: 0.5, Seed: 3, Format: synth.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	c := partytest.Configure(t, 2, partytest.Options{})
	retailer, insurer := synth.RetailerSource(dir, synth.FormatCSV, false, model), synth.InsurerSource(dir, synth.FormatCSV, model)
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	c.Configs[1].Queriers[0].Epsilon, c.Configs[1].Queriers[0].Delta = 3, 1e-5
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	ctx := context.Background()

	info, err := c.Dial(t, 1).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Levels["age_band"], model.AgeBands) || len(info.Levels) != 1 {
		t.Fatalf("levels %v, want age_band %v", info.Levels, model.AgeBands)
	}
	if b := info.Bounds["age_band"]; b != [2]float64{0, float64(len(model.AgeBands) - 1)} {
		t.Fatalf("age_band bounds %v", b)
	}
	if b, ok := info.Bounds["exposure_months"]; !ok || b[1] <= b[0] {
		t.Fatalf("exposure_months bounds %v", b)
	}
	if u := info.Units; u["exposure_months"] != "months" || len(u) != 1 {
		t.Fatalf("units %v, want exposure_months in months", u)
	}
	want := &party.QuerierBudget{Querier: partytest.Querier}
	want.Budget.Epsilon, want.Budget.Delta = 3, 1e-5
	want.Left = want.Budget
	if !reflect.DeepEqual(info.Budget, want) {
		t.Fatalf("budget %+v, want %+v", info.Budget, want)
	}

	// A query charges the budget; Info says what is left.
	req := party.JointRequest{Purpose: "research", Epsilon: 1, Delta: 1e-7, Correlations: true,
		X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}},
		Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}}}
	if _, err := c.Dial(t, 0).Joint(ctx, req); err != nil {
		t.Fatal(err)
	}
	info, err = c.Dial(t, 1).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := info.Budget.Left; l.Epsilon != 2 || math.Abs(l.Delta-9.9e-6) > 1e-18 {
		t.Fatalf("left %+v after a query at ε = 1, δ = 1e-7", l)
	}

	// A node calling is no querier: no budget.
	peer, err := party.DialTLS(c.Nodes[1].Addr(), filepath.Join(c.PKIDir, partytest.NodeName(0)), partytest.NodeName(0), partytest.NodeName(1), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if info, err := peer.Info(ctx); err != nil || info.Budget != nil {
		t.Fatalf("a peer's Info: %v, budget %+v", err, info.Budget)
	}
}

// TestInfoInsecure: in loopback development the querier names itself.
func TestInfoInsecure(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{Insecure: true})
	cl := c.Dial(t, 0)
	info, err := cl.InfoFor(context.Background(), partytest.Querier)
	if err != nil || info.Budget == nil || info.Budget.Querier != partytest.Querier || info.Budget.Left != info.Budget.Budget {
		t.Fatalf("%v, budget %+v", err, info.Budget)
	}
	for _, name := range []string{"", "stranger"} {
		if info, err := cl.InfoFor(context.Background(), name); err != nil || info.Budget != nil {
			t.Fatalf("Info for %q: %v, budget %+v", name, err, info.Budget)
		}
	}
}
