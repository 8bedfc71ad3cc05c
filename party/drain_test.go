package party_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// holdCall holds a node's first outgoing call of one method until
// release is closed, after closing reached.
type holdCall struct {
	method  string
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func newHoldCall(method string) *holdCall {
	h := &holdCall{method: method, reached: make(chan struct{}), release: make(chan struct{})}
	h.armed.Store(true)
	return h
}

func (h *holdCall) option() party.Option {
	return party.WithDialOptions(grpc.WithChainStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if method == h.method && h.armed.CompareAndSwap(true, false) {
				close(h.reached)
				select {
				case <-h.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return streamer(ctx, desc, cc, method, opts...)
		}))
}

// TestShutdownDuringQuery stops a node (its shutdown path, as on SIGTERM)
// while a joint query is between its upload and its release: node0
// evaluates, node1 uploads, and node0's call for the release is held until
// the node is draining. While it drains, the node reports NOT_SERVING and
// refuses new queries with Unavailable, at its own door and as an owner
// asked by an evaluator; the query in progress either finishes (within
// timeouts.shutdown) or, cut off by it, fails with an error. Either way
// the node starts again (its start-up check of the ledger against the
// audit log passes), the audit log records the query's admission and
// releases as they happened, and the next query works, without
// restarting the other node.
func TestShutdownDuringQuery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stop     int // the node that shuts down: 0 evaluates, 1 uploads
		grace    time.Duration
		finishes bool
	}{
		{"evaluator/finishes", 0, 10 * time.Second, true},
		{"owner/finishes", 1, 10 * time.Second, true},
		{"owner/cut-off", 1, 300 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := partytest.Configure(t, 2, partytest.Options{Datasets: world(t, 2)})
			c.Configs[tc.stop].ShutdownTimeout = tc.grace
			c.Configs[tc.stop].HealthListen = "127.0.0.1:0"
			h := newHoldCall("/jointly.v1.Federation/ReleaseShares")
			c.StartNode(t, 0, h.option())
			c.StartNode(t, 1)
			c.WaitSetup(t)
			hc := healthClient(t, c.Nodes[tc.stop].HealthAddr())
			waitHealth(t, hc, "", healthpb.HealthCheckResponse_SERVING)

			type outcome struct {
				res *party.JointResult
				err error
			}
			first := make(chan outcome, 1)
			client := c.Dial(t, 0)
			go func() {
				res, err := exactJoint(t, c, client, 0, "")
				first <- outcome{res, err}
			}()
			select {
			case <-h.reached:
			case o := <-first:
				t.Fatalf("the query ended before its release: %v", o.err)
			case <-time.After(30 * time.Second):
				t.Fatal("the query never reached its release")
			}

			stopped := make(chan struct{})
			start := time.Now()
			go func() {
				c.Nodes[tc.stop].Close()
				close(stopped)
			}()
			waitHealth(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING)
			waitHealth(t, hc, "jointly.v1.Federation", healthpb.HealthCheckResponse_NOT_SERVING)
			refusedWhileDraining(t, c, tc.stop)
			if tc.stop == 1 {
				// A query that needs the draining owner is refused too (or,
				// with a short grace that has already run out, finds the
				// owner gone).
				_, err := exactJoint(t, c, c.Dial(t, 0), 0, "")
				gone := errors.Is(err, party.ErrNotReady) && strings.Contains(err.Error(), "connection refused")
				if err == nil || !strings.Contains(err.Error(), "shutting down") && !gone {
					t.Fatalf("a query needing the draining owner: %v", err)
				}
			}

			var o outcome
			if tc.finishes {
				close(h.release)
				select {
				case o = <-first:
				case <-time.After(30 * time.Second):
					t.Fatal("the query did not finish")
				}
				if o.err != nil {
					t.Fatalf("the query in progress failed during the drain: %v", o.err)
				}
				select {
				case <-stopped:
				case <-time.After(tc.grace):
					t.Fatal("the node did not stop once its query finished")
				}
			} else {
				select {
				case <-stopped:
				case <-time.After(tc.grace + 5*time.Second):
					t.Fatal("the node did not stop at its shutdown deadline")
				}
				if took := time.Since(start); took < tc.grace {
					t.Fatalf("the node stopped after %v, before its shutdown timeout of %v", took, tc.grace)
				}
				close(h.release)
				select {
				case o = <-first:
				case <-time.After(30 * time.Second):
					t.Fatal("the cut-off query hangs")
				}
				if o.err == nil {
					t.Fatal("the query succeeded without the owner that was stopped")
				}
				t.Logf("the cut-off query failed: %v", o.err)
			}
			t.Logf("node%d stopped %v after Close", tc.stop, time.Since(start).Round(time.Millisecond))

			c.StartNode(t, tc.stop)
			c.WaitSetup(t)
			wantReleases := 0
			if tc.finishes {
				wantReleases = 2 // the counts, then the result
			}
			received, allowed, released := queryEvents(t, c.Configs[tc.stop])
			if received != 1 || allowed != 1 || released != wantReleases {
				t.Fatalf("node%d's audit log: %d received, %d allowed, %d released; want 1, 1, %d", tc.stop, received, allowed, released, wantReleases)
			}
			if _, err := exactJoint(t, c, c.Dial(t, 0), 0, ""); err != nil {
				t.Fatalf("the next query: %v", err)
			}
		})
	}
}

// refusedWhileDraining calls SubmitJoint on node i as the querier and
// expects Unavailable, saying that the node is shutting down.
func refusedWhileDraining(t *testing.T, c *partytest.Cluster, i int) {
	t.Helper()
	conn := dialAs(t, c, partytest.Querier, i)
	defer conn.Close() // now, not at the test's end: the node is stopping
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := pb.NewQueryClient(conn).SubmitJoint(ctx, &pb.SubmitRequest{Query: &pb.QuerySpec{Id: "during-drain"}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("a new query while node%d drains: %v, want Unavailable", i, err)
	}
}

// queryEvents counts the query events of a node's audit log.
func queryEvents(t *testing.T, cfg party.Config) (received, allowed, released int) {
	t.Helper()
	for _, ev := range auditLog(t, cfg) {
		switch {
		case ev.Kind == audit.KindQueryReceived:
			received++
		case ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionAllow:
			allowed++
		case ev.Kind == audit.KindRelease:
			released++
		}
	}
	return received, allowed, released
}
