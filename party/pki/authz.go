package pki

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// IdentityFromContext returns the identity of the caller of a gRPC handler,
// taken from the client certificate the TLS handshake verified (never from
// an unverified certificate or from metadata the caller controls).
func IdentityFromContext(ctx context.Context) (Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return Identity{}, ErrNoIdentity
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, ErrNoIdentity
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Identity{}, ErrNoIdentity
	}
	return IdentityFromCert(info.State.VerifiedChains[0][0])
}

// Policy says which identities may call which methods of a node.
type Policy struct {
	// Allowed lists every identity the node talks to: its peers (RoleNode)
	// and the queriers named in its configuration (RoleQuerier). A name and
	// role must both match.
	Allowed []Identity
	// MethodRoles restricts methods to roles. Keys are full method names
	// ("/jointly.v1.Peer/Upload") or service prefixes ending in '/'
	// ("/jointly.v1.Peer/"); an exact name wins over its service.
	MethodRoles map[string][]Role
	// DefaultRoles applies to methods MethodRoles does not name; empty
	// means any allowed identity.
	DefaultRoles []Role
}

// Authorizer enforces a Policy in gRPC interceptors.
type Authorizer struct {
	allowed map[Identity]struct{}
	policy  Policy
}

// NewAuthorizer returns an Authorizer for p.
func NewAuthorizer(p Policy) *Authorizer {
	a := &Authorizer{allowed: make(map[Identity]struct{}, len(p.Allowed)), policy: p}
	for _, id := range p.Allowed {
		a.allowed[id] = struct{}{}
	}
	return a
}

func (a *Authorizer) rolesFor(fullMethod string) []Role {
	if r, ok := a.policy.MethodRoles[fullMethod]; ok {
		return r
	}
	if i := strings.LastIndexByte(fullMethod, '/'); i >= 0 {
		if r, ok := a.policy.MethodRoles[fullMethod[:i+1]]; ok {
			return r
		}
	}
	return a.policy.DefaultRoles
}

// Authorize returns the caller's identity, or a gRPC status error:
// Unauthenticated without a verified identity, PermissionDenied for an
// identity not on the allow-list or whose role may not call fullMethod.
func (a *Authorizer) Authorize(ctx context.Context, fullMethod string) (Identity, error) {
	id, err := IdentityFromContext(ctx)
	if err != nil {
		return Identity{}, status.Error(codes.Unauthenticated, "no verified client identity")
	}
	if _, ok := a.allowed[id]; !ok {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s is neither a peer nor a querier of this node (a researcher connects with a certificate issued with --role querier that a querier block names)", id)
	}
	if roles := a.rolesFor(fullMethod); len(roles) > 0 && !slices.Contains(roles, id.Role) {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s may not call %s", id, fullMethod)
	}
	return id, nil
}

// ServerOptions returns the interceptors as grpc.NewServer options; they
// chain with interceptors given in other options.
func (a *Authorizer) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(a.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamServerInterceptor()),
	}
}

// UnaryServerInterceptor authorizes every unary call.
func (a *Authorizer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, err := a.Authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authorizes every streaming call before the
// handler sees a message.
func (a *Authorizer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if _, err := a.Authorize(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
