package party_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

var twoKinds = []string{"email", "phone"}

// mkWorld writes a retailer's and an insurer's CSV files over a population
// of people, each with an e-mail and a phone, and returns their sources.
// The files disagree the way real ones do: the insurer has a stale e-mail
// for some shared customers, each side lacks some phones and a few
// e-mails, some records have neither (and cannot be matched), some insurer
// records carry a phone number that belonged to a retailer customer the
// insurer does not have (a recycled number: the priority rule decides),
// and some customers did not consent. Identifiers are written in varying
// formats, which normalization undoes.
func mkWorld(t testing.TB, people int, seed uint64) (retailer, insurer source.Config) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 99))
	email := func(p int) string { return fmt.Sprintf("Person%d@Example.org", p) }
	phone := func(p int) string { return fmt.Sprintf("(212) 345-%04d", p) }
	inR, inI := make([]bool, people), make([]bool, people)
	for p := range people {
		inR[p], inI[p] = rng.Float64() < 0.7, rng.Float64() < 0.6
	}
	consent := func() string { return strconv.FormatBool(rng.Float64() >= 0.08) }
	spend := func(p int) float64 { return float64(p%97)*7.5 + float64(rng.IntN(100))/100 }

	var rRows, iRows [][]string
	for p := range people {
		if !inR[p] {
			continue
		}
		e, ph := email(p), phone(p)
		switch x := rng.Float64(); {
		case x < 0.15:
			ph = ""
		case x < 0.20:
			e = ""
		case x < 0.22:
			e, ph = "", "" // dropped: no key of any kind
		}
		rRows = append(rRows, []string{e, ph, consent(), strconv.FormatFloat(spend(p), 'f', 2, 64)})
	}
	var recycled []int // retailer customers the insurer does not have
	for p := range people {
		if inR[p] && !inI[p] {
			recycled = append(recycled, p)
		}
	}
	for p := range people {
		if !inI[p] {
			continue
		}
		e, ph := strings.ToUpper(email(p)), "+1 "+phone(p)
		switch x := rng.Float64(); {
		case x < 0.20:
			e = fmt.Sprintf("old.address%d@example.net", p) // stale
		case x < 0.28:
			e = ""
		}
		switch x := rng.Float64(); {
		case x < 0.20:
			ph = ""
		case x < 0.26 && len(recycled) > 0:
			ph, recycled = phone(recycled[0]), recycled[1:]
		}
		claims := math.Floor(float64(p%97)/20) + float64(rng.IntN(2))
		iRows = append(iRows, []string{e, ph, consent(), strconv.FormatFloat(claims, 'f', 0, 64)})
	}
	rng.Shuffle(len(iRows), func(a, b int) { iRows[a], iRows[b] = iRows[b], iRows[a] })
	write := func(name, col string, rows [][]string) string {
		return writeCSV(t, filepath.Join(dir, name), []string{"email", "phone", "consent", col}, rows)
	}
	lo, hiS, hiC := 0.0, 1000.0, 10.0
	retailer = source.Config{Kind: source.KindCSV, Path: write("retailer.csv", "spend", rRows),
		Columns: []source.Column{{Name: "spend", Type: source.TypeNumeric, Lo: &lo, Hi: &hiS}}}
	insurer = source.Config{Kind: source.KindCSV, Path: write("insurer.csv", "claims", iRows),
		Columns: []source.Column{{Name: "claims", Type: source.TypeNumeric, Lo: &lo, Hi: &hiC}}}
	return retailer, insurer
}

// plainMultiKeyPairs is the match rule of crypto/match/README.md in
// plaintext: a key of a kind that several records of one side carry is
// ignored, then, kind by kind in priority order, two records still
// unpaired that carry the same key are paired. It returns the pairs as
// (record of a, record of b).
func plainMultiKeyPairs(a, b *party.Table) [][2]int {
	kinds := len(a.KeyKinds)
	usable := func(t *party.Table, k int) map[string]int { // key → its one record
		count, at := map[string]int{}, map[string]int{}
		for j, r := range t.MultiKeys {
			if len(r[k]) > 0 {
				count[string(r[k])]++
				at[string(r[k])] = j
			}
		}
		for key, c := range count {
			if c > 1 {
				delete(at, key)
			}
		}
		return at
	}
	pairA, pairB := map[int]int{}, map[int]int{}
	var pairs [][2]int
	for k := range kinds {
		inA, inB := usable(a, k), usable(b, k)
		for j := range a.MultiKeys {
			key := string(a.MultiKeys[j][k])
			if _, ok := pairA[j]; ok || key == "" || inA[key] != j {
				continue
			}
			if i, ok := inB[key]; ok {
				if _, taken := pairB[i]; !taken {
					pairA[j], pairB[i] = i, j
					pairs = append(pairs, [2]int{j, i})
				}
			}
		}
	}
	return pairs
}

