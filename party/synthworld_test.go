package party_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// TestSyntheticWorldMultiKey: over the synthetic world with its identifier
// noise (changed e-mails, missing phones), two nodes that match on e-mail
// then phone find exactly the pairs truth.json counts for that rule —
// more than e-mail alone finds — and an exact query over them gives the
// r truth.json states.
func TestSyntheticWorldMultiKey(t *testing.T) {
	o := synth.Options{Customers: 2000, Overlap: 0.5, Seed: 7, Noise: synth.DefaultNoise(), StatisticsOver: synth.MatchEmailOrPhone}
	r, ins, truth := partytest.WorldWith(t, o)
	if !(truth.StatisticsN() > truth.Matched(synth.MatchEmail)) {
		t.Fatalf("e-mail or phone pairs %d, e-mail alone %d: the noise should leave e-mail short", truth.StatisticsN(), truth.Matched(synth.MatchEmail))
	}
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, ins}})
	for k := range c.Configs {
		c.Configs[k].JoinKey, c.Configs[k].JoinKeys = "", synth.MatchKinds(synth.MatchEmailOrPhone)
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	res, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}},
		Correlations: true, Purpose: "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, p := range truth.Pairs {
		if p.Category == "diet_aids" && p.Claim == "diabetes" {
			want = p.R
		}
	}
	checked := 0
	for _, cell := range res.Cells {
		switch cell.Statistic {
		case aggregate.CellCount:
			if cell.Value != float64(truth.StatisticsN()) {
				t.Errorf("n = %v, truth.json pairs %d under e-mail or phone (e-mail alone %d)", cell.Value, truth.StatisticsN(), truth.Matched(synth.MatchEmail))
			}
			checked++
		case aggregate.CellPearson:
			if math.Abs(cell.Value-want) > 1e-6 {
				t.Errorf("r = %v, truth.json %v", cell.Value, want)
			}
			checked++
		}
	}
	if checked != 2 {
		t.Fatalf("checked %d cells, want n and r", checked)
	}
}

// TestSyntheticWorldProxy: the synthetic world's planted pregnancy proxy
// (spend_prenatal) is refused as a grouping column for a purpose the
// insurer marks as segmenting, where its pregnant column is protected;
// an unrelated column (spend_stationery) passes. Pregnancy is rare (about
// 4 % of the insurer's policyholders), so the noisy association needs a
// world of this size: at 16 000 customers per side the proxy's (η 0.73)
// came out between 0.47 and 1 over ten runs, far from the 0.3 threshold.
func TestSyntheticWorldProxy(t *testing.T) {
	dir := t.TempDir()
	truth, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 16000, Overlap: 0.5, Seed: 3, Format: synth.FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	rSrc, iSrc := synth.RetailerSource(dir, synth.FormatCSV, false, m), synth.InsurerSource(dir, synth.FormatCSV, m)
	extraR, extraI := synth.ProxyCheckColumns(m)
	// Bounds a careful owner would declare, about 4× the median as in the
	// demo: at the never-clipping cap most values would fall in the lowest
	// of the proxy check's 32 steps.
	for k := range extraR {
		hi := 4 * m.ProxyCheck[k].Median
		extraR[k].Hi = &hi
	}
	extraI[0].Tags = []string{party.TagProtected}
	rSrc.Columns = append(rSrc.Columns, extraR...)
	iSrc.Columns = append(iSrc.Columns, extraI...)
	for _, a := range truth.Associations {
		if a.Protected == "pregnant" && (a.Column == "spend_prenatal" || a.Column == "spend_stationery") {
			t.Logf("truth: %s × %s: η %.3f", a.Column, a.Protected, a.Eta)
		}
	}

	c := partytest.Configure(t, 2, partytest.Options{})
	purposes := []string{"research", "underwriting"}
	for k, src := range []source.Config{rSrc, iSrc} {
		c.Configs[k].Source = &src
		c.Configs[k].Policy = &party.PolicyConfig{Purposes: purposes}
	}
	c.Configs[1].Policy.Segmenting, c.Configs[1].Policy.ProxyThreshold = []string{"underwriting"}, 0.3
	c.StartAll(t)
	client := c.Dial(t, 0)
	node0, node1 := partytest.NodeName(0), partytest.NodeName(1)
	ref := func(owner, name string) aggregate.ColumnRef { return aggregate.ColumnRef{Owner: owner, Name: name} }
	rate := func(by, purpose string) party.JointRequest {
		return party.JointRequest{X: []aggregate.ColumnRef{ref(node0, by)}, Y: []aggregate.ColumnRef{ref(node1, "claims_diabetes"), ref(node1, "exposure_months")},
			Rates:   []aggregate.RateRequest{{Events: ref(node1, "claims_diabetes"), Exposure: ref(node1, "exposure_months"), By: ref(node0, by), Edges: []float64{20}}},
			Purpose: purpose, Epsilon: 10, Delta: 1e-6}
	}
	_, err = client.Joint(context.Background(), rate("spend_prenatal", "underwriting"))
	var refusal *party.RefusalError
	if !errors.As(err, &refusal) || refusal.Owner != node1 || !strings.Contains(refusal.Reason, "protected column "+node1+".pregnant") {
		t.Fatalf("rate by the planted proxy for underwriting: %v, want the insurer's proxy refusal", err)
	}
	if _, err := client.Joint(context.Background(), rate("spend_stationery", "underwriting")); err != nil {
		t.Errorf("rate by an unrelated column for underwriting: %v", err)
	}
	if _, err := client.Joint(context.Background(), rate("spend_prenatal", "research")); err != nil {
		t.Errorf("rate by the proxy for research, which does not segment: %v", err)
	}
}
