package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/ledger"
)

// planQuery is a noised query at an ε that leaves the test world's
// few hundred common customers a usable release.
const planQuery = `purpose = "research"
epsilon = 40

correlation {
  x = ["node0.spend_diet_aids"]
  y = ["node1.claims_diabetes"]
}

rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node0.spend_diet_aids"
  buckets  = [50, 200]
}
`

// planOut is the JSON of a plan, as far as the tests read it.
type planOut struct {
	Owners            []string `json:"owners"`
	Charged           bool     `json:"charged"`
	EpsilonForTargets *float64 `json:"epsilon_for_targets"`
	Assumed           struct {
		N       float64 `json:"n"`
		Columns []struct {
			Column, Model string
			Mean, SD      float64
			Grouped       bool
		} `json:"columns"`
		GroupRates bool `json:"group_rates"`
	} `json:"assumed"`
	Cells []struct {
		Statistic        string `json:"statistic"`
		X, Y, Group      string
		Value            *float64 `json:"assumed_value"`
		NoiseStd         float64  `json:"noise_std"`
		PSuppressed      float64  `json:"p_suppressed"`
		EpsilonForTarget *float64 `json:"epsilon_for_target"`
	} `json:"cells"`
}

// TestQueryPlan: jointly query --plan prints the plan without charging
// anything, with the ε a target needs, in every format; a query that runs
// carries the predicted figures beside the realised ones, taken from its
// own release or from an earlier one (--prior).
func TestQueryPlan(t *testing.T) {
	c := queryCluster(t)
	out, err := runQuery(t, c, planQuery, "--plan", "--assume-n", "5000", "--assume", "node0.spend_diet_aids=40,60",
		"--target-halfwidth", "0.05", "--target-halfwidth", "rate=10%", "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var p planOut
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.Charged || len(p.Owners) != 2 || p.Assumed.N != 5000 || p.EpsilonForTargets == nil || len(p.Assumed.Columns) != 3 {
		t.Fatalf("plan %+v", p)
	}
	for _, col := range p.Assumed.Columns {
		if want := map[bool]string{true: "assumed", false: "uniform"}[col.Column == "node0.spend_diet_aids"]; col.Model != want {
			t.Errorf("%s planned as %s, want %s", col.Column, col.Model, want)
		}
	}
	targets := 0
	for _, cell := range p.Cells {
		if cell.Statistic == "pearson_r" || cell.Statistic == "rate" {
			if cell.EpsilonForTarget == nil || !(cell.NoiseStd > 0) {
				t.Errorf("%s: noise %g, ε for target %v", cell.Statistic, cell.NoiseStd, cell.EpsilonForTarget)
			}
			targets++
		}
	}
	if targets != 4 {
		t.Errorf("%d cells with a target, want 1 r and 3 rates", targets)
	}
	for _, cfg := range c.Configs {
		accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts {
			if a.Charges != 0 {
				t.Fatalf("%s: a plan was charged: %+v", cfg.Name, a)
			}
		}
	}
	out, err = runQuery(t, c, planQuery, "--plan", "--assume-n", "5000", "--target-halfwidth", "0.05")
	if err != nil || !strings.Contains(out, "nothing was charged") || !strings.Contains(out, "every target is met at ε =") || !strings.Contains(out, "uniform: spread evenly") {
		t.Fatalf("table: %v\n%s", err, out)
	}
	out, err = runQuery(t, c, planQuery, "--plan", "--assume-n", "5000", "--format", "csv")
	if err != nil || !strings.HasPrefix(out, "statistic,x,y,group,assumed_value,n,noise_std,noise_halfwidth,halfwidth,p_suppressed") {
		t.Fatalf("csv: %v\n%s", err, out)
	}

	// A query that runs: the predicted figures beside the realised ones,
	// with the people behind it taken from its own count.
	out, err = runQuery(t, c, planQuery, "--format", "json", "--target-halfwidth", "0.05", "--assume", "node0.spend_diet_aids=40,60",
		"--assume", "node1.claims_diabetes=0.2,0.5", "--assume", "node1.exposure_months=10,3")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res struct {
		Prediction *struct{ N float64 } `json:"prediction"`
		Cells      []struct {
			Statistic  string
			X, Y       string
			Group      string
			Value      *float64
			NoiseStd   float64 `json:"noise_std"`
			N          float64
			Suppressed bool
			Predicted  *struct {
				NoiseStd          float64  `json:"noise_std"`
				EpsilonForTarget  *float64 `json:"epsilon_for_target"`
				TargetUnreachable bool     `json:"target_unreachable"`
			} `json:"predicted"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Prediction == nil || res.Prediction.N != res.Cells[0].N {
		t.Fatalf("prediction %+v, count %v", res.Prediction, res.Cells[0].N)
	}
	predictedR := 0
	for _, cell := range res.Cells {
		if cell.Statistic == "pearson_r" && cell.Predicted != nil {
			predictedR++ // suppressed or not in this release
			if cell.Predicted.EpsilonForTarget == nil && !cell.Predicted.TargetUnreachable {
				t.Errorf("r without the ε for its target")
			}
		}
		if cell.Suppressed {
			continue
		}
		if cell.Predicted == nil {
			t.Fatalf("%s has no prediction:\n%s", cell.Statistic, out)
		}
		// A count's noise does not depend on the data: predicted from its
		// own count, it is the noise the release reports. The delta method
		// of the others depends on the sums, assumed here.
		if r := cell.Predicted.NoiseStd / cell.NoiseStd; cell.Statistic == "n" && (r < 0.999 || r > 1.001) {
			t.Errorf("%s: predicted noise %g, reported %g", cell.Statistic, cell.Predicted.NoiseStd, cell.NoiseStd)
		}
	}
	if predictedR != 1 {
		t.Errorf("%d r predicted, want 1:\n%s", predictedR, out)
	}
	prior := filepath.Join(t.TempDir(), "prior.json")
	if err := os.WriteFile(prior, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runQuery(t, c, planQuery, "--plan", "--prior", prior, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	p = planOut{}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.Assumed.N != res.Cells[0].N {
		t.Errorf("plan from a prior of %v people assumed %v", res.Cells[0].N, p.Assumed.N)
	}
	released := map[string]bool{} // columns whose variance the prior released
	for _, cell := range res.Cells {
		if cell.Statistic == "variance" && !cell.Suppressed && cell.Value != nil && *cell.Value > 0 {
			released[cell.X+cell.Y] = true
		}
	}
	for _, col := range p.Assumed.Columns {
		if want := map[bool]string{true: "assumed", false: "uniform"}[released[col.Column]]; col.Model != want {
			t.Errorf("%s planned as %s from a prior, want %s", col.Column, col.Model, want)
		}
		if col.Grouped != (col.Column == "node0.spend_diet_aids") {
			t.Errorf("%s grouped %v from a prior; only the column the rate groups by is", col.Column, col.Grouped)
		}
	}
	// Each group of the rate holds the share of the people the prior
	// counted in it, and has the prior's rate.
	var priorTotal, planTotal float64
	for _, cell := range res.Cells {
		if cell.Statistic == "n" && cell.Group != "" {
			priorTotal += max(*cell.Value, 0)
		}
	}
	for _, cell := range p.Cells {
		if cell.Statistic == "n" && cell.Group != "" {
			planTotal += *cell.Value
		}
	}
	groups, rates := 0, 0
	for i, cell := range p.Cells {
		was := res.Cells[i]
		if cell.Group == "" || cell.Value == nil || was.Value == nil || was.Suppressed || cell.Statistic != was.Statistic || cell.Group != was.Group {
			continue
		}
		switch cell.Statistic {
		case "n":
			if got, want := *cell.Value/planTotal, max(*was.Value, 0)/priorTotal; math.Abs(got-want) > 0.001 {
				t.Errorf("group %s planned with %.4f of the people, the prior counted %.4f", cell.Group, got, want)
			}
			groups++
		case "rate":
			if math.Abs(*cell.Value / *was.Value - 1) > 1e-6 {
				t.Errorf("group %s planned at a rate of %g, the prior's was %g", cell.Group, *cell.Value, *was.Value)
			}
			rates++
		}
	}
	if groups != 3 || rates == 0 || !p.Assumed.GroupRates {
		t.Errorf("%d groups and %d rates planned from the prior, group rates %v; want 3 groups at their rates", groups, rates, p.Assumed.GroupRates)
	}
	out, err = runQuery(t, c, planQuery, "--plan", "--prior", prior)
	if err != nil || !strings.Contains(out, "groups as released") || !strings.Contains(out, "each group of a rate at the rate the earlier release gave it") {
		t.Errorf("table from a prior: %v\n%s", err, out)
	}
}

// TestQueryPlanErrors: the planner's flags are checked before anything is
// sent, as usage errors.
func TestQueryPlanErrors(t *testing.T) {
	c := queryCluster(t)
	for _, args := range [][]string{
		{"--plan"},
		{"--plan", "--assume-n", "-3"},
		{"--plan", "--assume-n", "100", "--target-halfwidth", "0"},
		{"--plan", "--assume-n", "100", "--target-halfwidth", "r2=0.1"},
		{"--plan", "--assume-n", "100", "--assume", "node0.spend_diet_aids=40"},
		{"--plan", "--assume-n", "100", "--assume", "node0.nope=40,2"},
		{"--plan", "--assume-n", "100", "--format", "html"},
	} {
		out, err := runQuery(t, c, planQuery, args...)
		var u *usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: error %v, want a usage error\n%s", args, err, out)
		}
	}
}
