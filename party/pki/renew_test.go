package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertificateValidity: a certificate that has expired, or is not valid
// yet, is refused when it is loaded, with an error that names the file,
// the date and what to do; so is an expired CA.
func TestCertificateValidity(t *testing.T) {
	dir := federation(t)
	now := time.Now()
	if err := IssueBetween(dir, "old", RoleNode, nil, "", now.Add(-48*time.Hour), now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := IssueBetween(dir, "early", RoleQuerier, nil, "", now.Add(24*time.Hour), now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		load func() error
		want []string
	}{
		{"server", func() error { _, err := LoadServerTLS(dir, "old"); return err },
			[]string{filepath.Join(dir, "old.crt") + " expired on", "jointly ca renew --ca CA_DIR --cert " + filepath.Join(dir, "old.crt")}},
		{"client", func() error { _, err := LoadClientTLS(dir, "old", ""); return err }, []string{"old.crt expired on"}},
		{"not yet", func() error { _, err := LoadClientTLS(dir, "early", ""); return err }, []string{"early.crt is not valid until", "clock"}},
		{"check", func() error { _, err := CheckCertificate(dir, "old"); return err }, []string{"old.crt expired on"}},
	} {
		err := tc.load()
		if !errors.Is(err, ErrExpired) {
			t.Errorf("%s: error %v, want ErrExpired", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
	if err := Issue(dir, "zero", RoleNode, nil, "", 0); !errors.Is(err, ErrBadValidity) {
		t.Errorf("a validity of 0: %v, want ErrBadValidity", err)
	}
	// A certificate is never valid beyond its CA's.
	if err := Issue(dir, "long", RoleNode, nil, "", 100*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ca, _ := LoadCertificate(filepath.Join(dir, caCertFile))
	if c, _ := LoadCertificate(filepath.Join(dir, "long.crt")); !c.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("a 100-year certificate ends %v, the CA %v", c.NotAfter, ca.NotAfter)
	}
}

// TestRenew: a renewed certificate carries the identity, hosts, usages and
// public key of the old one and the new validity; the old one is kept,
// the key file is untouched, and a certificate of another CA is refused.
func TestRenew(t *testing.T) {
	dir := federation(t)
	out := filepath.Join(t.TempDir(), "insurer")
	now := time.Now()
	if err := IssueBetween(dir, "insurer", RoleNode, []string{"insurer.example", "10.0.0.7"}, out, now.Add(-time.Hour), now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(out, "insurer.crt"), filepath.Join(out, "insurer.key")
	old, _ := LoadCertificate(certPath)
	key, _ := os.ReadFile(keyPath)
	renewed, kept, err := Renew(dir, certPath, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := CheckCertificate(out, "insurer")
	if err != nil {
		t.Fatalf("the renewed pair does not load: %v", err)
	}
	if !onDisk.Equal(renewed) || renewed.Equal(old) {
		t.Fatal("the renewed certificate is not the one on disk, or is the old one")
	}
	id, _ := IdentityFromCert(renewed)
	if id != (Identity{Name: "insurer", Role: RoleNode}) || !renewed.PublicKey.(ed25519.PublicKey).Equal(old.PublicKey) ||
		strings.Join(renewed.DNSNames, ",") != "insurer.example" || len(renewed.IPAddresses) != 1 || !renewed.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) ||
		len(renewed.ExtKeyUsage) != 2 {
		t.Errorf("renewed certificate %s, key %v, hosts %v %v, usages %v; want the old one's", id, renewed.PublicKey, renewed.DNSNames, renewed.IPAddresses, renewed.ExtKeyUsage)
	}
	if d := time.Until(renewed.NotAfter) - 90*24*time.Hour; d > time.Minute || d < -time.Minute {
		t.Errorf("renewed until %v, want 90 days from now", renewed.NotAfter)
	}
	if c, err := LoadCertificate(kept); err != nil || !c.Equal(old) {
		t.Errorf("the old certificate was not kept at %s: %v", kept, err)
	}
	if k, _ := os.ReadFile(keyPath); !bytes.Equal(k, key) {
		t.Error("renewing changed the key file")
	}
	other := federation(t)
	if _, _, err := Renew(other, certPath, time.Hour); !errors.Is(err, ErrBadFile) {
		t.Errorf("renewed by another CA: %v, want ErrBadFile", err)
	}
	if _, _, err := Renew(dir, certPath, -time.Hour); !errors.Is(err, ErrBadValidity) {
		t.Errorf("a negative validity: %v, want ErrBadValidity", err)
	}
}

// TestRenewedCertificateTakenUp: a server and a client that loaded their
// TLS configuration once present the renewed certificate at their next
// handshake, without loading it again; a certificate file that no longer
// loads (a half-copied one) leaves the last good one in use.
func TestRenewedCertificateTakenUp(t *testing.T) {
	dir := federation(t, Identity{"retailer", RoleNode}, Identity{"alice", RoleQuerier})
	srvCfg, err := LoadServerTLS(dir, "retailer")
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := LoadClientTLS(dir, "alice", "retailer")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	clientSerials := make(chan *big.Int, 8)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() == nil {
				clientSerials <- tc.ConnectionState().PeerCertificates[0].SerialNumber
			} else {
				clientSerials <- nil
			}
			tc.Close()
		}
	}()
	handshake := func() (server, client *big.Int) {
		t.Helper()
		c, err := tls.Dial("tcp", lis.Addr().String(), cliCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Read(make([]byte, 1)) // TLS 1.3: the server checks the client's certificate after the client's handshake
		return c.ConnectionState().PeerCertificates[0].SerialNumber, <-clientSerials
	}
	s1, c1 := handshake()
	for _, name := range []string{"retailer", "alice"} {
		if _, _, err := Renew(dir, filepath.Join(dir, name+".crt"), 30*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s2, c2 := handshake()
	if s1.Cmp(s2) == 0 || c1 == nil || c2 == nil || c1.Cmp(c2) == 0 {
		t.Fatalf("after renewing both, the server presented serial %v then %v, the client %v then %v: want the renewed ones", s1, s2, c1, c2)
	}
	if err := os.WriteFile(filepath.Join(dir, "retailer.crt"), []byte("-----BEGIN CERT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s3, _ := handshake(); s3.Cmp(s2) != 0 {
		t.Errorf("with a broken certificate file the server presented serial %v, want the last good one %v", s3, s2)
	}
	if _, err := CheckCertificate(dir, "retailer"); err == nil {
		t.Error("CheckCertificate accepts the broken certificate file")
	}
}
