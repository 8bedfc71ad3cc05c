package pki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var (
	// ErrExists reports a refusal to overwrite an existing key or certificate.
	ErrExists = errors.New("pki: file already exists")
	// ErrBadName reports an identity name outside [A-Za-z0-9][A-Za-z0-9._-]*.
	ErrBadName = errors.New("pki: invalid identity name")
	// ErrBadRole reports a role other than node or querier.
	ErrBadRole = errors.New("pki: invalid role")
	// ErrBadFile reports a PEM file that does not hold what it should.
	ErrBadFile = errors.New("pki: malformed file")
	// ErrNoIdentity reports a certificate without a valid jointly:// identity,
	// or a connection without a verified client certificate.
	ErrNoIdentity = errors.New("pki: no verified identity")
	// ErrNotLoopback reports a plaintext listen address that is not loopback.
	ErrNotLoopback = errors.New("pki: plaintext listener on a non-loopback address")
	// ErrExpired reports a certificate outside its validity period: expired,
	// or not valid yet (a clock set wrong). The message names the file and
	// the date.
	ErrExpired = errors.New("pki: certificate not valid now")
	// ErrBadValidity reports a validity period that is not positive.
	ErrBadValidity = errors.New("pki: invalid validity period")
)

// Role says what an identity may do in the federation.
type Role string

const (
	// RoleNode is a data owner's node: it serves the API and dials its peers.
	RoleNode Role = "node"
	// RoleQuerier is a client that submits queries and receives results.
	RoleQuerier Role = "querier"
)

// ParseRole accepts "node" or "querier".
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleNode, RoleQuerier:
		return r, nil
	}
	return "", fmt.Errorf("%w: %q (want node or querier)", ErrBadRole, s)
}

// Identity is who a certificate speaks for.
type Identity struct {
	Name string
	Role Role
}

// URI is the identity's subject alternative name, jointly://ROLE/NAME.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: "jointly", Host: string(id.Role), Path: "/" + id.Name}
}

func (id Identity) String() string { return string(id.Role) + "/" + id.Name }

// Validity periods: the CA outlives the leaves so that re-issuing a leaf
// never needs a new federation.
const (
	caValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity is how long a node or querier certificate is valid
	// unless its issuer says otherwise.
	LeafValidity = 2 * 365 * 24 * time.Hour
	// clockSkew is how long before its issue a certificate is valid, for
	// peers whose clocks lag.
	clockSkew  = time.Hour
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateName checks that name is usable both as a file name and as the
// path of the identity URI.
func ValidateName(name string) error {
	// "ca" in any case would collide with the CA's files on a
	// case-insensitive file system.
	if !nameRE.MatchString(name) || strings.EqualFold(name, "ca") {
		return fmt.Errorf("%w: %q (letters, digits, '.', '_', '-'; not \"ca\")", ErrBadName, name)
	}
	return nil
}

// IdentityFromCert extracts the identity of a certificate: exactly one
// jointly:// URI SAN whose name equals the CommonName.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != "jointly" {
			continue
		}
		role, err := ParseRole(u.Host)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
		}
		name := u.Path
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		if err := ValidateName(name); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
		}
		found = append(found, Identity{Name: name, Role: role})
	}
	if len(found) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate has %d jointly:// URIs, want 1", ErrNoIdentity, len(found))
	}
	if found[0].Name != cert.Subject.CommonName {
		return Identity{}, fmt.Errorf("%w: URI name %q differs from CommonName %q", ErrNoIdentity, found[0].Name, cert.Subject.CommonName)
	}
	return found[0], nil
}

// certTemplate is a certificate for subject with a fresh random serial,
// valid from notBefore to notAfter.
func certTemplate(subject pkix.Name, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: n.Add(n, big.NewInt(1)),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}, nil
}

// window is the validity period of a certificate issued now for validity:
// from clockSkew ago (for peers whose clocks lag) to validity from now,
// and never beyond the CA's own.
func window(validity time.Duration, ca *x509.Certificate) (notBefore, notAfter time.Time, err error) {
	if validity <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %v (want a positive duration)", ErrBadValidity, validity)
	}
	now := time.Now()
	notAfter = now.Add(validity)
	if ca != nil && notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	return now.Add(-clockSkew), notAfter, nil
}

