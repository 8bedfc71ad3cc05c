package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// LoadServerTLS returns the TLS configuration of node name from dir
// (NAME.crt, NAME.key, ca.crt): TLS 1.3 only, client certificates required
// and verified against the federation CA, and refused during the handshake
// if they carry no valid jointly:// identity. Which identities may call
// which method is the Authorizer's job.
func LoadServerTLS(dir, name string) (*tls.Config, error) {
	cert, pool, err := loadPair(dir, name)
	if err != nil {
		return nil, err
	}
	if id, err := IdentityFromCert(cert.Leaf); err != nil || id != (Identity{Name: name, Role: RoleNode}) {
		return nil, fmt.Errorf("%w: %s.crt is not the node certificate of %s", ErrNoIdentity, name, name)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifiedIdentity(cs, "")
		},
	}, nil
}

// LoadClientTLS returns the TLS configuration with which identity name (a
// node dialing a peer, or a querier) connects to a node: its own
// certificate, the federation CA as the only root, TLS 1.3. The server must
// present a node certificate; when expectNode is not empty it must be that
// node's, so a valid certificate of another member cannot impersonate the
// peer the caller meant to reach.
func LoadClientTLS(dir, name, expectNode string) (*tls.Config, error) {
	cert, pool, err := loadPair(dir, name)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifiedIdentity(cs, expectNode)
		},
	}, nil
}

// verifiedIdentity checks the peer's verified leaf; expectNode, when set,
// pins the peer to that node identity.
func verifiedIdentity(cs tls.ConnectionState, expectNode string) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ErrNoIdentity
	}
	id, err := IdentityFromCert(cs.VerifiedChains[0][0])
	if err != nil {
		return err
	}
	if expectNode != "" && (id.Name != expectNode || id.Role != RoleNode) {
		return fmt.Errorf("%w: peer is %s, want node/%s", ErrNoIdentity, id, expectNode)
	}
	return nil
}

func loadPair(dir, name string) (tls.Certificate, *x509.CertPool, error) {
	if err := ValidateName(name); err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		// LoadX509KeyPair never echoes key bytes, only what is wrong.
		return tls.Certificate{}, nil, fmt.Errorf("pki: load %s: %w", name, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("pki: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("%w: %s holds no certificate", ErrBadFile, caCertFile)
	}
	return cert, pool, nil
}

// CheckLoopback refuses the plaintext development mode (insecure_loopback)
// on any listen address that other machines could reach: only localhost,
// loopback IPs and Unix sockets pass. An empty host (":7000") means every
// interface and is refused.
func CheckLoopback(addr string) error {
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrNotLoopback, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
}
