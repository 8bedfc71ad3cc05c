package party_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// proxyWorld writes a retailer's and an insurer's CSV files over the same
// customers and starts two nodes that read them: the retailer (node0)
// holds spend_proxy, planted as a proxy of the insurer's age (r ≈ 0.95),
// and spend_other, independent of it; the insurer (node1) tags age
// "protected" and declares underwriting segmenting at threshold 0.3. The
// retailer, which evaluates, declares nothing: a refusal can only be the
// insurer's own.
func proxyWorld(t *testing.T, customers int) *partytest.Cluster {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(11))
	var retailer, insurer strings.Builder
	retailer.WriteString("email,consent,spend_proxy,spend_other\n")
	insurer.WriteString("email,consent,age,claims,exposure_months\n")
	for i := range customers {
		age := 18 + rng.Intn(73)
		proxy := math.Round(math.Max(0, float64(age-18)*25+rng.NormFloat64()*150))
		other := rng.Intn(2000)
		claims := rng.Intn(3)
		fmt.Fprintf(&retailer, "c%d@example.com,true,%g,%d\n", i, proxy, other)
		fmt.Fprintf(&insurer, "c%d@example.com,true,%d,%d,%d\n", i, age, claims, 1+rng.Intn(12))
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := func(v float64) *float64 { return &v }
	num := func(name string, lo, hi float64, tags ...string) source.Column {
		return source.Column{Name: name, Type: "numeric", Lo: f(lo), Hi: f(hi), Tags: tags}
	}
	c := partytest.Configure(t, 2, partytest.Options{})
	c.Configs[0].Source = &source.Config{Kind: "csv", Path: write("retailer.csv", retailer.String()), Identifiers: []string{"email"},
		Columns: []source.Column{num("spend_proxy", 0, 2000), num("spend_other", 0, 2000)}}
	c.Configs[1].Source = &source.Config{Kind: "csv", Path: write("insurer.csv", insurer.String()), Identifiers: []string{"email"},
		Columns: []source.Column{num("age", 18, 90, party.TagProtected), num("claims", 0, 5), num("exposure_months", 0, 12)}}
	purposes := []string{"research", "underwriting"}
	c.Configs[0].Policy = &party.PolicyConfig{Purposes: purposes}
	c.Configs[1].Policy = &party.PolicyConfig{Purposes: purposes, Segmenting: []string{"underwriting"}, ProxyThreshold: 0.3}
	c.StartAll(t)
	return c
}

