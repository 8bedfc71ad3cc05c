package party_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
)

// consentFile writes a CSV of the customers first..last-1 with a default
// consent column and a marketing one, given per customer, and returns the
// source that reads it with its value column.
func consentFile(t *testing.T, dir, name, column string, first, last int, consent, marketing func(i int) bool) source.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "email,consent,consent_marketing,%s\n", column)
	for i := first; i < last; i++ {
		fmt.Fprintf(&b, "u%d@example.com,%t,%t,%d\n", i, consent(i), marketing(i), i%7)
	}
	path := filepath.Join(dir, name+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	lo, hi := 0.0, 10.0
	return source.Config{Kind: source.KindCSV, Path: path, Identifiers: []string{"email"},
		Columns: []source.Column{{Name: column, Type: source.TypeNumeric, Lo: &lo, Hi: &hi}}}
}

// TestConsentPerPurpose: two nodes read CSV files with a default and a
// marketing consent column each; a research query runs over the records
// that consented by default on both sides, a marketing query over those
// that consented to marketing on both sides, each with its own matching,
// and both layouts stay cached side by side.
func TestConsentPerPurpose(t *testing.T) {
	dir := t.TempDir()
	// The retailer has customers 0–299, the insurer 100–399.
	retailer := consentFile(t, dir, "retailer", "spend", 0, 300, func(i int) bool { return i%5 != 0 }, func(i int) bool { return i%2 == 0 })
	insurer := consentFile(t, dir, "insurer", "claims", 100, 400, func(int) bool { return true }, func(i int) bool { return i%3 == 0 })
	var research, marketing int
	for i := 100; i < 300; i++ {
		if i%5 != 0 {
			research++
		}
		if i%6 == 0 {
			marketing++
		}
	}

	c := partytest.Configure(t, 2, partytest.Options{})
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	for k := range c.Configs {
		c.Configs[k].Policy = &party.PolicyConfig{Purposes: []string{"research", "marketing"}, AllowExact: true, MinGroupSize: 1,
			ConsentColumns: map[string]string{"marketing": "consent_marketing"}}
	}
	c.StartAll(t)
	client := c.Dial(t, 0)
	ctx := context.Background()

	count := func(purpose string) float64 {
		t.Helper()
		req := party.JointRequest{X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend"}}, Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims"}},
			Correlations: true, Purpose: purpose, Exact: true}
		res, err := client.Joint(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", purpose, err)
		}
		for _, cell := range res.Cells {
			if cell.Statistic == aggregate.CellCount {
				return cell.Value
			}
		}
		t.Fatalf("%s: no count in the result", purpose)
		return 0
	}
	for round := range 2 { // the second round reuses both cached layouts
		if n := count("research"); n != float64(research) {
			t.Fatalf("round %d: research counts %g records, want the %d that consented by default on both sides", round, n, research)
		}
		if n := count("marketing"); n != float64(marketing) {
			t.Fatalf("round %d: marketing counts %g records, want the %d that consented to marketing on both sides", round, n, marketing)
		}
	}
	for k := range c.Configs {
		if n := countKind(t, c, k, "matching"); n != 2 {
			t.Fatalf("%s ran %d matchings, want one per consent set", c.Configs[k].Name, n)
		}
		for _, f := range []string{"node%d.layout", "node%d~consent_marketing~consent_marketing.layout"} {
			if _, err := os.Stat(filepath.Join(c.Configs[k].DataDir, "match", fmt.Sprintf(f, 1-k))); err != nil {
				t.Fatalf("%s: the layout of a consent set is not cached: %v", c.Configs[k].Name, err)
			}
		}
	}
}

