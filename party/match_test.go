package party_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// matchWorld makes two tables with nx and ny records of which common are
// shared, identified by normalized e-mail addresses.
func matchWorld(seed uint64, nx, ny, common int) (*party.Table, *party.Table, []string, []string) {
	rng := rand.New(rand.NewPCG(seed, 7))
	email := func(i int) string { return fmt.Sprintf("customer%d.%d@example.org", i, rng.IntN(1000)) }
	var xs, ys []string
	for i := 0; i < common; i++ {
		e := email(i)
		xs, ys = append(xs, e), append(ys, e)
	}
	for i := common; i < nx; i++ {
		xs = append(xs, email(100000+i))
	}
	for i := common; i < ny; i++ {
		ys = append(ys, email(200000+i))
	}
	rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	rng.Shuffle(len(ys), func(i, j int) { ys[i], ys[j] = ys[j], ys[i] })
	table := func(ids []string) *party.Table {
		t := &party.Table{Values: map[string][]float64{"v": make([]float64, len(ids))}}
		for _, id := range ids {
			norm, err := ident.NormalizeEmail(id)
			if err != nil {
				panic(err)
			}
			t.Keys = append(t.Keys, []byte(norm))
		}
		return t
	}
	return table(xs), table(ys), xs, ys
}

func TestMatchAcrossNodes(t *testing.T) {
	for _, tc := range []struct{ nx, ny, common int }{{120, 80, 0}, {100, 100, 50}, {90, 90, 90}, {60, 140, 60}, {1, 1, 1}} {
		t.Run(fmt.Sprintf("X=%d/Y=%d/common=%d", tc.nx, tc.ny, tc.common), func(t *testing.T) {
			tx, ty, xs, ys := matchWorld(uint64(tc.nx*1000+tc.common), tc.nx, tc.ny, tc.common)
			c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{tx, ty}})
			ctx := context.Background()
			infoA, la, err := c.Nodes[0].Match(ctx, partytest.NodeName(1))
			if err != nil {
				t.Fatal(err)
			}
			infoB, lb, err := c.Nodes[1].Layout(ctx, partytest.NodeName(0))
			if err != nil {
				t.Fatal(err)
			}
			if infoA.Session != infoB.Session {
				t.Fatalf("sessions differ: %s %s", infoA.Session, infoB.Session)
			}
			union := tc.nx + tc.ny - tc.common
			if la.UnionSize != union || lb.UnionSize != union {
				t.Fatalf("union sizes %d and %d, want %d", la.UnionSize, lb.UnionSize, union)
			}
			// Oracle: a common identifier sits on the same row on both sides;
			// rows are distinct and in range.
			rowOfY := map[string]int{}
			for j, y := range ys {
				rowOfY[y] = lb.Rows[j]
			}
			seen := map[int]bool{}
			for j, x := range xs {
				r := la.Rows[j]
				if r < 0 || r >= union || seen[r] {
					t.Fatalf("row %d of own record %d is out of range or repeated", r, j)
				}
				seen[r] = true
				if ry, ok := rowOfY[x]; ok && ry != r {
					t.Fatalf("common record on row %d at A and %d at B", r, ry)
				}
			}
			for j, y := range ys {
				if seen[lb.Rows[j]] && !contains(xs, y) {
					t.Fatalf("B-only record shares row %d with an A record", lb.Rows[j])
				}
			}

			// Leakage: no identifier, normalized identifier or unblinded
			// H(x) appears in anything either node sent.
			session, _ := hex.DecodeString(infoA.Session)
			dst := match.DomainTag("testfed/email/v1", session)
			var secrets [][]byte
			for _, id := range append(append([]string{}, xs...), ys...) {
				norm, _ := ident.NormalizeEmail(id)
				secrets = append(secrets, []byte(id), []byte(norm), match.HashToGroup([]byte(norm), dst))
			}
			for i, rec := range c.Transcripts {
				for _, m := range rec.Messages() {
					for _, s := range secrets {
						if bytes.Contains(m, s) {
							t.Fatalf("%s sent an identifier or its hash", c.Configs[i].Name)
						}
					}
				}
			}
		})
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestMatchShapes checks that what each node receives depends only on the
// set sizes and the intersection size, not on which records intersect.
func TestMatchShapes(t *testing.T) {
	shape := func(seed uint64) []int {
		tx, ty, _, _ := matchWorld(seed, 70, 50, 20)
		c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{tx, ty}})
		before := []int{len(c.Transcripts[0].Messages()), len(c.Transcripts[1].Messages())}
		if _, _, err := c.Nodes[0].Match(context.Background(), partytest.NodeName(1)); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for i, rec := range c.Transcripts {
			for _, m := range rec.Messages()[before[i]:] {
				sizes = append(sizes, len(m))
			}
			sizes = append(sizes, -1)
		}
		return sizes
	}
	a, b := shape(1), shape(2)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("message shapes differ between intersections of equal size:\n%v\n%v", a, b)
	}
}

