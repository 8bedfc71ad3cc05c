package party_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestHealthFollowsState probes a node's health-only listener as an
// orchestrator would, in plaintext without a certificate (the node itself
// speaks mutual TLS): NOT_SERVING before setup, SERVING once the
// collective keys are ready, NOT_SERVING while its peer is stopped,
// SERVING again once the peer is back. The listener serves nothing but
// the health service.
func TestHealthFollowsState(t *testing.T) {
	const (
		serving    = healthpb.HealthCheckResponse_SERVING
		notServing = healthpb.HealthCheckResponse_NOT_SERVING
	)
	c := partytest.Configure(t, 2, partytest.Options{PeerCheck: 100 * time.Millisecond})
	c.Configs[0].HealthListen = "127.0.0.1:0"
	c.StartNode(t, 0)
	addr := c.Nodes[0].HealthAddr()
	hc := healthClient(t, addr)

	// Before setup: the node is up, its peers may run setup with it, and
	// it serves no query.
	for svc, want := range map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": notServing, "jointly.v1.Query": notServing, "jointly.v1.Federation": serving,
	} {
		waitHealth(t, hc, svc, want)
	}
	c.StartNode(t, 1)
	c.WaitSetup(t)
	waitHealth(t, hc, "", serving)
	waitHealth(t, hc, "jointly.v1.Query", serving)

	c.StopNode(t, 1)
	start := time.Now()
	waitHealth(t, hc, "", notServing)
	waitHealth(t, hc, "jointly.v1.Query", notServing)
	t.Logf("NOT_SERVING %v after the peer stopped", time.Since(start).Round(time.Millisecond))

	c.StartNode(t, 1)
	start = time.Now()
	waitHealth(t, hc, "", serving)
	t.Logf("SERVING %v after the peer started again", time.Since(start).Round(time.Millisecond))

	// Only the health service is there: no query, no reflection.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pb.NewQueryClient(conn).Info(ctx, &pb.InfoRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Info on the health listener: %v", err)
	}
	if _, err := pb.NewFederationClient(conn).Hello(ctx, &pb.HelloRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Hello on the health listener: %v", err)
	}
}