// TestConsentCounted: a node whose purposes have consents of their own
// releases once, with DP noise charged to its own budget, how many records
// each purpose may use; the transparency report says so, and a restart
// over the same consents reuses the release and charges nothing.
func TestConsentCounted(t *testing.T) {
	dir := t.TempDir()
	retailer := consentFile(t, dir, "retailer", "spend", 0, 3000, func(i int) bool { return i%5 != 0 }, func(i int) bool { return i%2 == 0 })
	c := partytest.Configure(t, 2, partytest.Options{})
	c.Configs[0].Source = &retailer
	c.Configs[0].Policy = &party.PolicyConfig{Purposes: []string{"research", "marketing"}, ConsentColumns: map[string]string{"marketing": "consent_marketing"}}
	if err := c.Configs[0].Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"research": 2400, "marketing": 1500}
	owner := func() ledger.Account {
		t.Helper()
		accounts, err := ledger.Snapshot(c.Configs[0].LedgerPath(), c.Configs[0].Budgets())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts {
			if a.Querier == party.OwnerAccount {
				return a
			}
		}
		return ledger.Account{}
	}
	for start := range 2 {
		c.StartNode(t, 0)
		var events []audit.Event
		for _, ev := range auditLog(t, c.Configs[0]) {
			if ev.Kind == audit.KindConsentCounted {
				events = append(events, ev)
			}
		}
		if len(events) != 1 {
			t.Fatalf("start %d: %d consent releases in the audit log, want 1", start, len(events))
		}
		for purpose, n := range want {
			got, err := strconv.ParseFloat(events[0].Detail["purpose."+purpose], 64)
			// Discrete Laplace at scale 2/0.05 = 40: SD 57.
			if err != nil || math.Abs(got-n) > 400 {
				t.Errorf("%s: released %q, true %g", purpose, events[0].Detail["purpose."+purpose], n)
			}
		}
		if a := owner(); a.Charges != 1 || math.Abs(a.Spent.Epsilon-party.ConsentCountEpsilon) > 1e-12 {
			t.Errorf("start %d: owner account %+v, want one charge of ε %g", start, a, party.ConsentCountEpsilon)
		}
		c.StopNode(t, 0)
	}
	var text string
	for _, a := range transparency(t, c.Configs[0], audit.ReportOptions{}).Activity {
		text += a.Text
	}
	if !strings.Contains(text, "research: about") || !strings.Contains(text, "marketing: about") {
		t.Errorf("the report does not say how many records each purpose may use: %q", text)
	}
}

// TestConfigConsent: the consent block maps purposes to columns, and a
// mistake names the file, the line and the purpose.
func TestConfigConsent(t *testing.T) {
	dir := t.TempDir()
	policy := func(consent string) string {
		return fmt.Sprintf("policy {\n  purposes = [\"research\", \"marketing\"]\n  consent {\n%s\n  }\n}", consent)
	}
	cfg, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, policy(`    marketing = "consent_marketing"
    research  = "consent"`))))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policy.ConsentSet("marketing"); got != "consent_marketing" {
		t.Fatalf("marketing's consent set %q", got)
	}
	if got := cfg.Policy.ConsentSet("research"); got != "" {
		t.Fatalf("research, mapped to the default column, has consent set %q", got)
	}
	// A consent column cannot also be a column a query reads.
	asValue := strings.Replace(rulesHCL(dir, policy(`    marketing = "consent_marketing"`)), `column "age_band" {`, `column "marketing_ok" {
    type   = "categorical"
    levels = ["false", "true"]
    from   = "consent_marketing"
  }
  column "age_band" {`, 1)
	if _, err := party.ParseConfig("node.hcl", []byte(asValue)); err == nil || !strings.Contains(err.Error(), `column "marketing_ok" reads the consent column "consent_marketing"`) {
		t.Errorf("a consent column read as a value: %v", err)
	}
	for _, tc := range []struct{ name, consent, want string }{
		{"unknown purpose", `    underwriting = "consent_uw"`, `node.hcl:27: underwriting: consent.underwriting: "underwriting" is not a purpose of the policy (purposes: research, marketing)`},
		{"not a name", `    marketing = "consent marketing"`, `node.hcl:27: marketing: consent.marketing: "consent marketing" is not a column name`},
		{"not a string", `    marketing = ["consent_marketing"]`, `node.hcl:27: marketing: consent.marketing must be a column name in quotes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, policy(tc.consent))))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
