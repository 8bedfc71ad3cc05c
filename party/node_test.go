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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// datasets gives node i records whose "spend" column holds i+1, i+2, ...
func datasets(n int) ([]party.Dataset, int64, float64) {
	var ds []party.Dataset
	var count int64
	var sum float64
	for i := 0; i < n; i++ {
		var v []float64
		for j := 0; j < 50+37*i; j++ {
			x := float64(i+1) + float64(j)*0.25
			v = append(v, x)
			sum += x
		}
		count += int64(len(v))
		ds = append(ds, party.MemoryDataset{"spend": v, "visits": v[:len(v)/2]})
	}
	return ds, count, sum
}

func localSums(t *testing.T, c *partytest.Cluster, i int, column string) (*party.LocalSumsResult, error) {
	t.Helper()
	return c.Dial(t, i).LocalSums(context.Background(), party.LocalSumsRequest{Column: column, Purpose: "research", Exact: true, Querier: partytest.Querier})
}

func TestLocalSumsAcrossNodes(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			ds, wantCount, wantSum := datasets(n)
			c := partytest.Start(t, n, partytest.Options{Datasets: ds})
			// Every node can evaluate.
			for i := range c.Nodes {
				res, err := localSums(t, c, i, "spend")
				if err != nil {
					t.Fatalf("query via %s: %v", c.Nodes[i].Name(), err)
				}
				if res.Count != float64(wantCount) || math.Abs(res.Sum-wantSum) > 1e-9 {
					t.Fatalf("via %s: got count %v sum %v, want %d and %v", c.Nodes[i].Name(), res.Count, res.Sum, wantCount, wantSum)
				}
				if len(res.Owners) != n {
					t.Fatalf("owners %v", res.Owners)
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
	ds, wantCount, wantSum := datasets(2)
	c := partytest.Start(t, 2, partytest.Options{Datasets: ds})
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
	res, err := localSums(t, c, 1, "spend")
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != float64(wantCount) || math.Abs(res.Sum-wantSum) > 1e-9 {
		t.Fatalf("after restart: got %v, %v; want %d, %v", res.Count, res.Sum, wantCount, wantSum)
	}
}

func TestQueryErrors(t *testing.T) {
	ds, _, _ := datasets(2)
	c := partytest.Start(t, 2, partytest.Options{Datasets: ds})
	_, err := localSums(t, c, 0, "no_such_column")
	if err == nil || !strings.Contains(err.Error(), "no_such_column") {
		t.Fatalf("unknown column: %v", err)
	}
	_, err = localSums(t, c, 0, "bad column!")
	if err == nil || !strings.Contains(err.Error(), "column") {
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

func TestUnreachablePeer(t *testing.T) {
	c := partytest.Configure(t, 2, partytest.Options{SetupTimeout: 2 * time.Second})
	c.StartNode(t, 0) // node1 never starts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := c.Nodes[0].WaitSetup(ctx)
	if err == nil || !strings.Contains(err.Error(), "node1") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("want an unreachable-peer error naming node1, got %v", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("setup took %v to give up", time.Since(start))
	}
	// Queries are refused with a clear reason, not hung.
	_, err = localSums(t, c, 0, "spend")
	if err == nil || !strings.Contains(err.Error(), "setup") {
		t.Fatalf("query before setup: %v", err)
	}
}

func TestHealthAndReflection(t *testing.T) {
	ds, _, _ := datasets(2)
	c := partytest.Start(t, 2, partytest.Options{Datasets: ds, Insecure: true})
	conn, err := grpc.NewClient(c.Nodes[0].Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", "jointly.v1.Query", "jointly.v1.Federation"} {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, resp, err)
		}
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
	// ReleaseShare for a query this node never prepared is refused.
	_, err = pb.NewFederationClient(conn).ReleaseShare(ctx, &pb.ReleaseShareRequest{Evaluator: "node1", Query: &pb.QuerySpec{Id: "x"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("release of a malformed query: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ds, wantCount, _ := datasets(3)
	c := partytest.Start(t, 3, partytest.Options{Datasets: ds})
	ctx := context.Background()

	// The configured querier is served.
	res, err := c.Dial(t, 0).LocalSums(ctx, party.LocalSumsRequest{Column: "spend", Purpose: "research", Exact: true})
	if err != nil || res.Count != float64(wantCount) {
		t.Fatalf("configured querier: %v %v", res, err)
	}

	caDir := filepath.Join(c.PKIDir, "ca")
	issue := func(name string, role pki.Role) string {
		dir := filepath.Join(t.TempDir(), name)
		if err := pki.Issue(caDir, name, role, nil, dir); err != nil {
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
	_, err = dial(issue("mallory", pki.RoleQuerier), "mallory").LocalSums(ctx, party.LocalSumsRequest{Column: "spend", Purpose: "research", Exact: true})
	if !errors.Is(err, party.ErrUnknownParty) || !strings.Contains(err.Error(), "mallory") {
		t.Fatalf("unknown querier: %v", err)
	}

	// A known querier may not call the node-to-node service.
	qdir := filepath.Join(c.PKIDir, partytest.Querier)
	tlsCfg, err := pki.LoadClientTLS(qdir, partytest.Querier, partytest.NodeName(0))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.Nodes[0].Addr(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = pb.NewFederationClient(conn).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(1), Preset: "insecure-test"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("querier calling Hello: %v", err)
	}

	// A genuine node certificate cannot claim another node's name.
	n1 := filepath.Join(c.PKIDir, partytest.NodeName(1))
	tlsCfg, err = pki.LoadClientTLS(n1, partytest.NodeName(1), partytest.NodeName(0))
	if err != nil {
		t.Fatal(err)
	}
	conn1, err := grpc.NewClient(c.Nodes[0].Addr(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn1.Close()
	if _, err := pb.NewFederationClient(conn1).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(1), Preset: "insecure-test"}); err != nil {
		t.Fatalf("node1 as itself: %v", err)
	}
	_, err = pb.NewFederationClient(conn1).Hello(ctx, &pb.HelloRequest{Federation: "testfed", Node: partytest.NodeName(2), Preset: "insecure-test"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "cannot act as") {
		t.Fatalf("node1 claiming to be node2 in Hello: %v", err)
	}
	_, err = pb.NewFederationClient(conn1).ReleaseShare(ctx, &pb.ReleaseShareRequest{Evaluator: partytest.NodeName(2)})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("node1 claiming to be another evaluator: %v", err)
	}

	// A certificate from another CA fails the handshake.
	otherCA := filepath.Join(t.TempDir(), "ca")
	if err := pki.InitCA(otherCA); err != nil {
		t.Fatal(err)
	}
	odir := filepath.Join(t.TempDir(), "q")
	if err := pki.Issue(otherCA, partytest.Querier, pki.RoleQuerier, nil, odir); err != nil {
		t.Fatal(err)
	}
	_, err = dial(odir, partytest.Querier).Info(ctx)
	if err == nil {
		t.Fatal("certificate from another CA accepted")
	}
}