func TestMatchCacheAndErrors(t *testing.T) {
	tx, ty, _, _ := matchWorld(9, 40, 30, 10)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{tx, ty}})
	ctx := context.Background()
	info1, _, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	calls := len(c.Transcripts[0].Calls())
	info2, _, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	if info2.Session != info1.Session || len(c.Transcripts[0].Calls()) != calls {
		t.Fatal("a cached layout was recomputed although the data did not change")
	}
	// Changed data: the layout is recomputed.
	tx.Keys = append(tx.Keys, []byte("new.customer@example.org"))
	tx.Values["v"] = append(tx.Values["v"], 0)
	tx.Digest = nil
	info3, l3, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	if info3.Session == info1.Session || l3.UnionSize != 61 {
		t.Fatalf("changed data: session %s, union %d", info3.Session, l3.UnionSize)
	}

	// Duplicated identifiers are an input error naming counts, never values.
	tx.Keys = append(tx.Keys, tx.Keys[0])
	tx.Digest = nil
	_, _, err = c.Nodes[0].Match(ctx, partytest.NodeName(1))
	if err == nil || !strings.Contains(err.Error(), "duplicate") || strings.Contains(err.Error(), string(tx.Keys[0])) {
		t.Fatalf("duplicated identifier: %v", err)
	}
	// The peer's duplicated identifiers abort the session on both sides.
	tx.Keys = tx.Keys[:len(tx.Keys)-1]
	tx.Digest = nil
	ty.Keys = append(ty.Keys, ty.Keys[0])
	ty.Digest = nil
	if _, _, err = c.Nodes[0].Match(ctx, partytest.NodeName(1)); err == nil {
		t.Fatal("matching with a peer whose data has duplicates succeeded")
	}
	// Nothing was cached by the failed sessions.
	info4, _, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err == nil && info4.Session != info3.Session {
		t.Fatal("a failed session replaced the cached layout")
	}

	// An empty dataset is refused.
	empty := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{&party.Table{}, ty}})
	if _, _, err := empty.Nodes[0].Match(ctx, partytest.NodeName(1)); err == nil || !strings.Contains(err.Error(), "no consenting records") {
		t.Fatalf("empty dataset: %v", err)
	}
}

// TestMatchRejectsMalformedPeer plays a misbehaving party A against a real
// node over gRPC: each malformed list is refused with InvalidArgument.
func TestMatchRejectsMalformedPeer(t *testing.T) {
	_, ty, _, _ := matchWorld(3, 10, 10, 5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{&party.Table{}, ty}, Insecure: true})
	conn, err := grpc.NewClient(c.Nodes[1].Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := match.HashToGroup([]byte("a"), []byte("t"))
	identity := make([]byte, match.PointSize)
	nonCanonical := bytes.Repeat([]byte{0xff}, match.PointSize)
	cases := map[string]struct {
		announced uint64
		points    [][]byte
		want      string
	}{
		"identity":      {2, [][]byte{good, identity}, "identity"},
		"non-canonical": {2, [][]byte{good, nonCanonical}, "canonical"},
		"duplicate":     {2, [][]byte{good, good}, "duplicate"},
		"wrong length":  {3, [][]byte{good, match.HashToGroup([]byte("b"), []byte("t")), match.HashToGroup([]byte("c"), []byte("t"))}, "announces"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			peerRefuses(t, conn, codes.InvalidArgument, tc.want,
				&pb.MatchFrame{Body: &pb.MatchFrame_Hello{Hello: &pb.MatchHello{Node: partytest.NodeName(0), SessionId: bytes.Repeat([]byte{7}, 16), Records: 2, IdKind: "email", NormalizationVersion: ident.Version}}},
				&pb.MatchFrame{Body: &pb.MatchFrame_Points{Points: &pb.MatchPoints{Message: uint32(match.MsgBlindedA), Announced: tc.announced, Points: match.Pack(tc.points)}}})
		})
	}
}

