package party_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// world gives node0 the retailer's and node1 the insurer's table of a
// synthetic world; with three nodes, node1 and node2 split the insurer's
// policyholders.
func world(t *testing.T, n int) []party.Dataset {
	t.Helper()
	r, i, _ := partytest.World(t, 300, 0.5, 5)
	if n == 2 {
		return []party.Dataset{r, i}
	}
	a, b := partytest.Split(i, func(k int) bool { return k%2 == 0 })
	return []party.Dataset{r, a, b}
}

// exactJoint runs an exact correlation through node i, with node i's
// column as x and the other owner's as y (node0 ↔ node1).
func exactJoint(t *testing.T, c *partytest.Cluster, client *party.Client, i int, xName string) (*party.JointResult, error) {
	t.Helper()
	cols := map[int]string{0: "spend_diet_aids", 1: "claims_diabetes"}
	if xName == "" {
		xName = cols[i]
	}
	other := 1 - i
	return client.Joint(context.Background(), party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(i), Name: xName}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(other), Name: cols[other]}},
		Correlations: true, Purpose: "research", Exact: true,
	})
}

func TestJointAcrossNodes(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			c := partytest.Start(t, n, partytest.Options{Datasets: world(t, n)})
			// Either owner of a pair can evaluate; in a federation of
			// three, a query over two owners needs only their keys.
			var first *party.JointResult
			for i := range 2 {
				res, err := exactJoint(t, c, c.Dial(t, i), i, "")
				if err != nil {
					t.Fatalf("query via %s: %v", c.Nodes[i].Name(), err)
				}
				if len(res.Owners) != 2 || len(res.Cells) == 0 {
					t.Fatalf("via %s: owners %v, %d cells", c.Nodes[i].Name(), res.Owners, len(res.Cells))
				}
				if first == nil {
					first = res
				} else if res.UnionSize != first.UnionSize {
					t.Fatalf("unions %d and %d through the two owners", first.UnionSize, res.UnionSize)
				}
			}
			assertNoSecretInTranscripts(t, c)
		})
	}
}