// plainOneKey counts the pairs of a join on kind k alone.
func plainOneKey(a, b *party.Table, k int) int {
	in := map[string]bool{}
	for _, r := range b.MultiKeys {
		if len(r[k]) > 0 {
			in[string(r[k])] = true
		}
	}
	n := 0
	for _, r := range a.MultiKeys {
		if len(r[k]) > 0 && in[string(r[k])] {
			n++
		}
	}
	return n
}

// startMultiKey starts two nodes that read the sources themselves and
// match on kinds (nodes' join_keys), or on join[i] where given.
func startMultiKey(t *testing.T, r, i source.Config, join ...[]string) *partytest.Cluster {
	t.Helper()
	c := partytest.Configure(t, 2, partytest.Options{})
	for k, src := range []source.Config{r, i} {
		c.Configs[k].Source = &src
		c.Configs[k].JoinKeys = twoKinds
		if k < len(join) {
			c.Configs[k].JoinKeys = join[k]
		}
	}
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	return c
}

// TestMultiKeyJointQuery: two nodes over gRPC that match on e-mail, then
// phone, answer an exact joint query over exactly the pairs the documented
// rule makes, computed here in plaintext from the same sources.
func TestMultiKeyJointQuery(t *testing.T) {
	rSrc, iSrc := mkWorld(t, 400, 5)
	r := partytest.LoadTableJoin(t, rSrc, twoKinds)
	ins := partytest.LoadTableJoin(t, iSrc, twoKinds)
	pairs := plainMultiKeyPairs(r, ins)
	byEmail, byPhone := plainOneKey(r, ins, 0), plainOneKey(r, ins, 1)
	if len(pairs) <= byEmail || len(pairs) <= byPhone {
		t.Fatalf("world too easy: %d pairs, %d by e-mail alone, %d by phone alone", len(pairs), byEmail, byPhone)
	}
	c := startMultiKey(t, rSrc, iSrc)
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims"}},
		Correlations: true, Purpose: "research", Exact: true,
	}
	var mu sync.Mutex
	var matching []party.Progress
	ctx := party.WithProgress(context.Background(), func(p party.Progress) {
		if p.Phase == party.PhaseMatching {
			mu.Lock()
			matching = append(matching, p)
			mu.Unlock()
		}
	})
	res, err := c.Dial(t, 0).Joint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The matching reports its progress in scalar multiplications against
	// the multi-key bound (K + 2)(x + y), and ends at it.
	mu.Lock()
	if len(matching) == 0 {
		t.Fatal("no progress report of the matching")
	}
	last := matching[len(matching)-1]
	mu.Unlock()
	if bound := int64(len(twoKinds)+2) * (r.Records() + ins.Records()); last.Total != bound || last.Done != last.Total {
		t.Fatalf("matching progress ended at %d of %d %s, want %d of %d", last.Done, last.Total, last.Unit, bound, bound)
	}
	checkJointOverPairs(t, res, pairs, r.Values["spend"], ins.Values["claims"])
	t.Logf("%d pairs (e-mail alone %d, phone alone %d) of %d and %d records", len(pairs), byEmail, byPhone, r.Records(), ins.Records())
}

// checkJointOverPairs checks an exact joint result's count and Pearson r
// against the plaintext join of x and y over pairs (record of x, record
// of y).
func checkJointOverPairs(t *testing.T, res *party.JointResult, pairs [][2]int, x, y []float64) {
	t.Helper()
	var n, sx, sy, sxx, syy, sxy float64
	for _, p := range pairs {
		a, b := x[p[0]], y[p[1]]
		n++
		sx, sy, sxx, syy, sxy = sx+a, sy+b, sxx+a*a, syy+b*b, sxy+a*b
	}
	rho := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
	var counted, correlated bool
	for _, cell := range res.Cells {
		switch {
		case cell.Statistic == aggregate.CellCount && cell.X == "" && cell.Y == "" && cell.Group == "":
			if cell.Value != n {
				t.Fatalf("joint count %v, the rule gives %v pairs", cell.Value, n)
			}
			counted = true
		case cell.Statistic == aggregate.CellPearson:
			if math.Abs(cell.Value-rho) > 1e-6 || cell.N != n || !cell.Exact {
				t.Fatalf("r = %v over %v records, the plaintext join under the rule gives %v over %v", cell.Value, cell.N, rho, n)
			}
			correlated = true
		}
	}
	if !counted || !correlated {
		t.Fatalf("result without the count (%v) or the correlation (%v): %+v", counted, correlated, res.Cells)
	}
}