// peerRefuses opens a Match stream to conn as a peer with its own client,
// sends frames and requires the node to end the stream with code,
// mentioning want.
func peerRefuses(t *testing.T, conn *grpc.ClientConn, code codes.Code, want string, frames ...*pb.MatchFrame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := pb.NewFederationClient(conn).Match(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := stream.Send(f); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != code || !strings.Contains(err.Error(), want) {
			t.Fatalf("want %s mentioning %q, got %v", code, want, err)
		}
		return
	}
}

// TestCrossedMatching: two nodes that need a layout of each other at the
// same moment (two queries evaluated at either node) do not wait for each
// other until the matching timeout: the session of the node whose name
// sorts first goes on, the other node serves it and takes its layout. Each
// ends with the same union after one session, recorded once in each audit
// log.
func TestCrossedMatching(t *testing.T) {
	r, i := jointWorld(t, 400, 0.5)
	for round := range 3 { // crossing is a race: run it a few times
		c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var wg sync.WaitGroup
		infos := make([]*party.MatchInfo, 2)
		errs := make([]error, 2)
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				infos[k], _, errs[k] = c.Nodes[k].Layout(ctx, partytest.NodeName(1-k))
			}()
		}
		wg.Wait()
		cancel()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node%d: %v", round, k, err)
			}
		}
		if infos[0].UnionSize != infos[1].UnionSize || infos[0].Session != infos[1].Session {
			t.Fatalf("round %d: node0 has union %d of session %s, node1 %d of %s", round, infos[0].UnionSize, infos[0].Session, infos[1].UnionSize, infos[1].Session)
		}
		matchedOnce(t, c)
	}
}

// matchedOnce checks that each node of c recorded one matching session.
func matchedOnce(t *testing.T, c *partytest.Cluster) {
	t.Helper()
	for k := range c.Configs {
		if n := countKind(t, c, k, audit.KindMatching); n != 1 {
			t.Fatalf("node%d recorded %d matching sessions, want 1", k, n)
		}
	}
}

// TestCrossedQueries: two queries sent at once to either owner, each the
// evaluator of its own, before any matching: both are answered, exactly
// and alike, with one matching between the two nodes.
func TestCrossedQueries(t *testing.T) {
	r, i := jointWorld(t, 400, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reqs := []party.JointRequest{
		{X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}}, Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}}},
		{X: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}}, Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}}},
	}
	clients := []*party.Client{c.Dial(t, 0), c.Dial(t, 1)}
	results := make([]*party.JointResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range reqs {
		reqs[k].Correlations, reqs[k].Purpose, reqs[k].Exact = true, "research", true
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k], errs[k] = clients[k].Joint(ctx, reqs[k])
		}()
	}
	wg.Wait()
	var rs []float64
	for k, res := range results {
		if errs[k] != nil {
			t.Fatalf("the query evaluated at node%d: %v", k, errs[k])
		}
		for _, cell := range res.Cells {
			if cell.Statistic == aggregate.CellPearson {
				rs = append(rs, cell.Value)
			}
		}
	}
	n, sx, sy, sxx, syy, sxy := plainJoin(r, i, "spend_diet_aids", "claims_diabetes")
	want := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
	// As checkPearson: values without a declared step are encoded at a
	// fixed-point resolution.
	if len(rs) != 2 || rs[0] != rs[1] || math.Abs(rs[0]-want) > 1e-6 {
		t.Fatalf("r at either evaluator %v, want one value from each equal to the plaintext join's %v", rs, want)
	}
	matchedOnce(t, c)
}

// TestQueryFollowsServedMatching: a query that reaches a node while the
// node serves the matching with the peer that the query needs waits for
// that session and takes its layout (each node records one matching), and
// its querier sees that session's progress: a matching phase at the
// protocol's bound 3(x + y) that ends there, then the upload and release.
func TestQueryFollowsServedMatching(t *testing.T) {
	r, i := jointWorld(t, 8000, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	matched := make(chan error, 1)
	go func() {
		_, _, err := c.Nodes[0].Match(ctx, partytest.NodeName(1))
		matched <- err
	}()
	// node1 records the session as it begins to serve it.
	for countKind(t, c, 1, audit.KindMatching) == 0 {
		if ctx.Err() != nil {
			t.Fatal("node1 never served the matching")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var events []party.Progress
	qctx := party.WithProgress(ctx, func(p party.Progress) { events = append(events, p) })
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}},
		Correlations: true, Purpose: "research", Exact: true,
	}
	if _, err := c.Dial(t, 1).Joint(qctx, req); err != nil {
		t.Fatal(err)
	}
	if err := <-matched; err != nil {
		t.Fatalf("the matching node0 opened: %v", err)
	}
	checkProgress(t, events, party.PhaseMatching, party.PhaseUpload, party.PhaseRelease)
	bound := 3 * (r.Records() + i.Records())
	for _, p := range events {
		if p.Phase == party.PhaseMatching && p.Total != bound {
			t.Fatalf("matching progress of %d %s in all, want the served session's %d", p.Total, p.Unit, bound)
		}
	}
	matchedOnce(t, c)
}

