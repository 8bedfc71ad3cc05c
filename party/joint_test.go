package party_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/synth"
)

// jointWorld loads a generated world's retailer and insurer tables.
func jointWorld(t *testing.T, customers int, overlap float64) (*party.Table, *party.Table) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, synth.Options{Dir: dir, Customers: customers, Overlap: overlap, Seed: 21}); err != nil {
		t.Fatal(err)
	}
	load := func(src func() party.Config) *party.Table {
		cfg := src()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		tab, err := party.LoadTable(ctx, &cfg, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	base := func() party.Config {
		cfg := party.DefaultConfig()
		cfg.Name, cfg.Federation, cfg.Listen, cfg.DataDir, cfg.InsecureLoopback = "x", "f", "127.0.0.1:1", t.TempDir(), true
		cfg.Peers = []party.PeerConfig{{Name: "y", Address: "127.0.0.1:2"}}
		return cfg
	}
	r := load(func() party.Config {
		c := base()
		s := synth.RetailerSource(dir, "csv", false, synth.DefaultModel())
		c.Source = &s
		return c
	})
	i := load(func() party.Config {
		c := base()
		s := synth.InsurerSource(dir, "csv", synth.DefaultModel())
		c.Source = &s
		return c
	})
	return r, i
}

// plainJoin computes the sufficient statistics of x (retailer) and y
// (insurer) over the records both hold, joined on the identifier.
func plainJoin(r, i *party.Table, x, y string) (n, sx, sy, sxx, syy, sxy float64) {
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		a, b := r.Values[x][k], i.Values[y][j]
		n++
		sx, sy, sxx, syy, sxy = sx+a, sy+b, sxx+a*a, syy+b*b, sxy+a*b
	}
	return
}

func TestJointQueryExact(t *testing.T) {
	r, i := jointWorld(t, 600, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{ref(0, "spend_diet_aids"), ref(0, "spend_alcohol")},
		Y:            []aggregate.ColumnRef{ref(1, "claims_diabetes"), ref(1, "claims_liver"), ref(1, "exposure_months")},
		Correlations: true,
		Rates:        []aggregate.RateRequest{{Events: ref(1, "claims_diabetes"), Exposure: ref(1, "exposure_months"), By: ref(0, "spend_diet_aids"), Edges: []float64{50, 200}}},
		Purpose:      "research",
		Exact:        true,
	}
	res, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellPearson {
			continue
		}
		x := strings.TrimPrefix(cell.X, partytest.NodeName(0)+".")
		y := strings.TrimPrefix(cell.Y, partytest.NodeName(1)+".")
		n, sx, sy, sxx, syy, sxy := plainJoin(r, i, x, y)
		want := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
		if math.Abs(cell.Value-want) > 1e-6 || cell.N != n || !cell.Exact {
			t.Fatalf("r(%s, %s) = %v over %v records, want %v over %v", x, y, cell.Value, cell.N, want, n)
		}
		checked++
	}
	if checked != 6 {
		t.Fatalf("%d correlations checked, want 6", checked)
	}
	// Rates per bucket of diet-aid spend, against the plaintext join.
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	edges := []float64{50, 200}
	var ev, ex [3]float64
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		b := 0
		for b < len(edges) && r.Values["spend_diet_aids"][k] >= edges[b] {
			b++
		}
		ev[b] += i.Values["claims_diabetes"][j]
		ex[b] += i.Values["exposure_months"][j]
	}
	var rates int
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellRate {
			continue
		}
		want := ev[rates] / ex[rates]
		if math.Abs(cell.Value-want) > 1e-6*math.Max(1, want) {
			t.Fatalf("rate in bucket %s = %v, want %v", cell.Group, cell.Value, want)
		}
		rates++
	}
	if rates != 3 {
		t.Fatalf("%d rate cells, want 3 buckets", rates)
	}

	// The same query with DP noise: charged at both owners, values near the
	// exact ones, every cell carrying its noise scale.
	req.Exact, req.Epsilon, req.Delta = false, 1, 1e-6
	noisy, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if noisy.Exact || len(noisy.Cells) != len(res.Cells) {
		t.Fatalf("noisy result: exact=%v, %d cells", noisy.Exact, len(noisy.Cells))
	}
	for k, cell := range noisy.Cells {
		if cell.Statistic == aggregate.CellCount && (cell.NoiseStd <= 0 || math.Abs(cell.Value-res.Cells[k].Value) > 8*cell.NoiseStd+1) {
			t.Fatalf("noisy count %v ± %v, exact %v", cell.Value, cell.NoiseStd, res.Cells[k].Value)
		}
	}
	for k := range c.Configs {
		acc, err := ledgerSpent(c.Configs[k])
		if err != nil {
			t.Fatal(err)
		}
		if acc != 1 {
			t.Fatalf("%s charged ε = %v, want 1", c.Configs[k].Name, acc)
		}
	}
}

func ledgerSpent(cfg party.Config) (float64, error) {
	accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
	if err != nil {
		return 0, err
	}
	for _, a := range accounts {
		if a.Querier == partytest.Querier {
			return a.Spent.Epsilon, nil
		}
	}
	return 0, nil
}
