package pki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/jointly-dev/jointly/party/fsutil"
)

// Renew replaces the certificate at certPath with one the CA in caDir
// signs for the same identity, hosts and public key, valid for validity
// from now (at most until the CA's certificate expires). The key does not
// change, so its owner's NAME.key (which also signs the node's audit log)
// stays as it is and never travels to the CA: renewing needs only the
// certificate. The old certificate is kept beside the new one as
// certPath.replaced-TIME; a node reading the directory takes the new one
// up at its next handshake. It returns the new certificate and where the
// old one went.
func Renew(caDir, certPath string, validity time.Duration) (*x509.Certificate, string, error) {
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return nil, "", err
	}
	old, err := LoadCertificate(certPath)
	if err != nil {
		return nil, "", err
	}
	if err := old.CheckSignatureFrom(caCert); err != nil {
		return nil, "", fmt.Errorf("%w: %s was not issued by the CA in %s: %w", ErrBadFile, certPath, caDir, err)
	}
	id, err := IdentityFromCert(old)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", certPath, err)
	}
	pub, ok := old.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, "", fmt.Errorf("%w: %s does not hold an Ed25519 key", ErrBadFile, certPath)
	}
	notBefore, notAfter, err := window(validity, caCert)
	if err != nil {
		return nil, "", err
	}
	tmpl, err := certTemplate(old.Subject, notBefore, notAfter)
	if err != nil {
		return nil, "", err
	}
	tmpl.KeyUsage, tmpl.ExtKeyUsage = old.KeyUsage, old.ExtKeyUsage
	tmpl.URIs, tmpl.DNSNames, tmpl.IPAddresses = old.URIs, old.DNSNames, old.IPAddresses
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return nil, "", fmt.Errorf("pki: renew certificate of %s: %w", id, err)
	}
	renewed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", fmt.Errorf("pki: renew certificate of %s: %w", id, err)
	}
	info, err := os.Stat(certPath)
	if err != nil {
		return nil, "", fmt.Errorf("pki: %w", err)
	}
	kept := fmt.Sprintf("%s.replaced-%s", certPath, time.Now().UTC().Format("20060102T150405Z"))
	if err := writeFileAtomic(kept, encodeCert(old.Raw), info.Mode().Perm()); err != nil {
		return nil, "", err
	}
	if err := fsutil.WriteFile(certPath, encodeCert(der), info.Mode().Perm()); err != nil {
		return nil, "", fmt.Errorf("pki: %w", err)
	}
	return renewed, kept, nil
}
