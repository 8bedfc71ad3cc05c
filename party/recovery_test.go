package party_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// healthClient dials a node's health-only listener in plaintext, as a
// probe does.
func healthClient(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	if addr == "" {
		t.Fatal("the node has no health listener")
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// waitHealth polls the status of svc until it is want, and fails the test
// after 10s.
func waitHealth(t *testing.T, hc healthpb.HealthClient, svc string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		cancel()
		if err == nil && resp.Status == want {
			return
		}
		last = fmt.Sprint(resp.GetStatus(), err)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("health %q: still %s, want %s", svc, last, want)
}

// fileOf reads a file of node i's data directory.
func fileOf(t *testing.T, c *partytest.Cluster, i int, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Configs[i].DataDir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSetupLatePartner: a partner that starts long after the first node's
// timeouts.setup (here 500ms: a node used to give up then, and stay up
// without keys) is picked up within moments, both finish setup, and a
// joint query works.
func TestSetupLatePartner(t *testing.T) {
	c := partytest.Configure(t, 2, partytest.Options{Datasets: world(t, 2), SetupTimeout: 500 * time.Millisecond})
	c.StartNode(t, 0)
	time.Sleep(1500 * time.Millisecond) // three attempts' worth
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	err := c.Nodes[0].WaitSetup(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("node0 alone: want it still waiting for node1, got %v", err)
	}
	start := time.Now()
	c.StartNode(t, 1)
	c.WaitSetup(t)
	pickup := time.Since(start)
	t.Logf("late partner: node1 started 1.5s after node0; both finished setup %v after node1 started (retry cap %v)", pickup.Round(time.Millisecond), c.Configs[0].RetryMax)
	if pickup > 10*time.Second {
		t.Fatalf("the late partner took %v to be picked up", pickup)
	}
	if _, err := exactJoint(t, c, c.Dial(t, 0), 0, ""); err != nil {
		t.Fatalf("query after a late setup: %v", err)
	}
}

// TestSetupWaitEndsRun: a node whose timeouts.setup_wait expires before
// its peer answers stops, and Run returns an error that names the peer and
// says what to do (`jointly node` exits non-zero with it). Started again
// once the peer is up, it resumes with the CRS seed it stored, and the
// peer, which was never restarted, completes setup with it.
func TestSetupWaitEndsRun(t *testing.T) {
	ds := world(t, 2)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: ds, SetupTimeout: 300 * time.Millisecond})
	cfg := c.Configs[0]
	cfg.SetupWait = time.Second
	n, err := party.New(cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logWriter{t}}), party.WithDataset(ds[0]), party.WithListener(c.TakeListener(0)))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- n.Run(context.Background()) }()
	select {
	case err = <-errc:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after setup_wait expired")
	}
	took := time.Since(start)
	if err == nil {
		t.Fatal("Run returned no error")
	}
	for _, want := range []string{"setup_wait (1s)", "node1", "unreachable", "start this node again"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Run's error does not say %q: %v", want, err)
		}
	}
	if took < time.Second || took > 8*time.Second {
		t.Fatalf("Run returned after %v with a setup_wait of 1s", took)
	}
	// The node is stopped: its address is free again.
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatalf("the node still holds its address after Run returned: %v", err)
	}
	lis.Close()

	seed := fileOf(t, c, 0, "keys/crs-seed")
	c.StartNode(t, 1)
	c.Configs[0].SetupWait = 0
	c.StartNode(t, 0)
	c.WaitSetup(t)
	if !bytes.Equal(seed, fileOf(t, c, 0, "keys/crs-seed")) {
		t.Fatal("the restarted node made a new CRS seed")
	}
	if _, err := exactJoint(t, c, c.Dial(t, 0), 0, ""); err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
}

// TestSetupResumesMidway: a node stopped in the middle of the key
// generation, after its peer has finished, resumes from the shares it
// stored when it starts again: the peer, never restarted, already built
// the collective keys from them, and the two agree.
func TestSetupResumesMidway(t *testing.T) {
	c := partytest.Configure(t, 2, partytest.Options{Datasets: world(t, 2)})
	// node1 does not serve its round-two relinearization share, as if it
	// were unreachable at that point: node0 waits for it after storing
	// its own shares, while node1, which gets all of node0's, finishes.
	var refuse atomic.Bool
	refuse.Store(true)
	held := make(chan struct{})
	var once sync.Once
	c.StartNode(t, 0)
	c.StartNode(t, 1, party.WithServerOptions(grpc.ChainStreamInterceptor(
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, &refusingStream{ServerStream: ss, refuse: func(r *pb.SetupShareRequest) bool {
				if r.Kind != pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_TWO || !refuse.Load() {
					return false
				}
				once.Do(func() { close(held) })
				return true
			}})
		})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Nodes[1].WaitSetup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("node0 never asked for node1's round-two share")
	}
	secretFile := func() string {
		m, _ := filepath.Glob(filepath.Join(c.Configs[0].DataDir, "keys", "*", "secret-share"))
		if len(m) != 1 {
			t.Fatalf("node0 has secret shares %v", m)
		}
		return m[0]
	}
	secret, err := os.ReadFile(secretFile())
	if err != nil {
		t.Fatal(err)
	}
	c.StopNode(t, 0) // mid-setup
	refuse.Store(false)
	c.StartNode(t, 0)
	c.WaitSetup(t)
	if again, err := os.ReadFile(secretFile()); err != nil || !bytes.Equal(again, secret) {
		t.Fatalf("node0 did not resume with its stored secret share (%v)", err)
	}
	digest := func(i int) string {
		var st struct {
			PK string `json:"public_key_digest"`
		}
		if err := json.Unmarshal(fileOf(t, c, i, "keys/current.json"), &st); err != nil {
			t.Fatal(err)
		}
		return st.PK
	}
	if digest(0) != digest(1) {
		t.Fatalf("collective keys differ: node0 %s, node1 %s", digest(0), digest(1))
	}
	// One key-generation event for the session, however many attempts.
	keygen := 0
	for _, ev := range auditLog(t, c.Configs[0]) {
		if ev.Kind == audit.KindSetup && ev.Detail["step"] == "key generation" {
			keygen++
		}
	}
	if keygen != 1 {
		t.Fatalf("node0's audit log records %d key generations, want 1", keygen)
	}
	if _, err := exactJoint(t, c, c.Dial(t, 0), 0, ""); err != nil {
		t.Fatalf("query after the resumed setup: %v", err)
	}
}

