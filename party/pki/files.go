package pki

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jointly-dev/jointly/party/fsutil"
)

// writeFileAtomic creates path with the given contents and permissions, or
// fails with ErrExists if it is already there. fsutil.CreateFile links
// rather than renames the complete file into place, so two concurrent
// writers can never clobber each other's key, and a crash leaves either no
// file or a complete one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := refuseExisting(path); err != nil {
		return err
	}
	if err := fsutil.CreateFile(path, data, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadCertificate reads one PEM certificate from path.
func LoadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read certificate: %w", err)
	}
	return ParseCertificatePEM(data)
}

// ParseCertificatePEM parses the first CERTIFICATE block of data.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: no PEM certificate", ErrBadFile)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
		}
		return cert, nil
	}
}

// LoadPrivateKey reads an Ed25519 PKCS#8 PEM private key from path. The
// error never contains key bytes.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: read private key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s holds no PKCS#8 private key", ErrBadFile, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: malformed private key", ErrBadFile, path)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an Ed25519 key", ErrBadFile, path)
	}
	return ek, nil
}

// LoadSigner returns the Ed25519 private key of identity name in dir, the
// key a node uses to sign its audit log.
func LoadSigner(dir, name string) (ed25519.PrivateKey, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	return LoadPrivateKey(filepath.Join(dir, name+".key"))
}
