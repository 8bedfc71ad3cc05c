package pki

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// federation builds a CA with identities in one directory and returns it.
func federation(t testing.TB, ids ...Identity) string {
	t.Helper()
	dir := t.TempDir()
	if err := InitCA(dir); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := Issue(dir, id.Name, id.Role, nil, "", LeafValidity); err != nil {
			t.Fatalf("issue %s: %v", id, err)
		}
	}
	return dir
}

// startServer runs a real gRPC server with mTLS and the health service on
// 127.0.0.1:0 and returns its address.
func startServer(t *testing.T, dir, name string, policy Policy) string {
	t.Helper()
	cfg, err := LoadServerTLS(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	authz := NewAuthorizer(policy)
	srv := grpc.NewServer(append(authz.ServerOptions(), grpc.Creds(credentials.NewTLS(cfg)))...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, dir, name, expectNode, addr string) healthpb.HealthClient {
	t.Helper()
	cfg, err := LoadClientTLS(dir, name, expectNode)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestMutualTLSAuthorization(t *testing.T) {
	var (
		retailer = Identity{"retailer", RoleNode}
		insurer  = Identity{"insurer", RoleNode}
		alice    = Identity{"alice", RoleQuerier}
		mallory  = Identity{"mallory", RoleNode}
	)
	dir := federation(t, retailer, insurer, alice, mallory)
	// A querier whose name collides with a node, from the same CA.
	impostorDir := filepath.Join(t.TempDir(), "impostor")
	if err := Issue(dir, "insurer", RoleQuerier, nil, impostorDir, LeafValidity); err != nil {
		t.Fatal(err)
	}
	// A node certificate with an allowed name, from another CA.
	otherCA := federation(t, insurer)

	addr := startServer(t, dir, "retailer", Policy{
		Allowed:     []Identity{insurer, alice},
		MethodRoles: map[string][]Role{"/grpc.health.v1.Health/Check": {RoleNode}},
	})

	tests := []struct {
		name        string
		dir, client string
		expectNode  string
		check       codes.Code // result of the node-only unary Check
		watch       codes.Code // result of the streaming Watch, open to any allowed role
	}{
		{"known node", dir, "insurer", "retailer", codes.OK, codes.OK},
		{"known querier on node-only method", dir, "alice", "", codes.PermissionDenied, codes.OK},
		{"unknown name", dir, "mallory", "", codes.PermissionDenied, codes.PermissionDenied},
		{"querier cert with a node's name", impostorDir, "insurer", "", codes.PermissionDenied, codes.PermissionDenied},
		{"certificate from another CA", otherCA, "insurer", "", codes.Unavailable, codes.Unavailable},
		{"server is not the pinned peer", dir, "insurer", "bank", codes.Unavailable, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.dir, tc.client, tc.expectNode, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tc.check {
				t.Errorf("Check: code %v (%v), want %v", got, err, tc.check)
			}
			stream, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if got := status.Code(err); got != tc.watch {
				t.Errorf("Watch: code %v (%v), want %v", got, err, tc.watch)
			}
		})
	}
}

func TestIdentityFromContextInHandler(t *testing.T) {
	dir := federation(t, Identity{"retailer", RoleNode}, Identity{"alice", RoleQuerier})
	cfg, err := LoadServerTLS(dir, "retailer")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Identity, 1)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			id, err := IdentityFromContext(ctx)
			if err != nil {
				return nil, err
			}
			seen <- id
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dial(t, dir, "alice", "retailer", lis.Addr().String()).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != (Identity{"alice", RoleQuerier}) {
		t.Errorf("identity %v, want querier/alice", got)
	}
	if _, err := IdentityFromContext(context.Background()); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("no peer: %v", err)
	}
}

