package party_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
)

// TestCertificateRenewedWhileRunning: over real gRPC with mutual TLS, a
// node whose certificate expires while it runs is refused by a querier
// with an error that says so, and serves again once the certificate is
// renewed in its tls_dir (jointly ca renew), without a restart.
func TestCertificateRenewedWhileRunning(t *testing.T) {
	c := partytest.Start(t, 2, partytest.Options{})
	ctx := context.Background()
	caDir := filepath.Join(c.PKIDir, "ca")
	tlsDir, name := c.Configs[0].TLSDir, c.Configs[0].Name

	// The owner swaps in a certificate that ends in two seconds: the
	// node presents it from its next handshake on.
	short := filepath.Join(t.TempDir(), name)
	end := time.Now().Add(2 * time.Second)
	if err := pki.IssueBetween(caDir, name, pki.RoleNode, nil, short, time.Now().Add(-time.Hour), end); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{name + ".key", name + ".crt"} {
		b, err := os.ReadFile(filepath.Join(short, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tlsDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	info := func() error {
		cl := c.Dial(t, 0) // a new connection: a new handshake
		_, err := cl.Info(ctx)
		return err
	}
	if err := info(); err != nil {
		t.Fatalf("before the certificate expires: %v", err)
	}
	time.Sleep(time.Until(end) + 500*time.Millisecond)
	err := info()
	if !errors.Is(err, party.ErrUnknownParty) || !strings.Contains(err.Error(), "the node's certificate has expired or is not valid yet") {
		t.Fatalf("with the node's certificate expired: %v, want a refusal saying so", err)
	}
	if _, _, err := pki.Renew(caDir, pki.CertificatePath(tlsDir, name), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := info(); err != nil {
		t.Fatalf("after renewing, without a restart: %v", err)
	}
}
