package party_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// rulesHCL is a node configuration with tagged columns and purpose rules;
// policy replaces the policy block.
func rulesHCL(dir, policy string) string {
	return partytest.RetailerHCL(filepath.Join(dir, "data")) + fmt.Sprintf(`
source "csv" {
  path = %q
  column "spend_baby" {
    type = "numeric"
    lo   = 0
    hi   = 2000
    tags = ["proxy:pregnancy", "sensitive"]
  }
  column "age_band" {
    type   = "categorical"
    levels = ["18-34", "35-49", "50-64", "65+"]
    tags   = ["protected"]
  }
}
%s
querier "researcher" {}
`, filepath.Join(dir, "retailer.csv"), policy)
}

// TestConfigRules: tags and purpose rules parse from HCL, and every
// mistake names the file, the line and the field.
func TestConfigRules(t *testing.T) {
	dir := t.TempDir()
	cfg, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, `
policy {
  purposes = ["research", "underwriting"]
  rule "underwriting" {
    deny_tags {
      by        = ["protected"]
      predictor = ["protected", "proxy:pregnancy"]
    }
  }
  rule "*" {
    deny_tags { any = ["sensitive"] }
  }
}`)))
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Policy.Rules
	if len(rules) != 2 || rules[0].Purpose != "underwriting" || !slices.Equal(rules[0].DenyTags.Predictor, []string{"protected", "proxy:pregnancy"}) ||
		rules[1].Purpose != party.RuleAny || !slices.Equal(rules[1].DenyTags.Any, []string{"sensitive"}) {
		t.Fatalf("rules %+v", rules)
	}
	if tags := cfg.Source.Columns[0].Tags; !slices.Equal(tags, []string{"proxy:pregnancy", "sensitive"}) {
		t.Fatalf("spend_baby tags %v", tags)
	}

	for _, tc := range []struct{ name, policy, want string }{
		{"unknown purpose", `policy {
  purposes = ["research"]
  rule "underwritng" {
    deny_tags { by = ["protected"] }
  }
}`, `node.hcl:26: rule "underwritng": "underwritng" is not a purpose of the policy (purposes: research)`},
		{"misspelt tag", `policy {
  purposes = ["research"]
  rule "research" {
    deny_tags {
      by = ["protcted"]
    }
  }
}`, `node.hcl:28: by: rule "research": deny_tags.by: no column of the source is tagged "protcted" (tags: protected, proxy:pregnancy, sensitive)`},
		{"malformed tag", `policy {
  rule "research" {
    deny_tags { outcome = ["Protected"] }
  }
}`, `outcome: rule "research": deny_tags.outcome: "Protected" is not a tag`},
		{"no deny_tags", `policy {
  rule "research" {}
}`, `node.hcl:25: rule "research" denies nothing`},
		{"empty deny_tags", `policy {
  rule "research" {
    deny_tags {}
  }
}`, `rule "research": deny_tags names no tag`},
		{"twice", `policy {
  rule "research" {
    deny_tags { by = ["protected"] }
  }
  rule "research" {
    deny_tags { predictor = ["protected"] }
  }
}`, `node.hcl:28: rule "research" is declared twice`},
		{"unknown role", `policy {
  rule "research" {
    deny_tags { grouping = ["protected"] }
  }
}`, `Unsupported argument`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, tc.policy)))
			if !errors.Is(err, party.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}

	// A malformed tag on a column is the source's error, naming the column.
	bad := strings.Replace(rulesHCL(dir, ""), `tags   = ["protected"]`, `tags   = ["protected", "protected"]`, 1)
	if _, err := party.ParseConfig("node.hcl", []byte(bad)); err == nil || !strings.Contains(err.Error(), `column.age_band.tags: "protected" listed twice`) {
		t.Fatalf("a tag listed twice: %v", err)
	}
}

// rulesWorld writes a generated world as CSV files and configures two
// nodes that read them with tags: the retailer (node0) tags spend_baby
// "proxy:pregnancy" and refuses it as an underwriting predictor; the
// insurer (node1) tags age_band "protected" and every claim column
// "health", claims_hiv_related also "hiv", refuses protected columns as
// the grouping of an underwriting query, and hiv columns for any purpose.
func rulesWorld(t *testing.T) *partytest.Cluster {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 400, Overlap: 0.5, Seed: 5, Format: synth.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	retailer, insurer := synth.RetailerSource(dir, synth.FormatCSV, false, m), synth.InsurerSource(dir, synth.FormatCSV, m)
	tag := func(src *source.Config, name string, tags ...string) {
		for k := range src.Columns {
			if src.Columns[k].Name == name || (strings.HasSuffix(name, "*") && strings.HasPrefix(src.Columns[k].Name, strings.TrimSuffix(name, "*"))) {
				src.Columns[k].Tags = append(src.Columns[k].Tags, tags...)
			}
		}
	}
	tag(&retailer, "spend_baby", "proxy:pregnancy")
	tag(&insurer, "age_band", "protected")
	tag(&insurer, "claims_*", "health")
	tag(&insurer, "claims_hiv_related", "hiv")

	c := partytest.Configure(t, 2, partytest.Options{})
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	purposes := []string{"research", "underwriting"}
	c.Configs[0].Policy = &party.PolicyConfig{Purposes: purposes, AllowExact: true, Rules: []party.PurposeRule{
		{Purpose: "underwriting", DenyTags: &party.RoleTags{Predictor: []string{"proxy:pregnancy"}}},
	}}
	c.Configs[1].Policy = &party.PolicyConfig{Purposes: purposes, AllowExact: true, Rules: []party.PurposeRule{
		{Purpose: "underwriting", DenyTags: &party.RoleTags{By: []string{"protected"}}},
		{Purpose: party.RuleAny, DenyTags: &party.RoleTags{Any: []string{"hiv"}}},
	}}
	c.StartAll(t)
	return c
}

