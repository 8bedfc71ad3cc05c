package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// LoadServerTLS returns the TLS configuration of node name from dir
// (NAME.crt, NAME.key, ca.crt): TLS 1.3 only, client certificates required
// and verified against the federation CA, and refused during the handshake
// if they carry no valid jointly:// identity. Which identities may call
// which method is the Authorizer's job. A certificate renewed in dir is
// presented from the next handshake on (keyPair).
func LoadServerTLS(dir, name string) (*tls.Config, error) {
	kp, pool, err := loadPair(dir, name, RoleNode)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get(), nil
		},
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
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
	kp, pool, err := loadPair(dir, name, "")
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get(), nil
		},
		RootCAs: pool,
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

// loadPair loads identity name's certificate and key from dir, and the
// federation CA; role, when set, is the role the certificate must carry.
func loadPair(dir, name string, role Role) (*keyPair, *x509.CertPool, error) {
	if err := ValidateName(name); err != nil {
		return nil, nil, err
	}
	kp := &keyPair{dir: dir, name: name, role: role}
	if err := kp.reload(); err != nil {
		return nil, nil, err
	}
	caPath := filepath.Join(dir, caCertFile)
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: read CA: %w", err)
	}
	ca, err := ParseCertificatePEM(caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", caPath, err)
	}
	if err := checkValidity(ca, caPath, time.Now(), "the federation needs a new CA (jointly ca init) and new certificates"); err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("%w: %s holds no certificate", ErrBadFile, caCertFile)
	}
	return kp, pool, nil
}

// CertificatePath is where identity name's certificate is in dir.
func CertificatePath(dir, name string) string { return filepath.Join(dir, name+".crt") }

// CheckCertificate loads identity name's certificate and key from dir as
// a node or querier does, and returns the certificate: an error says why
// they would not be used (missing, malformed, a key that does not match,
// another identity, expired or not valid yet).
func CheckCertificate(dir, name string) (*x509.Certificate, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	cert, _, err := loadLeaf(dir, name, "")
	if err != nil {
		return nil, err
	}
	return cert.Leaf, nil
}

// keyPair is the certificate and key of identity name in dir, read again
// when either file changes, so that a renewed certificate (Renew) is
// presented from the next handshake on, without a restart. A change that
// does not load (a file half copied, a key that does not match, a
// certificate not valid now) keeps the pair loaded before;
// CheckCertificate says what is wrong with it.
type keyPair struct {
	dir, name string
	role      Role
	mu        sync.Mutex
	stamp     [2]fileStamp
	cert      *tls.Certificate
}

// fileStamp tells a changed file: replaced (Renew renames a new file
// into place), or written in place.
type fileStamp struct{ fi os.FileInfo }

// same reports whether a and b are the same unchanged file.
func (a fileStamp) same(b fileStamp) bool {
	return a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi) && a.fi.ModTime().Equal(b.fi.ModTime()) && a.fi.Size() == b.fi.Size()
}

// reload loads the pair from dir.
func (k *keyPair) reload() error {
	cert, stamp, err := loadLeaf(k.dir, k.name, k.role)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.cert, k.stamp = cert, stamp
	k.mu.Unlock()
	return nil
}

// get returns the pair, loaded again if a file changed and it loads.
func (k *keyPair) get() *tls.Certificate {
	stamp, err := stamps(k.dir, k.name)
	k.mu.Lock()
	changed := err == nil && !(stamp[0].same(k.stamp[0]) && stamp[1].same(k.stamp[1]))
	cert := k.cert
	k.mu.Unlock()
	if changed && k.reload() == nil {
		k.mu.Lock()
		cert = k.cert
		k.mu.Unlock()
	}
	return cert
}

// stamps returns the stamps of NAME.crt and NAME.key in dir.
func stamps(dir, name string) ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, ext := range []string{".crt", ".key"} {
		fi, err := os.Stat(filepath.Join(dir, name+ext))
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{fi}
	}
	return out, nil
}

// loadLeaf loads and checks identity name's certificate and key from dir,
// with the files' stamps as they were before reading them.
func loadLeaf(dir, name string, role Role) (*tls.Certificate, [2]fileStamp, error) {
	stamp, _ := stamps(dir, name) // a missing file fails to load just below
	certPath := CertificatePath(dir, name)
	cert, err := tls.LoadX509KeyPair(certPath, filepath.Join(dir, name+".key"))
	if err != nil {
		// LoadX509KeyPair never echoes key bytes, only what is wrong.
		return nil, stamp, fmt.Errorf("pki: load %s: %w", name, err)
	}
	id, err := IdentityFromCert(cert.Leaf)
	if err != nil || id.Name != name || (role != "" && id.Role != role) {
		want := "certificate of " + name
		if role != "" {
			want = string(role) + " " + want
		}
		return nil, stamp, fmt.Errorf("%w: %s is not the %s", ErrNoIdentity, certPath, want)
	}
	if err := checkValidity(cert.Leaf, certPath, time.Now(), "renew it with jointly ca renew --ca CA_DIR --cert "+certPath); err != nil {
		return nil, stamp, err
	}
	return &cert, stamp, nil
}

// checkValidity fails with ErrExpired, naming path and the date, unless
// cert is valid at now; renew says what to do once it has expired.
func checkValidity(cert *x509.Certificate, path string, now time.Time, renew string) error {
	switch {
	case now.After(cert.NotAfter):
		return fmt.Errorf("%w: %s expired on %s; %s", ErrExpired, path, cert.NotAfter.UTC().Format(time.DateTime+" UTC"), renew)
	case now.Before(cert.NotBefore):
		return fmt.Errorf("%w: %s is not valid until %s (is this machine's clock right?)", ErrExpired, path, cert.NotBefore.UTC().Format(time.DateTime+" UTC"))
	}
	return nil
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
