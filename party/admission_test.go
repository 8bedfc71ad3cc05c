package party_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestAdmitThenCharge runs every ordering of refusal and failure around the
// charge over real gRPC with mutual TLS:
//
//   - a purpose the y owner refuses (the evaluator allows it), one the
//     evaluator refuses and a query addressed to the other owner cost
//     nothing at either owner;
//   - a deviating evaluator (a genuine node identity) that admits a query
//     at the y owner and stops before the charge round costs nothing;
//   - one that has the y owner charge and then stops leaves the query
//     "aborted after charge" once the pending timeout passes, and the y
//     owner uploads nothing for it afterwards;
//   - a y owner restarted between its charge and its upload records the
//     query as aborted when it starts again.
//
// At the end every owner's ledger equals what its audit log charged, no
// query is left pending, and the federation answers the next query.
func TestAdmitThenCharge(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i},
		NodeOptions: []party.Option{party.WithPendingTimeout(time.Second)}})
	c.Configs[0].Policy.Purposes = []string{"research", "marketing"}
	c.Configs[1].Policy.Purposes = []string{"research", "underwriting"}
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	ctx := context.Background()
	client := c.Dial(t, 0)
	evaluator, yOwner := partytest.NodeName(0), partytest.NodeName(1)

	query := func(purpose string) party.JointRequest {
		q := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-6)
		q.Purpose = purpose
		return q
	}
	for _, tc := range []struct{ purpose, refuser string }{{"marketing", yOwner}, {"underwriting", evaluator}} {
		_, err := client.Joint(ctx, query(tc.purpose))
		var refusal *party.RefusalError
		if !errors.As(err, &refusal) || !errors.Is(err, party.ErrPolicy) || refusal.Owner != tc.refuser || !strings.Contains(refusal.Reason, tc.purpose) {
			t.Fatalf("purpose %q: %v, want a refusal by %s naming the purpose", tc.purpose, err, tc.refuser)
		}
	}
	// A query addressed to the other owner is refused by the node it
	// reaches, which does not take the evaluator's role with its own
	// columns.
	misdirected := query("research")
	misdirected.Evaluator = yOwner
	if _, err := client.Joint(ctx, misdirected); !errors.Is(err, party.ErrBadRequest) || !strings.Contains(err.Error(), "addressed to "+yOwner) {
		t.Fatalf("a query addressed to %s sent to %s: %v, want it refused", yOwner, evaluator, err)
	}
	assertCharges(t, c, 0, 0)
	if n := countKind(t, c, 1, audit.KindQueryReceived); n != 1 {
		t.Errorf("%s received %d queries, want 1: the query its evaluator refused must never reach it", yOwner, n)
	}

	// A deviating evaluator with node0's certificate.
	params := crypto.MustParameters(crypto.PresetTest)
	qpk := querierKey(t, params)
	col := func(owner int, name string, t *party.Table) *pb.ColumnRef {
		lo, hi, _ := t.ColumnBounds(name)
		return wireColumn(owner, name, lo, hi)
	}
	spec := func(id string) *pb.QuerySpec {
		return jointSpec(id, qpk, 1, col(0, "spend_diet_aids", r), col(1, "claims_diabetes", i))
	}
	fed := func() pb.FederationClient { return pb.NewFederationClient(dialAs(t, c, evaluator, 1)) }
	admit := func(id string, charge bool) {
		t.Helper()
		if _, err := fed().Admit(ctx, &pb.AdmitRequest{Query: spec(id), Evaluator: evaluator, Charge: charge}); err != nil {
			t.Fatalf("admit %s (charge %v): %v", id, charge, err)
		}
	}

	// Stopped between admission and charge: nothing is charged.
	admit("admitted-then-gone-01", false)
	assertCharges(t, c, 0, 0)

	// Stopped after the y owner's charge: the charge stands, the query is
	// aborted once the pending timeout has passed, and nothing is uploaded
	// for it.
	admit("charged-then-gone-001", true)
	assertCharges(t, c, 0, 1)
	waitFor(t, "the abandoned query to be recorded as aborted", func() bool {
		return countKind(t, c, 1, audit.KindQueryAborted) == 1
	})
	forged := spec("charged-then-gone-001")
	j := forged.GetJoint()
	j.KeyHolders, j.UnionSize = 2, 100
	j.Matches = []*pb.MatchRef{{Owner: yOwner, Session: make([]byte, 16), UnionSize: 100, PaddedSize: 100}}
	_, err := fed().Prepare(ctx, &pb.PrepareRequest{Query: forged, Evaluator: evaluator, Seed: make([]byte, 32)})
	if !errors.Is(err, party.ErrNotPrepared) && !strings.Contains(err.Error(), "was not admitted and charged here") {
		t.Fatalf("prepare after the abort: %v, want it refused as not charged here", err)
	}

	// Restarted after the charge: the query is aborted at start.
	admit("charged-then-restart1", true)
	c.StopNode(t, 1)
	c.StartNode(t, 1)
	c.WaitSetup(t)
	if n := countKind(t, c, 1, audit.KindQueryAborted); n != 2 {
		t.Fatalf("%s recorded %d aborted queries after its restart, want 2", yOwner, n)
	}
	assertCharges(t, c, 0, 2)

	if _, err := client.Joint(ctx, query("research")); err != nil {
		t.Fatalf("a query after the failures: %v", err)
	}
	assertCharges(t, c, 1, 3)

	// The report words each outcome, and no charged query is left pending.
	for k, cfg := range c.Configs {
		data, err := os.ReadFile(cfg.AuditPath())
		if err != nil {
			t.Fatal(err)
		}
		var report strings.Builder
		if err := audit.Report(strings.NewReader(string(data)), &report); err != nil {
			t.Fatal(err)
		}
		want := []string{"refused", "released"}
		if k == 1 {
			want = append(want, "admitted, nothing charged", "aborted after charge", "no release within", "the node stopped before the query completed")
		}
		for _, w := range want {
			if !strings.Contains(report.String(), w) {
				t.Errorf("%s report lacks %q", cfg.Name, w)
			}
		}
		if strings.Contains(report.String(), "charged, running") {
			t.Errorf("%s report shows a charged query still running", cfg.Name)
		}
	}
}

