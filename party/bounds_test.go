package party_test

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// TestAutoBounds: a node whose source declares automatic bounds estimates
// them when it first starts, from the records it reads: spend_alcohol's hi
// above a declared lo of 0, on its step of a cent, and both bounds of a
// signed column, balance. The estimates are the columns' public bounds
// (Info, and a joint query over them), each is charged once to the
// owner's own account in the ledger and recorded in the audit log and the
// transparency report. A restart reuses them without a charge; a changed
// auto_bounds estimates that column again; an owner budget that cannot pay
// stops the node, naming the column and the budget; and a lost ledger is
// rebuilt with the owner's charges.
func TestAutoBounds(t *testing.T) {
	// 2,000 customers give the retailer about 1,800 records to estimate
	// from: at ε = 1 a bound lands within the data's 90th percentile and
	// its extreme but with a chance below 1e-4 (docs/privacy.md).
	dir := t.TempDir()
	model := synth.DefaultModel()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 2000, Overlap: 0.5, Seed: 5, Format: synth.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	retailer, insurer := synth.RetailerSource(dir, synth.FormatCSV, false, model), synth.InsurerSource(dir, synth.FormatCSV, model)
	retailer.Path = withBalance(t, retailer.Path)
	declared := retailer
	declared.Columns = slices.Clone(retailer.Columns)
	declared.Columns = append(declared.Columns, source.Column{Name: "balance", Type: source.TypeNumeric, Lo: ptr(-1e6), Hi: ptr(1e6)})
	data := partytest.LoadTable(t, declared).Values

	cent := 0.01
	retailer.Columns = slices.Clone(retailer.Columns)
	for i := range retailer.Columns {
		if col := &retailer.Columns[i]; col.Name == "spend_alcohol" {
			col.Hi, col.Step = nil, &cent
			col.AutoBounds = &source.AutoBounds{Within: []float64{0, 1e6}, Epsilon: 1}
		}
	}
	retailer.Columns = append(retailer.Columns, source.Column{Name: "balance", Type: source.TypeNumeric,
		AutoBounds: &source.AutoBounds{Within: []float64{-1e6, 1e6}, Epsilon: 2}})
	c := partytest.Configure(t, 2, partytest.Options{Insecure: true})
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	c.Configs[0].Policy.OwnerEpsilon = 10
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	cfg := c.Configs[0]
	ctx := context.Background()

	info := func() *party.NodeInfo {
		t.Helper()
		i, err := c.Dial(t, 0).Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	first := info()
	alcohol, balance := first.Bounds["spend_alcohol"], first.Bounds["balance"]
	pct := func(col string, p float64) float64 {
		v := slices.Sorted(slices.Values(data[col]))
		return v[int(p*float64(len(v)-1))]
	}
	t.Logf("estimated bounds: spend_alcohol %v (data: p90 %g, max %g), balance %v (data: min %g, p10 %g, p90 %g, max %g)", alcohol,
		pct("spend_alcohol", 0.9), pct("spend_alcohol", 1), balance, pct("balance", 0), pct("balance", 0.1), pct("balance", 0.9), pct("balance", 1))
	if alcohol[0] != 0 || !source.OnGrid(alcohol[1], cent) {
		t.Errorf("spend_alcohol bounds %v: want lo 0 as declared and hi a whole number of cents", alcohol)
	}
	// The rounding outward widens an estimate by up to 1 %.
	if alcohol[1] < pct("spend_alcohol", 0.9) || alcohol[1] > 1.01*pct("spend_alcohol", 1) {
		t.Errorf("spend_alcohol's hi %g is not between the data's 90th percentile and its largest value", alcohol[1])
	}
	if balance[0] > pct("balance", 0.1) || balance[0] < 1.01*pct("balance", 0) || balance[1] < pct("balance", 0.9) || balance[1] > 1.01*pct("balance", 1) {
		t.Errorf("balance's bounds %v are not between the data's extremes and its 10th and 90th percentiles", balance)
	}
	wantEst := map[string]party.BoundsEstimate{
		"spend_alcohol": {Epsilon: 1, Quantile: source.DefaultAutoQuantile},
		"balance":       {Epsilon: 2, Quantile: source.DefaultAutoQuantile, Lo: true},
	}
	if !equalMaps(first.Estimated, wantEst) {
		t.Errorf("Info says the estimates are %+v, want %+v", first.Estimated, wantEst)
	}
	if b := first.Bounds["spend_diet_aids"]; b != [2]float64{0, model.Spend[2].Cap} || first.Estimated["spend_diet_aids"] != (party.BoundsEstimate{}) {
		t.Errorf("a declared column: bounds %v, estimate %+v", b, first.Estimated["spend_diet_aids"])
	}

	// Every query uses the estimate, as it would declared bounds.
	res, err := c.Dial(t, 0).Joint(ctx, party.JointRequest{Purpose: "research", Epsilon: 1, Delta: 1e-7, Correlations: true, Querier: partytest.Querier,
		X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_alcohol"}},
		Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_liver"}}})
	if err != nil {
		t.Fatal(err)
	}
	if x := res.Columns[0]; x.Lo != alcohol[0] || x.Hi != alcohol[1] {
		t.Errorf("the query ran on spend_alcohol within [%g, %g], the node published %v", x.Lo, x.Hi, alcohol)
	}

	// checkCharged checks the owner's account and the audit log's record.
	checkCharged := func(charges int, eps float64) {
		t.Helper()
		accts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.LedgerBudgets())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(accts, func(a ledger.Account) bool { return a.Querier == party.OwnerAccount })
		if a := accts[i]; a.Charges != charges || !near(a.Spent.Epsilon, eps) || a.Budget.Epsilon != 10 {
			t.Errorf("owner account %+v, want %d charges and ε %g spent of 10", a, charges, eps)
		}
		if recorded := ofKind(auditLog(t, cfg), audit.KindBoundsEstimated); len(recorded) != charges {
			t.Fatalf("%d bounds_estimated events, want %d", len(recorded), charges)
		}
	}
	checkCharged(2, 3)
	events, _, err := audit.ReadFile(cfg.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Kind == audit.KindBoundsEstimated && ev.Detail[audit.DetailColumn] == "spend_alcohol" {
			if ev.Epsilon != 1 || ev.Detail["lo"] != "0" || ev.Detail["estimated"] != "hi" {
				t.Errorf("audit event %+v", ev)
			}
		}
	}
	report := transparency(t, cfg, audit.ReportOptions{Budgets: map[string]audit.Budget{}})
	if !slices.ContainsFunc(report.Activity, func(a audit.ActivityRecord) bool {
		return strings.HasPrefix(a.Text, "The node estimated the bounds of column spend_alcohol with ε = 1: [0, ") &&
			strings.Contains(a.Text, "owner's own privacy budget")
	}) {
		t.Errorf("the transparency report does not say that the bounds of spend_alcohol were estimated: %+v", report.Activity)
	}
	if len(report.Requesters) != 1 || report.Requesters[0].Requester != partytest.Querier {
		t.Errorf("the owner's estimates count as a requester's queries: %+v", report.Requesters)
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, "bounds", "spend_alcohol.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stored estimate: %v, %v", st, err)
	}

	// A restart reuses both estimates, and charges nothing.
	c.StopNode(t, 0)
	c.StartNode(t, 0)
	c.WaitSetup(t)
	if again := info(); again.Bounds["spend_alcohol"] != alcohol || again.Bounds["balance"] != balance {
		t.Errorf("after a restart: bounds %v and %v, before %v and %v", again.Bounds["spend_alcohol"], again.Bounds["balance"], alcohol, balance)
	}
	checkCharged(2, 3)

	// A changed auto_bounds block is estimated again, the other column not.
	c.StopNode(t, 0)
	retailer.Columns[len(retailer.Columns)-1].AutoBounds.Quantile = 0.97
	c.StartNode(t, 0)
	c.WaitSetup(t)
	if b := info().Bounds["spend_alcohol"]; b != alcohol {
		t.Errorf("spend_alcohol was estimated again: %v, before %v", b, alcohol)
	}
	checkCharged(3, 5)

	// A budget that cannot pay for a new estimate stops the node.
	c.StopNode(t, 0)
	if err := os.Remove(filepath.Join(cfg.DataDir, "bounds", "spend_alcohol.json")); err != nil {
		t.Fatal(err)
	}
	poor := cfg
	poor.Policy = &party.PolicyConfig{OwnerEpsilon: 5.5}
	node, err := party.New(poor, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	err = node.Start(ctx)
	node.Close()
	if !errors.Is(err, party.ErrBudgetExhausted) {
		t.Fatalf("start without the budget for an estimate: %v", err)
	}
	for _, want := range []string{"spend_alcohol", "costs ε = 1", "owner_epsilon = 5.5", "ε = 0.5 left"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	checkCharged(3, 5)

	// A lost ledger is rebuilt from the audit log with the owner's charges.
	if err := os.Remove(cfg.LedgerPath()); err != nil {
		t.Fatal(err)
	}
	if n, err := party.RebuildLedger(cfg, hclog.NewNullLogger()); err != nil || n != 4 {
		t.Fatalf("rebuild: %d charges, %v; want the query's and three estimates", n, err)
	}
	checkCharged(3, 5)
	c.StartNode(t, 0)
	c.WaitSetup(t)
	checkCharged(4, 6)
}

// withBalance writes a copy of the retailer's CSV file with one more
// column, balance: a signed amount, normal with mean 50 and SD 400.
func withBalance(t *testing.T, path string) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rows, err := csv.NewReader(in).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range rows {
		v := "balance"
		if i > 0 {
			v = strconv.FormatFloat(math.Round(100*(50+400*r.NormFloat64()))/100, 'f', 2, 64)
		}
		rows[i] = append(rows[i], v)
	}
	return writeCSV(t, filepath.Join(filepath.Dir(path), "retailer_balance.csv"), nil, rows)
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