// TestMultiKeyTranscriptHasNoIdentifiers: nothing either node sends in a
// multi-key matching contains an identifier as written, normalized, or
// hashed to the group under its kind's tag; and every point list of the
// session is one of the multi-key protocol's.
func TestMultiKeyTranscriptHasNoIdentifiers(t *testing.T) {
	rSrc, iSrc := mkWorld(t, 150, 6)
	r := partytest.LoadTableJoin(t, rSrc, twoKinds)
	ins := partytest.LoadTableJoin(t, iSrc, twoKinds)
	c := startMultiKey(t, rSrc, iSrc)
	before := []int{len(c.Transcripts[0].Messages()), len(c.Transcripts[1].Messages())}
	info, layout, err := c.Nodes[0].Match(context.Background(), partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	if want := int(r.Records()+ins.Records()) - len(plainMultiKeyPairs(r, ins)); layout.UnionSize != want {
		t.Fatalf("union of %d, the rule gives %d", layout.UnionSize, want)
	}
	session, _ := hex.DecodeString(info.Session)
	dst := match.DomainTag("testfed/email,phone/v"+fmt.Sprint(ident.Version), session)
	var secrets [][]byte
	for _, path := range []string{rSrc.Path, iSrc.Path} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows[1:] {
			for _, id := range row[:2] {
				if id != "" {
					secrets = append(secrets, []byte(id))
				}
			}
		}
	}
	for _, tab := range []*party.Table{r, ins} {
		for _, rec := range tab.MultiKeys {
			for k, key := range rec {
				if len(key) > 0 {
					secrets = append(secrets, key, match.HashToGroup(key, match.KindTag(dst, twoKinds[k])))
				}
			}
		}
	}
	lists := 0
	for i, rec := range c.Transcripts {
		for _, m := range rec.Messages()[before[i]:] {
			for _, s := range secrets {
				if bytes.Contains(m, s) {
					t.Fatalf("%s sent an identifier or its hash", c.Configs[i].Name)
				}
			}
			var f pb.MatchFrame
			if proto.Unmarshal(m, &f) == nil && f.GetPoints() != nil && f.GetPoints().Announced > 0 {
				if !match.Message(f.GetPoints().Message).MultiKey() {
					t.Fatalf("%s sent list %s in a multi-key session", c.Configs[i].Name, match.Message(f.GetPoints().Message))
				}
				lists++
			}
		}
	}
	if lists < 9 {
		t.Fatalf("%d point lists recorded, want the protocol's 9", lists)
	}
}