func TestIssuedFiles(t *testing.T) {
	dir := federation(t)
	out := filepath.Join(t.TempDir(), "node")
	if err := Issue(dir, "insurer", RoleNode, []string{"insurer.example", "10.0.0.7"}, out, LeafValidity); err != nil {
		t.Fatal(err)
	}
	for file, mode := range map[string]os.FileMode{
		filepath.Join(dir, "ca.key"):      0o600,
		filepath.Join(out, "insurer.key"): 0o600,
		filepath.Join(out, "insurer.crt"): 0o644,
		filepath.Join(out, "ca.crt"):      0o644,
	} {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", file, st.Mode().Perm(), mode)
		}
	}
	cert, err := LoadCertificate(filepath.Join(out, "insurer.crt"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := IdentityFromCert(cert)
	if err != nil || id != (Identity{"insurer", RoleNode}) {
		t.Errorf("identity %v, %v", id, err)
	}
	if got := cert.URIs[0].String(); got != "jointly://node/insurer" {
		t.Errorf("URI %s", got)
	}
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "insurer.example" || len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "10.0.0.7" {
		t.Errorf("SANs %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if err := cert.VerifyHostname("insurer.example"); err != nil {
		t.Error(err)
	}
	signer, err := LoadSigner(out, "insurer")
	if err != nil {
		t.Fatal(err)
	}
	if !signer.Public().(ed25519.PublicKey).Equal(cert.PublicKey) {
		t.Error("signer key does not match the certificate")
	}
	// Nothing is ever overwritten.
	if err := InitCA(dir); !errors.Is(err, ErrExists) {
		t.Errorf("second InitCA: %v", err)
	}
	if err := Issue(dir, "insurer", RoleNode, nil, out, LeafValidity); !errors.Is(err, ErrExists) {
		t.Errorf("second Issue: %v", err)
	}
	// A directory with another federation's ca.crt is refused.
	other := federation(t)
	if err := Issue(other, "bank", RoleNode, nil, out, LeafValidity); !errors.Is(err, ErrBadFile) {
		t.Errorf("issue into a directory of another CA: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".*tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	dir := federation(t)
	for _, tc := range []struct {
		name string
		role Role
		want error
	}{
		{"../etc", RoleNode, ErrBadName},
		{"-dash", RoleNode, ErrBadName},
		{"CA", RoleNode, ErrBadName},
		{"ca", RoleNode, ErrBadName},
		{"", RoleNode, ErrBadName},
		{"ok", Role("admin"), ErrBadRole},
	} {
		if err := Issue(dir, tc.name, tc.role, nil, "", LeafValidity); !errors.Is(err, tc.want) {
			t.Errorf("Issue(%q, %q): %v, want %v", tc.name, tc.role, err, tc.want)
		}
	}
	if err := Issue(t.TempDir(), "x", RoleNode, nil, "", LeafValidity); err == nil {
		t.Error("issue without a CA succeeded")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:7000", true},
		{"127.1.2.3:7000", true},
		{"[::1]:7000", true},
		{"localhost:7000", true},
		{"unix:///run/jointly.sock", true},
		{":7000", false},
		{"0.0.0.0:7000", false},
		{"[::]:7000", false},
		{"10.0.0.1:7000", false},
		{"node.example:7000", false},
		{"127.0.0.1", false},
	} {
		err := CheckLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckLoopback(%q) = %v, want ErrNotLoopback", tc.addr, err)
		}
	}
}

func TestServerTLSIsMutualTLS13(t *testing.T) {
	dir := federation(t, Identity{"retailer", RoleNode})
	cfg, err := LoadServerTLS(dir, "retailer")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS13 {
		t.Errorf("client auth %v, min version %x", cfg.ClientAuth, cfg.MinVersion)
	}
	if err := Issue(dir, "alice", RoleQuerier, nil, "", LeafValidity); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServerTLS(dir, "alice"); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("server with a querier certificate: %v", err)
	}
}

func FuzzParseCertificatePEM(f *testing.F) {
	dir := federation(f, Identity{"retailer", RoleNode})
	seed, err := os.ReadFile(filepath.Join(dir, "retailer.crt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := ParseCertificatePEM(data)
		if err != nil {
			return
		}
		_, _ = IdentityFromCert(cert)
	})
}