// TestChangedDataMatchesAgain: an owner whose data changed while it was
// stopped no longer holds the layout the evaluator cached. At admission it
// says which matchings it can still upload over, so the evaluator matches
// again before anything is charged: the next query is answered over the
// new data, and every charge is for a query that was answered. A y owner
// asked to charge a query over a layout it no longer holds refuses before
// it charges.
func TestChangedDataMatchesAgain(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ctx := context.Background()
	client := c.Dial(t, 0)
	req := correlation("spend_diet_aids", "claims_diabetes", 0, 0)
	req.Exact = true
	ask := func(ins *party.Table) {
		t.Helper()
		res, err := client.Joint(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		n, sx, sy, sxx, syy, sxy := plainJoin(r, ins, "spend_diet_aids", "claims_diabetes")
		want := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
		for _, cell := range res.Cells {
			if cell.Statistic == aggregate.CellPearson && math.Abs(cell.Value-want) > 1e-6 {
				t.Fatalf("r %v, want the plaintext join's %v", cell.Value, want)
			}
		}
	}
	ask(i)
	session := func() []byte {
		t.Helper()
		ev := ofKind(auditLog(t, c.Configs[0]), audit.KindMatching)
		s, err := hex.DecodeString(ev[len(ev)-1].Detail["session"])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := session()

	// The insurer loses some customers while it is stopped.
	changed, _ := partytest.Split(i, func(k int) bool { return k%7 != 0 })
	c.StopNode(t, 1)
	// Meanwhile a query through node0 fails before anything is charged,
	// and says so.
	if _, err := client.Joint(ctx, req); !errors.Is(err, party.ErrNotReady) || !strings.Contains(err.Error(), "node1 does not answer") || !strings.Contains(err.Error(), "nothing was charged") {
		t.Fatalf("a query while node1 is stopped: %v", err)
	}
	c.StartNode(t, 1, party.WithDataset(changed))
	c.WaitSetup(t)
	ask(changed)
	if n := countKind(t, c, 0, audit.KindMatching); n != 2 {
		t.Fatalf("node0 recorded %d matchings, want 2: one more once the insurer's data changed", n)
	}
	assertCharges(t, c, 2, 2)

	// An evaluator that names the old session in the charge round.
	params := crypto.MustParameters(crypto.PresetTest)
	col := func(owner int, name string, tb *party.Table) *pb.ColumnRef {
		lo, hi, _ := tb.ColumnBounds(name)
		return wireColumn(owner, name, lo, hi)
	}
	spec := jointSpec("stale-session-charge1", querierKey(t, params), 1, col(0, "spend_diet_aids", r), col(1, "claims_diabetes", changed))
	fed := pb.NewFederationClient(dialAs(t, c, partytest.NodeName(0), 1))
	resp, err := fed.Admit(ctx, &pb.AdmitRequest{Query: spec, Evaluator: partytest.NodeName(0)})
	if err != nil {
		t.Fatal(err)
	}
	cur := resp.GetLayouts().GetSessions()
	if len(cur) != 1 || !bytes.Equal(cur[0], session()) || bytes.Equal(cur[0], old) {
		t.Fatalf("the insurer reports sessions %x, want only the new one %x", cur, session())
	}
	j := spec.GetJoint()
	j.KeyHolders, j.UnionSize = 2, 500
	j.Matches = []*pb.MatchRef{{Owner: partytest.NodeName(1), Session: old, UnionSize: 500, PaddedSize: 500}}
	if _, err := fed.Admit(ctx, &pb.AdmitRequest{Query: spec, Evaluator: partytest.NodeName(0), Charge: true}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no current layout") {
		t.Fatalf("a charge over the old session: %v, want it refused as stale", err)
	}
	assertCharges(t, c, 2, 2)
}