// TestJoinKeysMismatch: nodes that declare different kinds, or the same
// kinds in another order, refuse to match, and the error names both lists.
func TestJoinKeysMismatch(t *testing.T) {
	rSrc, iSrc := mkWorld(t, 40, 7)
	for _, tc := range []struct {
		name       string
		a, b       []string
		aSeen, bIs string
	}{
		{"order", twoKinds, []string{"phone", "email"}, `["phone", "email"]`, `["email", "phone"]`},
		{"one kind against two", []string{"email"}, twoKinds, `["email", "phone"]`, `["email"]`},
		{"two kinds against one", twoKinds, []string{"phone"}, `["phone"]`, `["email", "phone"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startMultiKey(t, rSrc, iSrc, tc.a, tc.b)
			_, _, err := c.Nodes[0].Match(context.Background(), partytest.NodeName(1))
			if !errors.Is(err, party.ErrSetupMismatch) || !strings.Contains(err.Error(), tc.aSeen) || !strings.Contains(err.Error(), tc.bIs) {
				t.Fatalf("want a setup mismatch naming %s and %s, got %v", tc.aSeen, tc.bIs, err)
			}
		})
	}
}

// TestMultiKeyLayoutCache: the layout is cached like a single-key one, and
// a change of any key of any kind matches again.
func TestMultiKeyLayoutCache(t *testing.T) {
	rSrc, iSrc := mkWorld(t, 60, 8)
	r := partytest.LoadTableJoin(t, rSrc, twoKinds)
	ins := partytest.LoadTableJoin(t, iSrc, twoKinds)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, ins}})
	for k := range c.Configs {
		c.Configs[k].JoinKeys = twoKinds
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	ctx := context.Background()
	info1, _, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	info2, _, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil || info2.Session != info1.Session {
		t.Fatalf("unchanged data matched again (%v)", err)
	}
	// A phone number changes: the digest covers it.
	for j, rec := range r.MultiKeys {
		if len(rec[1]) > 0 {
			r.MultiKeys[j] = [][]byte{rec[0], []byte("+12123459999")}
			break
		}
	}
	r.Digest = nil
	info3, l3, err := c.Nodes[0].Layout(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	if info3.Session == info1.Session || l3.UnionSize != int(r.Records()+ins.Records())-len(plainMultiKeyPairs(r, ins)) {
		t.Fatalf("changed phone: session %s (was %s), union %d", info3.Session, info1.Session, l3.UnionSize)
	}
	// The other node's cached layout is the same session's.
	infoB, _, err := c.Nodes[1].Layout(ctx, partytest.NodeName(0))
	if err != nil || infoB.Session != info3.Session {
		t.Fatalf("peer's layout: %v, %v", infoB, err)
	}
}

// TestMultiKeyRejectsMalformedPeer plays a misbehaving party A against a
// real node that matches on two kinds: each malformed list is refused with
// InvalidArgument, naming the message.
func TestMultiKeyRejectsMalformedPeer(t *testing.T) {
	_, iSrc := mkWorld(t, 30, 9)
	ins := partytest.LoadTableJoin(t, iSrc, twoKinds)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{&party.Table{}, ins}, Insecure: true})
	for k := range c.Configs {
		c.Configs[k].JoinKeys = twoKinds
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	conn, err := grpc.NewClient(c.Nodes[1].Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pt := func(s string) []byte { return match.HashToGroup([]byte(s), []byte("t")) }
	identity := make([]byte, match.PointSize)
	nonCanonical := bytes.Repeat([]byte{0xff}, match.PointSize)
	for name, tc := range map[string]struct {
		msg       match.Message
		announced uint64
		points    [][]byte
		want      string
	}{
		"identity":        {match.MsgKeysBlindedA, 4, [][]byte{pt("a"), pt("b"), pt("c"), identity}, "KeysBlindedA"},
		"non-canonical":   {match.MsgKeysBlindedA, 4, [][]byte{pt("a"), nonCanonical, pt("c"), pt("d")}, "KeysBlindedA"},
		"duplicate":       {match.MsgKeysBlindedA, 4, [][]byte{pt("a"), pt("b"), pt("a"), pt("d")}, "KeysBlindedA"},
		"half a record":   {match.MsgKeysBlindedA, 3, [][]byte{pt("a"), pt("b"), pt("c")}, "KeysBlindedA announces 3"},
		"single-key list": {match.MsgBlindedA, 2, [][]byte{pt("a"), pt("b")}, "unexpected point list 1"},
		"B's list":        {match.MsgKeysBlindedB, 4, [][]byte{pt("a"), pt("b"), pt("c"), pt("d")}, "unexpected point list 10"},
	} {
		t.Run(name, func(t *testing.T) {
			peerRefuses(t, conn, codes.InvalidArgument, tc.want,
				&pb.MatchFrame{Body: &pb.MatchFrame_Hello{Hello: &pb.MatchHello{Node: partytest.NodeName(0), SessionId: bytes.Repeat([]byte{7}, 16),
					Records: 2, IdKind: "email,phone", IdKinds: twoKinds, NormalizationVersion: ident.Version}}},
				&pb.MatchFrame{Body: &pb.MatchFrame_Points{Points: &pb.MatchPoints{Message: uint32(tc.msg), Announced: tc.announced, Points: match.Pack(tc.points)}}})
		})
	}
}

// TestMatchGraphSelf: an insurer that computes the match graph itself
// (match_graph = "self") is party A of the matching the retailer starts
// for a query it evaluates, and of one it starts itself: the audit logs
// and the layouts say so, and the result is the plaintext join under the
// rule. A peer with its own client and a genuine node certificate that
// cannot swap roles, or claims the match graph too, is refused naming
// match_graph; so are two owners that both say "self", at the first
// matching, with an error that reaches the querier.
func TestMatchGraphSelf(t *testing.T) {
	rSrc, iSrc := mkWorld(t, 300, 8)
	r := partytest.LoadTableJoin(t, rSrc, twoKinds)
	ins := partytest.LoadTableJoin(t, iSrc, twoKinds)
	start := func(graph ...string) *partytest.Cluster {
		c := partytest.Configure(t, 2, partytest.Options{})
		for k, src := range []source.Config{rSrc, iSrc} {
			c.Configs[k].Source = &src
			c.Configs[k].JoinKeys = twoKinds
			c.Configs[k].MatchGraph = graph[k]
		}
		c.StartAll(t)
		return c
	}
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims"}},
		Correlations: true, Purpose: "research", Exact: true,
	}
	roles := func(c *partytest.Cluster) []string {
		var out []string
		for k := range c.Configs {
			for _, ev := range ofKind(auditLog(t, c.Configs[k]), audit.KindMatching) {
				out = append(out, ev.Detail["role"])
			}
		}
		return out
	}

	c := start("", party.MatchGraphSelf)
	res, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	checkJointOverPairs(t, res, plainMultiKeyPairs(r, ins), r.Values["spend"], ins.Values["claims"])
	if got := roles(c); !slices.Equal(got, []string{"B", "A"}) {
		t.Fatalf("matching roles in the audit logs of node0, node1: %v, want B (the evaluator, which started it), A", got)
	}
	for k, want := range []string{"node1 computed the pairing", "this owner computed the pairing"} {
		if !slices.ContainsFunc(transparency(t, c.Configs[k], audit.ReportOptions{}).Activity, func(a audit.ActivityRecord) bool {
			return strings.Contains(a.Text, want)
		}) {
			t.Errorf("node%d's transparency report does not say %q", k, want)
		}
	}
	info, _, err := c.Nodes[1].Match(context.Background(), partytest.NodeName(0))
	if err != nil || info.Role != "A" {
		t.Fatalf("node1 starting a matching: role %+v, %v; want A", info, err)
	}
	if info, _, err = c.Nodes[0].Match(context.Background(), partytest.NodeName(1)); err != nil || info.Role != "B" {
		t.Fatalf("node0 starting a matching with node1: role %+v, %v; want B", info, err)
	}

	conn := dialAs(t, c, partytest.NodeName(0), 1)
	hello := func(computes, swappable bool) *pb.MatchFrame {
		return &pb.MatchFrame{Body: &pb.MatchFrame_Hello{Hello: &pb.MatchHello{Node: partytest.NodeName(0), SessionId: bytes.Repeat([]byte{9}, 16),
			Records: 2, IdKind: "email,phone", IdKinds: twoKinds, NormalizationVersion: ident.Version, ComputesGraph: computes, Swappable: swappable}}}
	}
	peerRefuses(t, conn, codes.FailedPrecondition, "can only start a matching as party A", hello(false, false))
	peerRefuses(t, conn, codes.FailedPrecondition, `both node0 and node1 set match_graph = "self"`, hello(true, true))
	// An opener that accepts the swap and then sends party A's lists
	// anyway is refused at its first list.
	pt := func(s string) []byte { return match.HashToGroup([]byte(s), []byte("t")) }
	peerRefuses(t, conn, codes.InvalidArgument, "unexpected point list 9", hello(false, true),
		&pb.MatchFrame{Body: &pb.MatchFrame_Points{Points: &pb.MatchPoints{Message: uint32(match.MsgKeysBlindedA), Announced: 4, Points: match.Pack([][]byte{pt("a"), pt("b"), pt("c"), pt("d")})}}})

	// Crossed sessions: both nodes need the layout at once. Whichever
	// session goes on, node1 computes the match graph.
	c = start("", party.MatchGraphSelf)
	var wg sync.WaitGroup
	infos, errs := make([]*party.MatchInfo, 2), make([]error, 2)
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[k], _, errs[k] = c.Nodes[k].Layout(context.Background(), partytest.NodeName(1-k))
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || infos[0].Role != "B" || infos[1].Role != "A" || infos[0].Session != infos[1].Session {
		t.Fatalf("crossed sessions: node0 %+v, %v; node1 %+v, %v; want one session, node1 party A", infos[0], errs[0], infos[1], errs[1])
	}

	c = start(party.MatchGraphSelf, party.MatchGraphSelf)
	_, err = c.Dial(t, 0).Joint(context.Background(), req)
	if !errors.Is(err, party.ErrSetupMismatch) || !strings.Contains(err.Error(), `match_graph = "self"`) {
		t.Fatalf("both owners computing the match graph: %v, want a setup mismatch naming match_graph", err)
	}
}