// assertNoSecretInTranscripts checks that no window of any node's stored
// secret key share, in its serialized form, appears in what any node sent.
func assertNoSecretInTranscripts(t *testing.T, c *partytest.Cluster) {
	t.Helper()
	var secrets [][]byte
	for _, cfg := range c.Configs {
		matches, _ := filepath.Glob(filepath.Join(cfg.DataDir, "keys", "*", "secret-share"))
		if len(matches) != 1 {
			t.Fatalf("%s: want one secret share on disk, found %v", cfg.Name, matches)
		}
		fi, err := os.Stat(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: secret share has mode %v, want 0600", cfg.Name, fi.Mode().Perm())
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, b)
		// The key's coefficients in the clear (not NTT, not Montgomery) too.
		sk := new(rlwe.SecretKey)
		if err := sk.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		for _, lvl := range sk.Value.Q.Coeffs {
			raw := make([]byte, 0, 8*len(lvl))
			for _, v := range lvl {
				raw = append(raw, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
			}
			secrets = append(secrets, raw)
		}
	}
	total := 0
	for i, rec := range c.Transcripts {
		msgs := rec.Messages()
		if len(msgs) == 0 {
			t.Fatalf("%s sent nothing: the recorder is not wired", c.Configs[i].Name)
		}
		for _, m := range msgs {
			total += len(m)
			for _, s := range secrets {
				for off := 64; off+48 <= len(s); off += len(s) / 16 {
					if bytes.Contains(m, s[off:off+48]) {
						t.Fatalf("%s sent bytes of a secret key share", c.Configs[i].Name)
					}
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("empty transcripts")
	}
}

func TestRestartReusesKeys(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{Datasets: world(t, 2)})
	want, err := exactJoint(t, c, c.Dial(t, 1), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := func(i int) []byte {
		b, err := os.ReadFile(filepath.Join(c.Configs[i].DataDir, "keys", "current.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := keyFile(1)
	c.StopNode(t, 1)
	callsBefore := len(c.Transcripts[1].Calls())
	if callsBefore == 0 {
		t.Fatal("no calls recorded during setup")
	}
	c.StartNode(t, 1)
	c.WaitSetup(t)
	if !bytes.Equal(before, keyFile(1)) {
		t.Fatal("restarted node ran a new setup")
	}
	// Loading keys must not have asked any peer for shares.
	for _, m := range c.Transcripts[1].Calls()[callsBefore:] {
		if strings.HasSuffix(m, "/GetSetupShare") {
			t.Fatal("restarted node fetched setup shares")
		}
	}
	res, err := exactJoint(t, c, c.Dial(t, 1), 1, "")
	if err != nil {
		t.Fatal(err)
	}
	for k, cell := range res.Cells {
		if math.Abs(cell.Value-want.Cells[k].Value) > 1e-7*max(1, math.Abs(cell.Value)) {
			t.Fatalf("after restart, cell %d is %v, before %v", k, cell.Value, want.Cells[k].Value)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{Datasets: world(t, 2)})
	client := c.Dial(t, 0)
	_, err := exactJoint(t, c, client, 0, "no_such_column")
	if !errors.Is(err, party.ErrUnknownColumn) || !strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("unknown column: %v", err)
	}
	_, err = exactJoint(t, c, client, 0, "bad column!")
	if !errors.Is(err, party.ErrBadRequest) || !strings.Contains(err.Error(), "column") {
		t.Fatalf("malformed column: %v", err)
	}
}

func TestPresetMismatch(t *testing.T) {
	c := partytest.Configure(t, 2, partytest.Options{SetupTimeout: 20 * time.Second})
	c.Configs[1].Preset = "coef13"
	c.StartNode(t, 0)
	c.StartNode(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, n := range c.Nodes {
		err := n.WaitSetup(ctx)
		if err == nil || !strings.Contains(err.Error(), "preset") {
			t.Fatalf("node %d: want a preset mismatch error, got %v", i, err)
		}
	}
}

// TestUnreachablePeer: a peer that never starts makes setup give up once
// timeouts.setup_wait has passed (however short each attempt is), naming
// the peer.
func TestUnreachablePeer(t *testing.T) {
	c := partytest.Configure(t, 2, partytest.Options{SetupTimeout: 500 * time.Millisecond, SetupWait: 2 * time.Second})
	c.StartNode(t, 0) // node1 never starts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := c.Nodes[0].WaitSetup(ctx)
	if err == nil || !strings.Contains(err.Error(), "node1") || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "setup_wait") {
		t.Fatalf("want an unreachable-peer error naming node1 and setup_wait, got %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("setup gave up after %v, before its setup_wait of 2s", took)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("setup took %v to give up", time.Since(start))
	}
	// Queries are refused with a clear reason, not hung.
	_, err = exactJoint(t, c, c.Dial(t, 0), 0, "")
	if !errors.Is(err, party.ErrNotReady) || !strings.Contains(err.Error(), "setup") {
		t.Fatalf("query before setup: %v", err)
	}
}

func TestHealthAndReflection(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{Datasets: world(t, 2), Insecure: true})
	conn, err := grpc.NewClient(c.Nodes[0].Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", "jointly.v1.Query", "jointly.v1.Federation"} {
		waitHealth(t, healthpb.NewHealthClient(conn), svc, healthpb.HealthCheckResponse_SERVING)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "jointly.v1.Federation") {
		t.Fatalf("reflection lists %v", names)
	}
	// An unknown node is refused at the federation boundary.
	_, err = pb.NewFederationClient(conn).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: "mallory", Preset: "insecure-test"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("hello from a stranger: %v", err)
	}
	// ReleaseShares for a malformed query is refused.
	rs, err := pb.NewFederationClient(conn).ReleaseShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs.Send(&pb.ReleaseShareRequest{Evaluator: "node1", Query: &pb.QuerySpec{Id: "x"}})
	rs.CloseSend()
	if _, err := rs.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("release of a malformed query: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	c := partytest.Start(t, 3, partytest.Options{Datasets: world(t, 3)})
	ctx := context.Background()

	// The configured querier is served.
	if _, err := exactJoint(t, c, c.Dial(t, 0), 0, ""); err != nil {
		t.Fatalf("configured querier: %v", err)
	}

	caDir := filepath.Join(c.PKIDir, "ca")
	issue := func(name string, role pki.Role) string {
		dir := filepath.Join(t.TempDir(), name)
		if err := pki.Issue(caDir, name, role, nil, dir, pki.LeafValidity); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dial := func(dir, name string) *party.Client {
		cl, err := party.DialTLS(c.Nodes[0].Addr(), dir, name, partytest.NodeName(0), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}

	// A querier the node does not know is refused.
	_, err := exactJoint(t, c, dial(issue("mallory", pki.RoleQuerier), "mallory"), 0, "")
	if !errors.Is(err, party.ErrUnknownParty) || !strings.Contains(err.Error(), "mallory") {
		t.Fatalf("unknown querier: %v", err)
	}

	// A known querier may not call the node-to-node service.
	conn := dialAs(t, c, partytest.Querier, 0)
	_, err = pb.NewFederationClient(conn).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(1), Preset: "insecure-test"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("querier calling Hello: %v", err)
	}

	// A genuine node certificate cannot claim another node's name.
	conn1 := dialAs(t, c, partytest.NodeName(1), 0)
	if _, err := pb.NewFederationClient(conn1).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(1), Preset: "insecure-test"}); err != nil {
		t.Fatalf("node1 as itself: %v", err)
	}
	_, err = pb.NewFederationClient(conn1).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(2), Preset: "insecure-test"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "cannot act as") {
		t.Fatalf("node1 claiming to be node2 in Hello: %v", err)
	}
	rs, err := pb.NewFederationClient(conn1).ReleaseShares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs.Send(&pb.ReleaseShareRequest{Evaluator: partytest.NodeName(2)})
	rs.CloseSend()
	if _, err := rs.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("node1 claiming to be another evaluator: %v", err)
	}

	// A certificate from another CA fails the handshake.
	otherCA := filepath.Join(t.TempDir(), "ca")
	if err := pki.InitCA(otherCA); err != nil {
		t.Fatal(err)
	}
	odir := filepath.Join(t.TempDir(), "q")
	if err := pki.Issue(otherCA, partytest.Querier, pki.RoleQuerier, nil, odir, pki.LeafValidity); err != nil {
		t.Fatal(err)
	}
	_, err = dial(odir, partytest.Querier).Info(ctx)
	if err == nil {
		t.Fatal("certificate from another CA accepted")
	}
}

// TestSecondNode: a second node started with the configuration of one
// that runs says what is in the way: the data_dir the first one holds
// (its audit log's lock) or the listen address. Both are ErrNotReady:
// starting again once the first has stopped succeeds.
func TestSecondNode(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "retailer")
	config := func(listen string) party.Config {
		src := strings.Replace(partytest.RetailerHCL(dataDir), "127.0.0.1:7101", listen, 1) +
			"preset = \"insecure-test\"\nallow_insecure_preset = true\n"
		cfg, err := party.ParseConfig("node.hcl", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	first, err := party.New(config("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })

	for _, tc := range []struct {
		name, listen string
		says         []string
	}{
		{"same data_dir", "127.0.0.1:0", []string{"party: unavailable: another jointly node is running with data_dir " + dataDir + ": stop it first, or give this node a data_dir of its own"}},
		{"same listen", first.Addr(), []string{"party: unavailable: listen: another process, perhaps another jointly node, listens on " + first.Addr() + ": stop it, or set listen to a free port", "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			second, err := party.New(config(tc.listen), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = second.Start(context.Background())
			if err == nil {
				second.Close()
				t.Fatal("a second node started")
			}
			if !errors.Is(err, party.ErrNotReady) {
				t.Fatalf("want ErrNotReady, got %v", err)
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestNodeDirs: a node checks tls_dir and data_dir before it writes
// anything: a data_dir in the way of a file, or a missing tls_dir, is a
// configuration error naming the field, and leaves nothing behind.
func TestNodeDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, edit, says string
	}{
		{"data_dir under a file", `data_dir = "` + filepath.Join(file, "retailer") + `"`, `data_dir: cannot create "` + filepath.Join(file, "retailer") + `": "` + file + `" is a file, not a directory`},
		{"missing tls_dir", `data_dir = "` + filepath.Join(dir, "data") + `"` + "\ntls_dir = \"" + filepath.Join(dir, "pkx") + `"`, `tls_dir: "` + filepath.Join(dir, "pkx") + `" does not exist (jointly ca issue`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := partytest.RetailerHCL("") + tc.edit + "\n"
			src = strings.Replace(src, "data_dir = \"\"\n", "", 1)
			if strings.Contains(tc.edit, "tls_dir") {
				src = strings.Replace(src, "insecure_loopback = true\n", "", 1)
			}
			cfg, err := party.ParseConfig("node.hcl", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = party.New(cfg, nil)
			if !errors.Is(err, party.ErrConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("want ErrConfig saying %q, got %v", tc.says, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("the node left %v", entries)
			}
		})
	}
}