// TestProxyCheck runs a claim rate grouped by a retailer column over two
// real nodes with mutual TLS: grouped by the planted proxy of the
// insurer's protected age, it is refused by the insurer's node for
// underwriting, after the charge and before anything of stage two, naming
// both columns, the noisy association and the threshold, in its audit log
// and its transparency report; the same query runs for research, and a
// rate by an unrelated column runs for underwriting.
func TestProxyCheck(t *testing.T) {
	c := proxyWorld(t, 1500)
	ctx := context.Background()
	client := c.Dial(t, 0)
	node0, node1 := partytest.NodeName(0), partytest.NodeName(1)
	ref := func(owner, name string) aggregate.ColumnRef { return aggregate.ColumnRef{Owner: owner, Name: name} }
	rate := func(by, purpose string) party.JointRequest {
		return party.JointRequest{X: []aggregate.ColumnRef{ref(node0, by)}, Y: []aggregate.ColumnRef{ref(node1, "claims"), ref(node1, "exposure_months")},
			Rates:   []aggregate.RateRequest{{Events: ref(node1, "claims"), Exposure: ref(node1, "exposure_months"), By: ref(node0, by), Edges: []float64{500, 1000}}},
			Purpose: purpose, Epsilon: 10, Delta: 1e-6}
	}

	_, err := client.Joint(ctx, rate("spend_proxy", "underwriting"))
	var r *party.RefusalError
	if !errors.As(err, &r) || r.Owner != node1 {
		t.Fatalf("rate by the proxy for underwriting: %v, want node1's refusal", err)
	}
	for _, w := range []string{`purpose "underwriting"`, "grouping column node0.spend_proxy", "protected column node1.age", "noisy association", "exceeds the threshold 0.3"} {
		if !strings.Contains(r.Reason, w) {
			t.Errorf("refusal %q does not say %q", r.Reason, w)
		}
	}
	// Both owners charged it, and neither released stage two.
	assertCharges(t, c, 1, 1)
	for k := range c.Configs {
		for _, ev := range auditLog(t, c.Configs[k]) {
			if ev.Kind == audit.KindRelease && ev.Detail[audit.DetailStage] == audit.StageResult {
				t.Fatalf("node%d released the result of a refused query", k)
			}
		}
	}

	res, err := client.Joint(ctx, rate("spend_proxy", "research"))
	if err != nil {
		t.Fatalf("the same rate for research: %v", err)
	}
	for _, col := range res.Columns {
		if col.Ref.Name == "age" {
			t.Errorf("a research query carries the protected column: %+v", res.Columns)
		}
	}
	if _, err := client.Joint(ctx, rate("spend_other", "underwriting")); err != nil {
		t.Fatalf("a rate by an unrelated column for underwriting: %v", err)
	}
	assertCharges(t, c, 3, 3)
	// The planner, free, does not take the segmenting purpose for a
	// refusal, and plans the proxy checks' share of the budget: the same
	// rate's count is noisier for underwriting than for research.
	p, err := client.Plan(ctx, rate("spend_other", "underwriting"), aggregate.Assumptions{N: 1000}, nil)
	if err != nil || p.Refusal != "" {
		t.Fatalf("plan of a rate by an unrelated column for underwriting: %v, refusal %+v", err, p)
	}
	research, err := client.Plan(ctx, rate("spend_other", "research"), aggregate.Assumptions{N: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Request.Proxies) == 0 || len(research.Request.Proxies) != 0 {
		t.Fatalf("planned proxy checks: %d for underwriting, %d for research", len(p.Request.Proxies), len(research.Request.Proxies))
	}
	if nu, nr := p.Plan.Cells[0].NoiseStd, research.Plan.Cells[0].NoiseStd; !(nu > nr) {
		t.Errorf("planned noise of the count: %g for underwriting, %g for research; want more where the proxy checks take their share", nu, nr)
	}

	// The insurer's audit log records the refusal with both columns, the
	// association and the threshold; its report words it.
	var refused *audit.Event
	for _, ev := range auditLog(t, c.Configs[1]) {
		if ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionRefuse {
			refused = &ev
		}
	}
	if refused == nil || refused.Detail["proxy_by"] != "node0.spend_proxy" || refused.Detail["proxy_protected"] != "node1.age" ||
		refused.Detail["proxy_threshold"] != "0.3" || refused.Detail["proxy_kind"] != aggregate.ProxyPearson {
		t.Fatalf("node1's refusal as recorded: %+v", refused)
	}
	if a, err := parseFloat(refused.Detail["proxy_association"]); err != nil || a < 0.6 {
		t.Errorf("recorded association %q, want the planted one (about 0.95)", refused.Detail["proxy_association"])
	}
	rep := transparency(t, c.Configs[1], audit.ReportOptions{})
	var withheld int
	for _, q := range rep.Queries {
		if q.Outcome == audit.OutcomeWithheld && strings.Contains(q.Reason, "proxy of protected column node1.age") && q.Charged {
			withheld++
		}
	}
	if withheld != 1 {
		t.Errorf("node1's report has %d queries withheld by the proxy check, want 1: %+v", withheld, rep.Queries)
	}

	// Correlations within buckets of the proxy group people by it as the
	// rate did: the same check refuses them.
	_, err = client.Joint(ctx, party.JointRequest{X: []aggregate.ColumnRef{ref(node0, "spend_other"), ref(node0, "spend_proxy")}, Y: []aggregate.ColumnRef{ref(node1, "claims")},
		Correlations: true, CorrelationX: []aggregate.ColumnRef{ref(node0, "spend_other")}, CorrelationY: []aggregate.ColumnRef{ref(node1, "claims")},
		CorrelationBy: ref(node0, "spend_proxy"), CorrelationEdges: []float64{500, 1000}, Purpose: "underwriting", Epsilon: 10, Delta: 1e-6})
	if !errors.As(err, &r) || r.Owner != node1 || !strings.Contains(r.Reason, "grouping column node0.spend_proxy") {
		t.Fatalf("correlations by the proxy for underwriting: %v, want node1's refusal naming the grouping column", err)
	}
	assertCharges(t, c, 4, 4)
}

// TestProxyCheckAdversary: an evaluator with a genuine node certificate
// that leaves out the insurer's proxy check, or the check against its
// protected column, is refused by the insurer's node at admission and at
// the charge, and nothing is charged.
func TestProxyCheckAdversary(t *testing.T) {
	c := proxyWorld(t, 200)
	ctx := context.Background()
	params := crypto.MustParameters(crypto.PresetTest)
	qpk := querierKey(t, params)
	info, err := c.Dial(t, 1).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Segmenting) != 1 || info.Segmenting[0] != "underwriting" || info.ProxyThreshold != 0.3 || info.Tags["age"][0] != party.TagProtected {
		t.Fatalf("node1's Info: segmenting %v at %v, tags %v", info.Segmenting, info.ProxyThreshold, info.Tags)
	}
	wire := func(name string) *pb.ColumnRef {
		b := info.Bounds[name]
		return &pb.ColumnRef{Owner: partytest.NodeName(1), Name: name, Lo: b[0], Hi: b[1]}
	}
	spec := func(id string) *pb.QuerySpec {
		by, claims, exposure := wireColumn(0, "spend_proxy", 0, 2000), wire("claims"), wire("exposure_months")
		return &pb.QuerySpec{Id: id, QuerierPublicKey: qpk, Purpose: "underwriting", Epsilon: 10, Delta: 1e-6, Querier: partytest.Querier,
			Kind: &pb.QuerySpec_Joint{Joint: &pb.JointQuery{X: []*pb.ColumnRef{by}, Y: []*pb.ColumnRef{claims, exposure},
				Rates: []*pb.RateSpec{{Events: claims, Exposure: exposure, By: by, Edges: []float64{500, 1000}}}}}}
	}
	noGuard := spec("proxy-no-guard-0001")
	noCheck := spec("proxy-no-check-0001")
	noCheck.GetJoint().ProxyGuards = []*pb.ProxyGuard{{Owner: partytest.NodeName(1), Threshold: 0.3}}
	lowered := spec("proxy-lowered-0001")
	lowered.GetJoint().ProxyGuards = []*pb.ProxyGuard{{Owner: partytest.NodeName(1), Threshold: 0.9}}
	fed := pb.NewFederationClient(dialAs(t, c, partytest.NodeName(0), 1))
	for _, tc := range []struct {
		spec *pb.QuerySpec
		want string
	}{
		{noGuard, "lacks this owner's proxy check at threshold 0.3"},
		{lowered, "lacks this owner's proxy check at threshold 0.3"},
		{noCheck, `lacks the proxy check of grouping column node0.spend_proxy against protected column "age"`},
	} {
		for _, charge := range []bool{false, true} {
			_, err := fed.Admit(ctx, &pb.AdmitRequest{Query: tc.spec, Evaluator: partytest.NodeName(0), Charge: charge})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s (charge %v) straight to node1: %v, want its refusal %q", tc.spec.Id, charge, err, tc.want)
			}
		}
	}
	assertCharges(t, c, 0, 0)
}

