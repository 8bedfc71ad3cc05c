package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
)

// TestIdentityIn: the querier's identity comes from the certificate in
// --tls-dir; --name may pick one of several, and is refused when it
// contradicts the only one.
func TestIdentityIn(t *testing.T) {
	root := t.TempDir()
	caDir := filepath.Join(root, "ca")
	if err := pki.InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	issue := func(dir string, names ...string) string {
		t.Helper()
		dir = filepath.Join(root, dir)
		for _, n := range names {
			role := pki.RoleQuerier
			if strings.HasPrefix(n, "node-") {
				role = pki.RoleNode
			}
			if err := pki.Issue(caDir, n, role, nil, dir, pki.LeafValidity); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	alice := issue("alice", "alice")
	two := issue("two", "alice", "bob")
	withNode := issue("with-node", "node-retailer", "alice")
	renamed := issue("renamed", "alice")
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Rename(filepath.Join(renamed, "alice"+ext), filepath.Join(renamed, "carol"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, flag string
		want            string // the identity found, or
		code            int    // the exit code of the error
		says            string
	}{
		{"from the certificate", alice, "", "querier/alice", 0, ""},
		{"--name agrees", alice, "alice", "querier/alice", 0, ""},
		{"--name disagrees", alice, "bob", "", exitUsage, `--name "bob" disagrees with the certificate`},
		{"two, none picked", two, "", "", exitUsage, "several identities (querier/alice, querier/bob): pick one with --name"},
		{"two, --name picks", two, "bob", "querier/bob", 0, ""},
		{"two, --name unknown", two, "carol", "", exitUsage, "no certificate of that name"},
		{"the querier beside a node", withNode, "", "querier/alice", 0, ""},
		{"the node by name", withNode, "node-retailer", "node/node-retailer", 0, ""},
		{"renamed files", renamed, "", "", exitInput, "holds the certificate of querier/alice"},
		{"empty", empty, "", "", exitInput, "holds no certificate with its key"},
		{"missing", filepath.Join(root, "missing"), "", "", exitInput, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identityIn(tc.dir, tc.flag)
			if tc.want != "" {
				if err != nil || id.String() != tc.want {
					t.Fatalf("%v, %v; want %s", id, err, tc.want)
				}
				return
			}
			if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v (exit %d); want exit %d saying %q", err, exitCode(err), tc.code, tc.says)
			}
		})
	}
}

// TestQueryNameFromCertificate: jointly query needs no --name with mutual
// TLS, and refuses one the certificate contradicts.
func TestQueryNameFromCertificate(t *testing.T) {
	r, i, _ := partytest.World(t, 300, 0.5, 4)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	file := writeFile(t, "query.hcl", goodQuery)
	args := []string{"query", "--node", c.Nodes[0].Addr(), "--file", file, "--tls-dir", filepath.Join(c.PKIDir, partytest.Querier)}
	if code, out := runCLI(t, args...); code != exitOK || !strings.Contains(out, "pearson_r") {
		t.Fatalf("without --name: exit %d\n%s", code, out)
	}
	code, out := runCLI(t, append(args, "--name", "mallory")...)
	if code != exitUsage || !strings.Contains(out, `--name "mallory" disagrees with the certificate`) || !strings.Contains(out, "querier/"+partytest.Querier) {
		t.Fatalf("--name mallory: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, "query", "--node", c.Nodes[0].Addr(), "--file", file); code != exitUsage || !strings.Contains(out, "--tls-dir is required") {
		t.Fatalf("no --tls-dir: exit %d\n%s", code, out)
	}
	// A querier of another federation's CA is refused at the handshake,
	// which no retry fixes; a node's own certificate is no querier's.
	_, _, otherQuerier := newTestFederation(t)
	code, out = runCLI(t, "query", "--node", c.Nodes[0].Addr(), "--file", file, "--tls-dir", otherQuerier)
	if code != exitPolicy || !strings.Contains(out, "same federation CA") {
		t.Fatalf("another CA's querier: exit %d\n%s", code, out)
	}
	for k, want := range []string{"neither a peer nor a querier", "that is a node of the federation"} {
		code, out = runCLI(t, "query", "--node", c.Nodes[0].Addr(), "--file", file, "--tls-dir", filepath.Join(c.PKIDir, partytest.NodeName(k)))
		if code != exitPolicy || !strings.Contains(out, want) || !strings.Contains(out, "--role querier") {
			t.Fatalf("node%d's certificate as querier: exit %d\n%s", k, code, out)
		}
	}
	var usage *usageError
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:"} {
		if _, _, err := (&nodeFlags{node: addr, tlsDir: filepath.Join(c.PKIDir, partytest.Querier)}).dial(); !errors.As(err, &usage) || !strings.Contains(err.Error(), "HOST:PORT") {
			t.Fatalf("--node %s: %v, want a usage error asking for HOST:PORT", addr, err)
		}
	}
	if _, _, err := (&nodeFlags{node: c.Nodes[0].Addr(), insecure: true}).dial(); !errors.As(err, &usage) {
		t.Fatalf("--insecure without --name: %v", err)
	}
}