// assertCharges checks each owner's ledger: the number of charges, and that
// they are exactly the charges its audit log allowed.
func assertCharges(t *testing.T, c *partytest.Cluster, want ...int) {
	t.Helper()
	for k, cfg := range c.Configs {
		acct, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
		if err != nil {
			t.Fatal(err)
		}
		var charges int
		var spent float64
		for _, a := range acct {
			charges += a.Charges
			spent += a.Spent.Epsilon
		}
		var allowed int
		var audited float64
		for _, ev := range auditLog(t, cfg) {
			if ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionAllow {
				allowed++
				audited += ev.Epsilon
			}
		}
		if charges != want[k] || allowed != charges || audited != spent {
			t.Fatalf("%s: ledger %d charges (ε %g), audit log %d allowed (ε %g); want %d", cfg.Name, charges, spent, allowed, audited, want[k])
		}
	}
}

// auditLog reads a node's audit log.
func auditLog(t *testing.T, cfg party.Config) []audit.Event {
	t.Helper()
	events, _, err := audit.ReadFile(cfg.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// ofKind is the events of one kind, in their order.
func ofKind(events []audit.Event, kind audit.Kind) []audit.Event {
	var out []audit.Event
	for _, ev := range events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// countKind counts the events of one kind in node k's audit log.
func countKind(t *testing.T, c *partytest.Cluster, k int, kind audit.Kind) int {
	t.Helper()
	return len(ofKind(auditLog(t, c.Configs[k]), kind))
}

// transparency is the transparency report of a node's audit log.
func transparency(t *testing.T, cfg party.Config, opts audit.ReportOptions) *audit.Transparency {
	t.Helper()
	f, err := os.Open(cfg.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	report, err := audit.Summarize(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// waitFor polls cond for up to thirty seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: it returns as soon as cond holds, and a loaded 2-core
	// machine can take several seconds for a matching these tests wait on.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// writeCSV writes a CSV file of a header and rows at path and returns path.
func writeCSV(t testing.TB, path string, header []string, rows [][]string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	if header != nil {
		if err := w.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
