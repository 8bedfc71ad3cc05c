package party

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// errorServer answers Info with the error next returns; relay, when set,
// is a second hop: it calls that server and returns what it got.
type errorServer struct {
	pb.UnimplementedQueryServer
	next  func() error
	relay pb.QueryClient
}

func (s *errorServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	if s.relay != nil {
		_, err := s.relay.Info(ctx, &pb.InfoRequest{})
		return nil, toStatus(fromStatus("inner", "info", err))
	}
	return nil, toStatus(s.next())
}

func serveErrors(t *testing.T, srv *errorServer) pb.QueryClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterQueryServer(g, srv)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewQueryClient(conn)
}

// TestErrorsCrossTheWire: every sentinel of the status table, returned by
// a handler over real gRPC, is errors.Is on the client side, directly and
// after a second hop; a policy refusal keeps its owner and reason.
func TestErrorsCrossTheWire(t *testing.T) {
	var next error
	inner := &errorServer{next: func() error { return next }}
	direct := serveErrors(t, inner)
	relayed := serveErrors(t, &errorServer{relay: direct})
	reasons := map[string]bool{}
	for _, e := range statusTable {
		if reasons[e.reason] {
			t.Fatalf("reason %s used twice", e.reason)
		}
		reasons[e.reason] = true
		t.Run(e.reason, func(t *testing.T) {
			next = fmt.Errorf("while doing something: %w", e.err)
			for hop, client := range []pb.QueryClient{direct, relayed} {
				_, err := client.Info(context.Background(), &pb.InfoRequest{})
				got := fromStatus("node", "info", err)
				if !errors.Is(got, e.err) {
					t.Fatalf("hop %d: %v is not %v", hop+1, got, e.err)
				}
				for _, other := range statusTable {
					if other.err != e.err && errors.Is(got, other.err) && !errors.Is(e.err, other.err) {
						t.Errorf("hop %d: %v also claims to be %v", hop+1, got, other.err)
					}
				}
			}
		})
	}
	next = fmt.Errorf("prepare on insurer: %w", &RefusalError{Owner: "insurer", Reason: `purpose "pricing" is not allowed`})
	for hop, client := range []pb.QueryClient{direct, relayed} {
		_, err := client.Info(context.Background(), &pb.InfoRequest{})
		got := fromStatus("retailer", "submit", err)
		var refusal *RefusalError
		if !errors.As(got, &refusal) || !errors.Is(got, ErrPolicy) || errors.Is(got, ErrBudgetExhausted) || refusal.Owner != "insurer" || refusal.Reason != `purpose "pricing" is not allowed` {
			t.Fatalf("hop %d: refusal came back as %v (%+v)", hop+1, got, refusal)
		}
	}
	// A budget refusal is a refusal that also says the budget ran out.
	next = fmt.Errorf("prepare on insurer: %w", &RefusalError{Owner: "insurer", Reason: "privacy budget exhausted: δ runs out", Budget: true})
	for hop, client := range []pb.QueryClient{direct, relayed} {
		_, err := client.Info(context.Background(), &pb.InfoRequest{})
		got := fromStatus("retailer", "submit", err)
		var refusal *RefusalError
		if !errors.As(got, &refusal) || !errors.Is(got, ErrBudgetExhausted) || !errors.Is(got, ErrPolicy) || refusal.Owner != "insurer" || !strings.Contains(got.Error(), "δ runs out") {
			t.Fatalf("hop %d: budget refusal came back as %v (%+v)", hop+1, got, refusal)
		}
	}
	// An error outside the table is internal, and is no sentinel.
	next = errors.New("disk on fire")
	_, err := direct.Info(context.Background(), &pb.InfoRequest{})
	if got := fromStatus("node", "info", err); !errors.Is(got, ErrPeerFailed) || errors.Is(got, ErrBadRequest) {
		t.Fatalf("unknown error came back as %v", got)
	}
}

// TestCertificateRefused: a handshake that fails on a certificate says
// what to do, by its cause; any other failure is not one.
func TestCertificateRefused(t *testing.T) {
	const prefix = `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: `
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.Unavailable, prefix+`x509: certificate signed by unknown authority (possibly because of \"x509: Ed25519 verification failure\" while trying to verify candidate authority certificate \"ca\")"`),
			`signed by unknown authority (possibly because of "x509: Ed25519 verification failure"`},
		{status.Error(codes.Unavailable, prefix+`x509: certificate is not valid for any names, but wanted to match localhost"`), "does not name the host dialed"},
		{status.Error(codes.Unavailable, prefix+`x509: certificate signed by unknown authority"`), "same federation CA"},
		{status.Error(codes.Unavailable, prefix+`x509: certificate has expired or is not yet valid: current time 2026-12-04T15:46:58Z is after 2026-12-04T15:46:57Z"`), "its owner renews it with jointly ca renew"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: remote error: tls: expired certificate"`), "refused this side's certificate as expired"},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), ""},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: EOF"`), ""},
		{errors.New("not a status"), ""},
	} {
		got := certificateRefused(tc.err)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want it to say %q", tc.err, got, tc.want)
		}
	}
}