func parseFloat(s string) (float64, error) {
	var v float64
	_, err := fmt.Sscan(s, &v)
	return v, err
}

// TestConfigProxy: segmenting and proxy_threshold parse from HCL, the
// threshold defaults when left out, and every mistake names the field.
func TestConfigProxy(t *testing.T) {
	dir := t.TempDir()
	cfg, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, `
policy {
  purposes        = ["research", "underwriting", "pricing"]
  segmenting      = ["underwriting", "pricing"]
  proxy_threshold = 0.25
}`)))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Policy; len(p.Segmenting) != 2 || p.ProxyThreshold != 0.25 {
		t.Fatalf("policy %+v", p)
	}
	for _, tc := range []struct{ name, policy, want string }{
		{"unknown purpose", `policy {
  purposes   = ["research"]
  segmenting = ["underwritng"]
}`, `segmenting: "underwritng" is not a purpose of the policy (purposes: research)`},
		{"twice", `policy {
  purposes   = ["research", "pricing"]
  segmenting = ["pricing", "pricing"]
}`, `segmenting: "pricing" is listed twice`},
		{"threshold alone", `policy {
  proxy_threshold = 0.3
}`, `proxy_threshold: a proxy threshold needs segmenting purposes`},
		{"threshold above 1", `policy {
  purposes        = ["pricing"]
  segmenting      = ["pricing"]
  proxy_threshold = 1.5
}`, `proxy_threshold: must lie in (0, 1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := party.ParseConfig("node.hcl", []byte(rulesHCL(dir, tc.policy)))
			if !errors.Is(err, party.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
