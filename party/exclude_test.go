package party_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// excludeWorld writes a small generated world with raw transactions and
// configures a two-node cluster on it: node0 reads the retailer's
// transactions and excludes exclude, node1 reads the insurer's file.
func excludeWorld(t *testing.T, exclude ...string) *partytest.Cluster {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 300, Overlap: 0.5, Seed: 3, Transactions: true}); err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	retailer, insurer := synth.RetailerSource(dir, synth.FormatCSV, true, m), synth.InsurerSource(dir, synth.FormatCSV, m)
	c := partytest.Configure(t, 2, partytest.Options{})
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	c.Configs[0].Policy.Exclude = exclude
	return c
}

// TestNodeRefusesUnknownExclusion: a misspelt exclusion stops the node
// before it starts, with the name and what the source reads.
func TestNodeRefusesUnknownExclusion(t *testing.T) {
	c := excludeWorld(t, "spend_pharmacy", "spend_diet_aidz")
	_, err := party.New(c.Configs[0], hclog.NewNullLogger())
	if !errors.Is(err, party.ErrConfig) {
		t.Fatalf("error %v, want a configuration error", err)
	}
	for _, w := range []string{"exclude", `"spend_diet_aidz" is neither a column nor a transactions category`, "spend_diet_aids", "diet_aids"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}

	// A column that sums the excluded category under another name is
	// refused the same way.
	c = excludeWorld(t, "spend_pharmacy")
	lo, hi := 0.0, 6250.0
	rx := source.Column{Name: "spend_rx", Type: source.TypeNumeric, Lo: &lo, Hi: &hi, Category: "pharmacy"}
	c.Configs[0].Source.Columns = append(c.Configs[0].Source.Columns, rx)
	if _, err := party.New(c.Configs[0], hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), `column "spend_rx" sums the transactions category "pharmacy"`) {
		t.Fatalf("error %v, want the category column refused", err)
	}
}

// TestExcludedCategoryOverGRPC: a node that reads raw transactions and
// excludes a category loads none of it, and refuses queries that name it,
// over real gRPC with mutual TLS.
func TestExcludedCategoryOverGRPC(t *testing.T) {
	c := excludeWorld(t, "spend_pharmacy")
	cfg := c.Configs[0]
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tab, err := party.LoadTable(context.Background(), &cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Values["spend_pharmacy"]; ok || len(tab.Values) != len(synth.DefaultModel().Spend)-1 || len(tab.Values["spend_alcohol"]) == 0 {
		t.Fatalf("loaded %d columns, want every spend column but pharmacy", len(tab.Values))
	}

	for i := range c.Configs {
		c.StartNode(t, i) // each node reads its own source
	}
	c.WaitSetup(t)
	ctx := context.Background()
	client := c.Dial(t, 0)
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{ref(0, "spend_pharmacy")},
		Y:            []aggregate.ColumnRef{ref(1, "claims_diabetes")},
		Correlations: true, Purpose: "research", Exact: true,
	}
	// The column is refused by the policy, or, not having been read, is
	// not offered at all.
	refused := func(err error, col string) bool {
		return err != nil && (strings.Contains(err.Error(), `node0 refuses: column "`+col+`" is excluded by policy`) ||
			strings.Contains(err.Error(), `unknown column "`+col+`"`))
	}
	if _, err := client.Joint(ctx, req); !refused(err, "spend_pharmacy") {
		t.Fatalf("joint query of the excluded column: %v", err)
	}
	req.X = []aggregate.ColumnRef{ref(0, "pharmacy")}
	if _, err := client.Joint(ctx, req); !refused(err, "pharmacy") {
		t.Fatalf("joint query of the excluded category: %v", err)
	}
	// The other columns are served.
	req.X = []aggregate.ColumnRef{ref(0, "spend_diet_aids")}
	res, err := client.Joint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cells) == 0 {
		t.Fatal("no cells")
	}
}