// refusingStream answers Unavailable, as an unreachable node would, to the
// setup-share requests refuse picks.
type refusingStream struct {
	grpc.ServerStream
	refuse func(*pb.SetupShareRequest) bool
}

func (s *refusingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if r, ok := m.(*pb.SetupShareRequest); ok && s.refuse(r) {
		return status.Error(codes.Unavailable, "held by the test")
	}
	return nil
}

// TestSetupLostKeys: a node that lost its keys directory makes a new CRS
// seed, and its peer, which finished setup with the old one, tells it so:
// setup fails at once with a setup mismatch that says what to do, instead
// of waiting for shares that will never come.
func TestSetupLostKeys(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{Datasets: world(t, 2)})
	c.StopNode(t, 1)
	keys := filepath.Join(c.Configs[1].DataDir, "keys")
	if err := os.Rename(keys, keys+".lost"); err != nil {
		t.Fatal(err)
	}
	c.StartNode(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Nodes[1].WaitSetup(ctx)
	if !errors.Is(err, party.ErrSetupMismatch) {
		t.Fatalf("want a setup mismatch, got %v", err)
	}
	for _, want := range []string{"node0 finished the federation setup", "data_dir/keys/ was moved or lost (node1's", "start this node again"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error does not say %q: %v", want, err)
		}
	}
}

// TestRestartAfterSetup: either node restarted after setup loads its keys
// (no setup share is fetched, the keys are the same) and serves at once;
// the other node, never restarted, reports NOT_SERVING while its peer is
// down and SERVING once it is back, and queries through it work.
func TestRestartAfterSetup(t *testing.T) {
	for _, i := range []int{0, 1} {
		t.Run(fmt.Sprintf("restart=node%d", i), func(t *testing.T) {
			c := partytest.Configure(t, 2, partytest.Options{Datasets: world(t, 2), PeerCheck: 100 * time.Millisecond})
			for k := range c.Configs {
				c.Configs[k].HealthListen = "127.0.0.1:0"
			}
			c.StartNode(t, 0)
			c.StartNode(t, 1)
			c.WaitSetup(t)
			other := 1 - i
			otherHealth := healthClient(t, c.Nodes[other].HealthAddr())
			waitHealth(t, otherHealth, "", healthpb.HealthCheckResponse_SERVING)
			if _, err := exactJoint(t, c, c.Dial(t, other), other, ""); err != nil {
				t.Fatal(err)
			}
			keys := fileOf(t, c, i, "keys/current.json")

			c.StopNode(t, i)
			waitHealth(t, otherHealth, "", healthpb.HealthCheckResponse_NOT_SERVING)
			waitHealth(t, otherHealth, "jointly.v1.Query", healthpb.HealthCheckResponse_NOT_SERVING)
			calls := len(c.Transcripts[i].Calls())
			c.StartNode(t, i)
			c.WaitSetup(t)
			waitHealth(t, otherHealth, "", healthpb.HealthCheckResponse_SERVING)
			waitHealth(t, healthClient(t, c.Nodes[i].HealthAddr()), "", healthpb.HealthCheckResponse_SERVING)
			if !bytes.Equal(keys, fileOf(t, c, i, "keys/current.json")) {
				t.Fatal("the restarted node ran a new setup")
			}
			for _, m := range c.Transcripts[i].Calls()[calls:] {
				if strings.HasSuffix(m, "/GetSetupShare") {
					t.Fatal("the restarted node fetched setup shares")
				}
			}
			for _, via := range []int{other, i} {
				if _, err := exactJoint(t, c, c.Dial(t, via), via, ""); err != nil {
					t.Fatalf("query via node%d after node%d restarted: %v", via, i, err)
				}
			}
		})
	}
}

// logWriter sends log output to t.Log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