// TestPurposeRules runs queries against the owners' purpose rules over
// real gRPC with mutual TLS, each node reading its tagged CSV file: a
// query that gives a tagged column a denied role is refused by the owner
// of the column, naming the rule, the column and the tag, and costs
// nothing at either owner; the same query for another purpose runs; the
// planner reports the refusal free of charge; Info shows the tags.
func TestPurposeRules(t *testing.T) {
	c := rulesWorld(t)
	ctx := context.Background()
	client := c.Dial(t, 0)
	node0, node1 := partytest.NodeName(0), partytest.NodeName(1)
	ref := func(owner, name string) aggregate.ColumnRef { return aggregate.ColumnRef{Owner: owner, Name: name} }
	spend, baby := ref(node0, "spend_diet_aids"), ref(node0, "spend_baby")
	claims, exposure, band := ref(node1, "claims_diabetes"), ref(node1, "exposure_months"), ref(node1, "age_band")

	info, err := c.Dial(t, 1).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Tags["age_band"], []string{"protected"}) || !slices.Equal(info.Tags["claims_hiv_related"], []string{"health", "hiv"}) || info.Tags["exposure_months"] != nil {
		t.Fatalf("node1's Info tags: %v", info.Tags)
	}

	rateByBand := func(purpose string) party.JointRequest {
		return party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, exposure, band},
			Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims},
			Rates: []aggregate.RateRequest{{Events: claims, Exposure: exposure, By: band}}, Purpose: purpose, Exact: true}
	}
	regression := func(purpose string, predictor aggregate.ColumnRef) party.JointRequest {
		return party.JointRequest{X: []aggregate.ColumnRef{predictor}, Y: []aggregate.ColumnRef{claims},
			Regressions: []aggregate.RegressionRequest{{Outcome: claims, Predictors: []aggregate.ColumnRef{predictor}}}, Purpose: purpose, Exact: true}
	}
	hiv := correlation("spend_diet_aids", "claims_hiv_related", 0, 0)
	hiv.Exact = true

	refused := []struct {
		name  string
		req   party.JointRequest
		owner string
		want  []string
	}{
		{"protected by, underwriting", rateByBand("underwriting"), node1,
			[]string{`rule "underwriting" (deny_tags.by)`, `column "age_band" is tagged "protected"`, "grouping (by)", `purpose "underwriting"`}},
		{"proxy predictor, underwriting", regression("underwriting", baby), node0,
			[]string{`rule "underwriting" (deny_tags.predictor)`, `column "spend_baby" is tagged "proxy:pregnancy"`, "regression predictor"}},
		// A categorical predictor groups people by its levels: the rule
		// against grouping by age band holds for it too.
		{"protected categorical predictor, underwriting", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band},
			Regressions: []aggregate.RegressionRequest{{Outcome: claims, Predictors: []aggregate.ColumnRef{spend, band}}}, Purpose: "underwriting", Exact: true}, node1,
			[]string{`rule "underwriting" (deny_tags.by)`, `column "age_band" is tagged "protected"`, "grouping (by)"}},
		// Correlations within each age band group people by it too.
		{"correlations by a protected column, underwriting", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band},
			Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims}, CorrelationBy: band,
			Purpose: "underwriting", Exact: true}, node1,
			[]string{`rule "underwriting" (deny_tags.by)`, `column "age_band" is tagged "protected"`, "grouping (by)"}},
		{"any role, every purpose", hiv, node1,
			[]string{`rule "*" (deny_tags.any)`, `column "claims_hiv_related" is tagged "hiv"`, "in any role", `purpose "research"`}},
	}
	for _, tc := range refused {
		_, err := client.Joint(ctx, tc.req)
		var r *party.RefusalError
		if !errors.As(err, &r) || !errors.Is(err, party.ErrPolicy) || r.Owner != tc.owner {
			t.Fatalf("%s: %v, want a refusal by %s", tc.name, err, tc.owner)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Reason, w) {
				t.Fatalf("%s: refusal %q does not say %q", tc.name, r.Reason, w)
			}
		}
		p, err := client.Plan(ctx, tc.req, aggregate.Assumptions{N: 1000}, nil)
		if err != nil || p.RefusedBy != tc.owner || p.Refusal != r.Reason {
			t.Fatalf("%s: plan %+v, %v; want %s's refusal %q", tc.name, p, err, tc.owner, r.Reason)
		}
	}
	assertCharges(t, c, 0, 0)

	// What a rule denies for one purpose runs for another, and a column
	// in a role no rule names runs for the purpose.
	for _, req := range []party.JointRequest{rateByBand("research"), regression("research", baby), regression("underwriting", spend)} {
		if _, err := client.Joint(ctx, req); err != nil {
			t.Fatalf("%s query: %v", req.Purpose, err)
		}
	}
	assertCharges(t, c, 3, 3)

	// The insurer's audit log records each refusal with the rule broken,
	// and each plan it would refuse.
	var refusals, plans int
	for _, ev := range auditLog(t, c.Configs[1]) {
		switch {
		case ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionRefuse:
			refusals++
			if ev.Detail["rule"] == "" || ev.Detail["rule_column"] == "" || ev.Detail["rule_tag"] == "" {
				t.Fatalf("refusal recorded without its rule: %v", ev.Detail)
			}
		case ev.Kind == party.KindPlan && ev.Detail["would_refuse"] != "":
			plans++
			if ev.Detail["rule"] == "" {
				t.Fatalf("plan recorded without its rule: %v", ev.Detail)
			}
		}
	}
	if refusals != 4 || plans != 4 {
		t.Fatalf("node1 recorded %d refusals and %d refused plans, want 4 and 4", refusals, plans)
	}
}

