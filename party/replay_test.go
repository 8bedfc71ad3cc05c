package party_test

import (
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestOneChargeOneRelease is the replay attack of a querier with its own
// gRPC client: it submits a query, then the same bytes again, then other
// content under the same id, then the same bytes after both nodes
// restarted; and, as a deviating evaluator with a genuine node identity,
// asks the other owner to prepare the released query once more. Every
// replay is refused with a reason that names the rule, nothing is charged
// twice, each owner released exactly once, and each node's audit log, its
// transparency report and its ledger agree.
func TestOneChargeOneRelease(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	params := crypto.MustParameters(crypto.PresetTest)
	ctx := context.Background()

	qpk := querierKey(t, params)
	const id = "replayed-query-0001"
	spec := func(eps float64) *pb.QuerySpec {
		return jointSpec(id, qpk, eps, wireColumn(0, "spend_diet_aids", 0, 0), wireColumn(1, "claims_diabetes", 0, 0))
	}
	// submit sends a query and reads its result stream to the end; it
	// returns the header (the query as the owners evaluated it).
	submit := func(s *pb.QuerySpec) (*pb.JointHeader, error) {
		conn := dialAs(t, c, partytest.Querier, 0)
		stream, err := pb.NewQueryClient(conn).SubmitJoint(ctx, &pb.SubmitRequest{Query: s})
		if err != nil {
			return nil, err
		}
		var h *pb.JointHeader
		for {
			part, err := stream.Recv()
			if err != nil {
				if strings.Contains(err.Error(), "EOF") {
					return h, nil
				}
				return h, err
			}
			if part.GetHeader() != nil {
				h = part.GetHeader()
			}
		}
	}
	h, err := submit(spec(1))
	if err != nil || h == nil {
		t.Fatalf("first submission: %v", err)
	}
	if len(h.ReleasedProducts) == 0 {
		t.Fatal("the first submission released nothing")
	}

	refused := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want a refusal saying %q", name, err, want)
		}
	}
	_, err = submit(spec(1))
	refused("same bytes again", err, "one charge buys one release")
	_, err = submit(spec(0.5))
	refused("other content, same id", err, "a query id names one query")

	if len(h.Query.GetJoint().GetMatches()) != 0 {
		t.Fatal("the querier's header carries the owners' matchings (their exact union sizes)")
	}
	if u := h.Query.GetJoint().GetUnionSize(); u == 0 {
		t.Fatal("the header has no plan size")
	}
	// A deviating evaluator (node0's genuine identity, which knows its
	// matching with node1) asks node1 to charge again, then to prepare the
	// query it already released: node1 refuses on its own, and uploads
	// nothing (it uploads only a query it charged and has not prepared).
	chargeAgain := func() error {
		asked := proto.Clone(h.Query).(*pb.QuerySpec)
		asked.GetJoint().UnionSize, asked.GetJoint().Matches, asked.GetJoint().KeyHolders = 0, nil, 0
		_, err := pb.NewFederationClient(dialAs(t, c, partytest.NodeName(0), 1)).Admit(ctx,
			&pb.AdmitRequest{Query: asked, Evaluator: partytest.NodeName(0), Charge: true})
		return err
	}
	prepareAgain := func() error {
		info, layout, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
		if err != nil {
			t.Fatal(err)
		}
		session, _ := hex.DecodeString(info.Session)
		forged := proto.Clone(h.Query).(*pb.QuerySpec)
		_, margin, _ := aggregate.SessionPadding(1, 1e-6, false, 1)
		padded := uint64(layout.UnionSize + margin)
		forged.GetJoint().UnionSize = padded
		forged.GetJoint().Matches = []*pb.MatchRef{{Owner: partytest.NodeName(1), Session: session, UnionSize: uint64(layout.UnionSize), PaddedSize: padded}}
		_, err = pb.NewFederationClient(dialAs(t, c, partytest.NodeName(0), 1)).Prepare(ctx,
			&pb.PrepareRequest{Query: forged, Evaluator: partytest.NodeName(0), Seed: make([]byte, 32)})
		return err
	}
	refused("charge again at the other owner", chargeAgain(), "one charge buys one release")
	notPrepared := func(name string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("%s: %v, want FailedPrecondition (not charged here)", name, err)
		}
	}
	notPrepared("prepare again at the other owner", prepareAgain())

	for k := range c.Nodes {
		c.StopNode(t, k)
	}
	for k := range c.Nodes {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	_, err = submit(spec(1))
	refused("same bytes after a restart", err, "one charge buys one release")
	refused("charge again after a restart", chargeAgain(), "one charge buys one release")
	notPrepared("prepare again after a restart", prepareAgain())

	// Each owner charged once and released once (the counts, then the
	// result); its report counts what its audit log and ledger say.
	for k, cfg := range c.Configs {
		acct, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
		if err != nil {
			t.Fatal(err)
		}
		if len(acct) != 1 || acct[0].Charges != 1 || acct[0].Spent.Epsilon != 1 {
			t.Fatalf("%s ledger %+v; want one charge of ε 1", cfg.Name, acct)
		}
		data, err := os.ReadFile(cfg.AuditPath())
		if err != nil {
			t.Fatal(err)
		}
		events, _, err := audit.ReadEvents(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		stages := map[string]int{}
		var admitted, allowed, refusals int
		for _, ev := range events {
			if ev.QueryID != id {
				continue
			}
			switch ev.Kind {
			case audit.KindRelease:
				stages[ev.Detail[audit.DetailStage]]++
			case audit.KindPolicyDecision:
				switch ev.Detail[audit.DetailDecision] {
				case audit.DecisionAdmit:
					admitted++
				case audit.DecisionAllow:
					allowed++
				case audit.DecisionRefuse:
					refusals++
				}
			}
		}
		wantRefusals := []int{3, 2}[k] // node0 refused the querier three times, node1 the evaluator twice
		if admitted != 1 || allowed != 1 || refusals != wantRefusals || stages[audit.StageCounts] != 1 || stages[audit.StageResult] != 1 {
			t.Fatalf("%s audit log for %s: %d admitted, %d allowed, %d refused, releases %v; want 1, 1, %d, one of each stage", cfg.Name, id, admitted, allowed, refusals, stages, wantRefusals)
		}
		var report strings.Builder
		if err := audit.Report(strings.NewReader(string(data)), &report); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"of which 1 answered (2 releases", "one charge buys one release"} {
			if !strings.Contains(report.String(), want) {
				t.Errorf("%s report lacks %q", cfg.Name, want)
			}
		}
	}
}

// TestQuerierLearnsPaddedUnion: in a DP query the querier learns the union
// size only padded with DP noise (a fresh draw per query, never below the
// union), and the result carries no owner's matching; an exact query,
// outside DP by definition, states the union.
func TestQuerierLearnsPaddedUnion(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	client := c.Dial(t, 0)
	ctx := context.Background()
	req := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-6)
	_, layout, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	_, margin, err := aggregate.SessionPadding(req.Epsilon, req.Delta, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range 4 {
		res, err := client.Joint(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.UnionSize < layout.UnionSize || res.UnionSize > layout.UnionSize+2*margin {
			t.Fatalf("padded union %d outside [%d, %d]", res.UnionSize, layout.UnionSize, layout.UnionSize+2*margin)
		}
		seen[res.UnionSize] = true
	}
	// σ ≈ 32: four draws agree with probability below 10^-4.
	if len(seen) < 2 {
		t.Fatalf("four queries gave the same padded union %v: no fresh noise", seen)
	}
	req.Exact, req.Epsilon, req.Delta = true, 0, 0
	res, err := client.Joint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.UnionSize != layout.UnionSize {
		t.Fatalf("exact query: union %d, want %d", res.UnionSize, layout.UnionSize)
	}
}
