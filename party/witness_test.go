package party_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// dataFiles is a copy of a node's audit log and budget ledger: what a
// backup of its data directory holds of them.
type dataFiles struct{ audit, ledger []byte }

func copyDataFiles(t *testing.T, cfg party.Config) dataFiles {
	t.Helper()
	a, err := os.ReadFile(cfg.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	l, err := os.ReadFile(cfg.LedgerPath())
	if err != nil {
		t.Fatal(err)
	}
	return dataFiles{a, l}
}

func (d dataFiles) restore(t *testing.T, cfg party.Config) {
	t.Helper()
	if err := os.WriteFile(cfg.AuditPath(), d.audit, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.LedgerPath(), d.ledger, 0o600); err != nil {
		t.Fatal(err)
	}
}

var witnessedRE = regexp.MustCompile(`--witnessed (\d+:[0-9a-f]{64})`)

// ownRefusal waits until node k, queried directly, refuses every query
// because its own log is behind what a peer witnessed (it learns so when
// it greets its peers), and returns the head the refusal names.
func ownRefusal(t *testing.T, client *party.Client, req party.JointRequest) audit.Head {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.Joint(context.Background(), req)
		if !errors.Is(err, party.ErrAuditRolledBack) {
			t.Fatalf("query at the rolled-back node: %v, want ErrAuditRolledBack", err)
		}
		if m := witnessedRE.FindStringSubmatch(err.Error()); m != nil && strings.Contains(err.Error(), "will not serve queries") {
			seq, hash, _ := strings.Cut(m[1], ":")
			h, perr := ledger.ParseHead(seq + ":" + hash)
			if perr != nil {
				t.Fatal(perr)
			}
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rolled-back node still does not refuse on its own: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAuditRollbackWitnessed: an owner's audit log and budget ledger put
// back together from an older backup agree with each other, so the node
// alone cannot tell; they would refund every charge made since. Its peer
// witnessed the newer head: no query runs with the node, whichever node
// evaluates it, and nothing is charged, until the newer files are back or
// the loss is recorded (and a copy from before the record, or after it but
// older than what the peer since witnessed, is refused again).
func TestAuditRollbackWitnessed(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}, PeerCheck: 100 * time.Millisecond})
	for k := range c.Configs {
		c.Configs[k].HealthListen = "127.0.0.1:0"
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	const notServing, serving = healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING
	health0 := healthClient(t, c.Nodes[0].HealthAddr())
	req := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-7)
	req1 := req // evaluated by node1
	req1.X, req1.Y = req.Y, req.X
	at0, cfg := c.Dial(t, 0), c.Configs[1]
	var backup dataFiles
	for k := range 3 {
		if _, err := at0.Joint(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			backup = copyDataFiles(t, cfg)
		}
	}
	c.StopNode(t, 1)
	genuine := copyDataFiles(t, cfg)
	backup.restore(t, cfg)
	if err := cfg.CheckLedger(); err != nil {
		t.Fatalf("the old copies agree with each other, so the node's own check passes; got %v", err)
	}
	c.StartNode(t, 1)
	c.WaitSetup(t)

	// node0 evaluates, node1 uploads: refused, naming node1; then node1
	// itself refuses what it is asked, naming the head node0 witnessed.
	_, err := at0.Joint(context.Background(), req)
	if !errors.Is(err, party.ErrAuditRolledBack) || !strings.Contains(err.Error(), "node1") {
		t.Fatalf("query at node0 with node1 rolled back: %v, want ErrAuditRolledBack naming node1", err)
	}
	at1 := c.Dial(t, 1)
	lost := ownRefusal(t, at1, req1)
	if lost.Seq <= backup.head(t).Seq {
		t.Fatalf("the refusal names head %v, not after the backup's %v", lost, backup.head(t))
	}
	assertCharges(t, c, 3, 1) // node1's as the backup had them
	// Both nodes report it: node1 serves no query, and node0 finds its
	// peer behind (a fresh answer, not an overtaken one).
	waitHealth(t, health0, "jointly.v1.Query", notServing)
	waitHealth(t, healthClient(t, c.Nodes[1].HealthAddr()), "jointly.v1.Query", notServing)

	// The genuine files back: queries run again.
	c.StopNode(t, 1)
	genuine.restore(t, cfg)
	c.StartNode(t, 1)
	c.WaitSetup(t)
	if _, err := at0.Joint(context.Background(), req); err != nil {
		t.Fatalf("query with the genuine files back: %v", err)
	}
	waitHealth(t, health0, "jointly.v1.Query", serving)

	// Lost for good: the operator records the loss the refusal names.
	c.StopNode(t, 1)
	backup.restore(t, cfg)
	c.StartNode(t, 1)
	c.WaitSetup(t)
	lost = ownRefusal(t, at1, req1)
	c.StopNode(t, 1)
	if _, err := party.AcceptAuditLoss(cfg, "node9", lost, hclog.NewNullLogger()); !errors.Is(err, party.ErrUnknownParty) {
		t.Fatalf("a loss witnessed by a node that is no peer: %v", err)
	}
	if _, err := party.AcceptAuditLoss(cfg, "node0", backup.head(t), hclog.NewNullLogger()); !errors.Is(err, party.ErrBadRequest) {
		t.Fatalf("a loss of a head the log holds: %v", err)
	}
	if _, err := party.AcceptAuditLoss(cfg, "node0", lost, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	afterLoss := copyDataFiles(t, cfg)
	c.StartNode(t, 1)
	c.WaitSetup(t)
	for k, r := range []party.JointRequest{req, req1} {
		if _, err := []*party.Client{at0, at1}[k].Joint(context.Background(), r); err != nil {
			t.Fatalf("query at node%d after the loss was recorded: %v", k, err)
		}
	}
	if n := countKind(t, c, 0, audit.KindPeerAuditLoss); n != 1 {
		t.Errorf("node0 recorded %d peer_audit_loss events, want 1", n)
	}
	if n := countKind(t, c, 1, audit.KindAuditLoss); n != 1 {
		t.Errorf("node1 recorded %d audit_loss events, want 1", n)
	}

	// Older copies again, one from before the record and one with it: both
	// are behind what node0 witnessed since, and refused.
	for _, old := range []dataFiles{backup, afterLoss} {
		c.StopNode(t, 1)
		old.restore(t, cfg)
		c.StartNode(t, 1)
		c.WaitSetup(t)
		if _, err := at0.Joint(context.Background(), req); !errors.Is(err, party.ErrAuditRolledBack) {
			t.Fatalf("query at node0 with an older copy at node1: %v, want ErrAuditRolledBack", err)
		}
	}
}

// head is the head of the copied audit log.
func (d dataFiles) head(t *testing.T) audit.Head {
	t.Helper()
	_, h, err := audit.ReadEvents(strings.NewReader(string(d.audit)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestWitnessAdversary: a peer with its own gRPC client and a genuine node
// certificate shows node0 another event at the position node0 witnessed,
// or a malformed head: node0 refuses to admit the query with it. A head
// behind the witnessed one (which an overtaken message shows too) or a
// loss of a head node0 never witnessed moves nothing: node0 keeps the
// witnessed head, goes on to its other checks, and tells the peer what it
// witnessed, for the peer to check its own log. A peer that claims to have
// witnessed an event node0's log does not hold stops node0's queries.
func TestWitnessAdversary(t *testing.T) {
	r, i := jointWorld(t, 200, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-7)
	req.X, req.Y = req.Y, req.X // evaluated by node1
	if _, err := c.Dial(t, 1).Joint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	witnessed := func() *pb.AuditHead {
		resp, err := pb.NewFederationClient(dialAs(t, c, "node1", 0)).Hello(context.Background(), &pb.HelloRequest{
			Federation: c.Configs[1].Federation, Node: "node1", Preset: c.Configs[1].Preset,
			AuditHead: &pb.AuditHead{Seq: 1, Hash: strings.Repeat("0", 64)}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Witnessed
	}
	before := witnessed()
	if before == nil || before.Seq < 5 {
		t.Fatalf("node0 witnessed %v of node1 after a query node1 evaluated", before)
	}
	fed := pb.NewFederationClient(dialAs(t, c, "node1", 0))
	spec := jointSpec("witness-1", querierKey(t, crypto.MustParameters(crypto.PresetTest)), 1, wireColumn(1, "claims_diabetes", 0, 0), wireColumn(0, "spend_diet_aids", 0, 0))
	for _, tc := range []struct {
		name   string
		head   *pb.AuditHead
		reason string
	}{
		// The query's bounds are bad: a request the witness lets through is
		// refused for them.
		{"behind", &pb.AuditHead{Seq: before.Seq - 1, Hash: before.Hash}, "BAD_REQUEST"},
		{"another event at the witnessed position", &pb.AuditHead{Seq: before.Seq, Hash: strings.Repeat("ab", 32)}, "AUDIT_ROLLED_BACK"},
		{"a loss of a head node0 never witnessed", &pb.AuditHead{Seq: 2, Hash: before.Hash, LostSeq: before.Seq + 7, LostHash: before.Hash}, "BAD_REQUEST"},
		{"malformed hash", &pb.AuditHead{Seq: before.Seq + 1, Hash: "xyz"}, "BAD_PEER_MESSAGE"},
		{"malformed lost hash", &pb.AuditHead{Seq: before.Seq + 1, Hash: before.Hash, LostSeq: 3, LostHash: "00"}, "BAD_PEER_MESSAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fed.Admit(context.Background(), &pb.AdmitRequest{Query: spec, Evaluator: "node1", AuditHead: tc.head})
			if got := statusReason(err); got != tc.reason {
				t.Fatalf("Admit with head %v: %v (reason %q), want %s", tc.head, err, got, tc.reason)
			}
			if code := status.Code(err); tc.reason == "AUDIT_ROLLED_BACK" && code != codes.FailedPrecondition {
				t.Errorf("code %v, want FailedPrecondition", code)
			}
		})
	}
	if after := witnessed(); after.Seq != before.Seq || after.Hash != before.Hash {
		t.Fatalf("node0's witness of node1 moved from %v to %v", before, after)
	}
	assertCharges(t, c, 1, 1) // the refused admissions charge nothing

	// A malformed witnessed head is the peer's error, not a rollback.
	bad := &pb.AuditHead{Seq: 2, Hash: "not hex"}
	if _, err := fed.Admit(context.Background(), &pb.AdmitRequest{Query: spec, Evaluator: "node1", AuditHead: before, Witnessed: bad}); statusReason(err) != "BAD_PEER_MESSAGE" {
		t.Fatalf("Admit with a malformed witnessed head: %v, want BAD_PEER_MESSAGE", err)
	}

	// A head of node0's own log that node0 does not hold: node0 cannot tell
	// a lying peer from a rollback, so it refuses this and every query
	// itself, naming the peer, until its operator looks.
	claim := &pb.AuditHead{Seq: 1 << 40, Hash: strings.Repeat("cd", 32)}
	_, err := fed.Admit(context.Background(), &pb.AdmitRequest{Query: spec, Evaluator: "node1", AuditHead: before, Witnessed: claim})
	if statusReason(err) != "AUDIT_ROLLED_BACK" || !strings.Contains(err.Error(), "node1 witnessed this node's audit log") {
		t.Fatalf("Admit claiming node0's event %d: %v", claim.Seq, err)
	}
	if _, err := c.Dial(t, 0).Joint(context.Background(), correlation("spend_diet_aids", "claims_diabetes", 1, 1e-7)); !errors.Is(err, party.ErrAuditRolledBack) {
		t.Fatalf("a query at node0 after: %v, want ErrAuditRolledBack", err)
	}
	assertCharges(t, c, 1, 1)
}

// statusReason is the reason of the ErrorInfo a node's status error
// carries, "" if none.
func statusReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}