// refuseExisting fails with ErrExists if any of paths is there already.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		}
	}
	return nil
}

// InitCA creates a federation CA in dir (created 0700 if missing): ca.crt
// and ca.key. It refuses to replace an existing CA.
func InitCA(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: create %s: %w", dir, err)
	}
	if err := refuseExisting(filepath.Join(dir, caKeyFile), filepath.Join(dir, caCertFile)); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	notBefore, notAfter, err := window(caValidity, nil)
	if err != nil {
		return err
	}
	tmpl, err := certTemplate(pkix.Name{CommonName: "Jointly federation CA", Organization: []string{"Jointly federation"}}, notBefore, notAfter)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tmpl.BasicConstraintsValid, tmpl.IsCA, tmpl.MaxPathLenZero = true, true, true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(priv)
	if err != nil {
		return err
	}
	// Key first: a crash in between leaves a key without a certificate,
	// which a retry reports as existing rather than silently pairing a new
	// certificate with a different key.
	if err := writeFileAtomic(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, caCertFile), encodeCert(der), 0o644)
}

func loadCA(caDir string) (*x509.Certificate, ed25519.PrivateKey, error) {
	cert, err := LoadCertificate(filepath.Join(caDir, caCertFile))
	if err != nil {
		return nil, nil, err
	}
	key, err := LoadPrivateKey(filepath.Join(caDir, caKeyFile))
	if err != nil {
		return nil, nil, err
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, nil, fmt.Errorf("%w: ca.key does not match ca.crt", ErrBadFile)
	}
	return cert, key, nil
}

// Issue creates NAME.crt and NAME.key in outDir (caDir when empty), signed by
// the CA in caDir and valid for validity from now (at most until the CA's
// certificate expires), and copies ca.crt into outDir if it is not there
// yet, so outDir alone is enough for LoadServerTLS/LoadClientTLS. hosts are
// the DNS names or IP addresses peers dial; a node with none gets
// localhost, 127.0.0.1 and ::1. Nodes get server and client authentication
// (they dial each other), queriers client authentication only.
func Issue(caDir, name string, role Role, hosts []string, outDir string, validity time.Duration) error {
	notBefore, notAfter, err := window(validity, nil)
	if err != nil {
		return err
	}
	return IssueBetween(caDir, name, role, hosts, outDir, notBefore, notAfter)
}

// IssueBetween is Issue with the certificate's validity period given (a
// certificate that starts later, or in tests one that has expired), its
// end at most the CA certificate's.
func IssueBetween(caDir, name string, role Role, hosts []string, outDir string, notBefore, notAfter time.Time) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if outDir == "" {
		outDir = caDir
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return err
	}
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return fmt.Errorf("pki: create %s: %w", outDir, err)
	}
	keyPath, certPath := filepath.Join(outDir, name+".key"), filepath.Join(outDir, name+".crt")
	if err := refuseExisting(keyPath, certPath); err != nil {
		return err
	}
	id := Identity{Name: name, Role: role}
	tmpl, err := certTemplate(pkix.Name{CommonName: name, OrganizationalUnit: []string{string(role)}}, notBefore, notAfter)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.URIs = []*url.URL{id.URI()}
	switch role {
	case RoleNode:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if len(hosts) == 0 {
			hosts = []string{"localhost", "127.0.0.1", "::1"}
		}
	case RoleQuerier:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return fmt.Errorf("pki: create certificate for %s: %w", id, err)
	}
	keyPEM, err := encodeKey(priv)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certPath, encodeCert(der), 0o644); err != nil {
		return err
	}
	if caPath := filepath.Join(outDir, caCertFile); outDir != caDir {
		existing, err := LoadCertificate(caPath)
		switch {
		case err == nil && !existing.Equal(caCert):
			return fmt.Errorf("%w: %s belongs to another CA", ErrBadFile, caPath)
		case err != nil && errors.Is(err, os.ErrNotExist):
			return writeFileAtomic(caPath, encodeCert(caCert.Raw), 0o644)
		case err != nil:
			return err
		}
	}
	return nil
}