// TestPurposeRuleAdversary: a querier with its own gRPC client, and an
// evaluator with a genuine node certificate that skips its own checks,
// each send a query that breaks a rule; the owner of the column refuses
// it at its own node and nothing is charged anywhere.
func TestPurposeRuleAdversary(t *testing.T) {
	c := rulesWorld(t)
	ctx := context.Background()
	params := crypto.MustParameters(crypto.PresetTest)
	qpk := querierKey(t, params)
	info, err := c.Dial(t, 1).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// wire is node1's column as its owner declares it.
	wire := func(name string) *pb.ColumnRef {
		b := info.Bounds[name]
		return &pb.ColumnRef{Owner: partytest.NodeName(1), Name: name, Lo: b[0], Hi: b[1], Levels: info.Levels[name], Unit: info.Units[name], Step: info.Steps[name]}
	}
	spec := func(id string) *pb.QuerySpec {
		spend, claims, exposure, band := wireColumn(0, "spend_diet_aids", 0, 0), wire("claims_diabetes"), wire("exposure_months"), wire("age_band")
		return &pb.QuerySpec{Id: id, QuerierPublicKey: qpk, Purpose: "underwriting", Exact: true, Querier: partytest.Querier,
			Kind: &pb.QuerySpec_Joint{Joint: &pb.JointQuery{X: []*pb.ColumnRef{spend}, Y: []*pb.ColumnRef{claims, exposure, band},
				Correlations: true, CorrelationX: []*pb.ColumnRef{spend}, CorrelationY: []*pb.ColumnRef{claims},
				Rates: []*pb.RateSpec{{Events: claims, Exposure: exposure, By: band}}}}}
	}
	reason := `rule "underwriting" (deny_tags.by): column "age_band" is tagged "protected"`

	// The querier's own client, to the evaluator: node1 refuses in the
	// admission round.
	stream, err := pb.NewQueryClient(dialAs(t, c, partytest.Querier, 0)).SubmitJoint(ctx, &pb.SubmitRequest{Query: spec("own-client-rule-01")})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil || !strings.Contains(err.Error(), reason) {
		t.Fatalf("the querier's own client: %v, want node1's refusal %q", err, reason)
	}

	// A deviating evaluator asks node1 to admit, then to charge, the query
	// directly: node1 checks its rules itself both times.
	spec2 := spec("evaluator-rule-0001")
	spec2.GetJoint().X[0].Hi = 3000
	fed := pb.NewFederationClient(dialAs(t, c, partytest.NodeName(0), 1))
	for _, charge := range []bool{false, true} {
		_, err := fed.Admit(ctx, &pb.AdmitRequest{Query: spec2, Evaluator: partytest.NodeName(0), Charge: charge})
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Fatalf("Admit (charge %v) straight to node1: %v, want its refusal %q", charge, err, reason)
		}
	}
	assertCharges(t, c, 0, 0)
	var refusals int
	for _, ev := range auditLog(t, c.Configs[1]) {
		if ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionRefuse && ev.Detail["rule"] == "underwriting" && ev.Detail["rule_column"] == "age_band" {
			refusals++
		}
	}
	if refusals != 3 {
		t.Fatalf("node1 recorded %d refusals by its underwriting rule, want 3", refusals)
	}
}
