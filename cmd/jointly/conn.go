package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/pki"
)

// nodeFlags are how a querier's command reaches a node: the node's
// address and the querier's identity.
type nodeFlags struct {
	node, tlsDir, name, expect string
	insecure                   bool
	timeout                    time.Duration
}

// register adds the flags to cmd, with timeout as the default deadline.
func (f *nodeFlags) register(cmd *cobra.Command, timeout time.Duration, timeoutUsage string) {
	fs := cmd.Flags()
	fs.StringVar(&f.node, "node", "", "address of the node, host:port (required)")
	fs.StringVar(&f.tlsDir, "tls-dir", "", "directory with the querier's certificate, key and the federation CA")
	fs.StringVar(&f.name, "name", "", "the querier's identity: only to pick one of several certificates in --tls-dir, or with --insecure")
	fs.StringVar(&f.expect, "expect-node", "", "require the node's certificate to carry this name")
	fs.BoolVar(&f.insecure, "insecure", false, "plaintext gRPC to a loopback development node")
	fs.DurationVar(&f.timeout, "timeout", timeout, timeoutUsage)
	bindEnv(fs, "node", envNode)
	bindEnv(fs, "tls-dir", envTLSDir)
	bindEnv(fs, "name", envName)
	bindEnv(fs, "expect-node", envExpectNode)
	_ = cmd.MarkFlagRequired("node")
}

// dial connects to the node and returns the client and the querier's
// name: the name in the certificate with mutual TLS, --name with
// --insecure.
func (f *nodeFlags) dial() (*party.Client, string, error) {
	if _, port, err := net.SplitHostPort(f.node); err != nil || port == "" {
		return nil, "", usageErrorf("--node %q: want HOST:PORT, the address a node's listen names", f.node)
	}
	if f.insecure {
		if f.name == "" {
			return nil, "", usageErrorf("--insecure needs --name, the querier the node should charge")
		}
		c, err := party.Dial(f.node, f.timeout)
		return c, f.name, err
	}
	if f.tlsDir == "" {
		return nil, "", usageErrorf("--tls-dir is required (or --insecure for a loopback development node)")
	}
	id, err := identityIn(f.tlsDir, f.name)
	if err != nil {
		return nil, "", err
	}
	c, err := party.DialTLS(f.node, f.tlsDir, id.Name, f.expect, f.timeout)
	if err != nil {
		return nil, "", inputErrorf("--tls-dir: %w", err)
	}
	return c, id.Name, nil
}

// identityIn returns the identity whose certificate and key are in dir
// (NAME.crt and NAME.key beside ca.crt, as jointly ca issue writes them).
// The certificate says who the caller is; name, when given, must agree
// with it, or pick one of several identities in dir. Without name, one
// querier identity among several is the one.
func identityIn(dir, name string) (pki.Identity, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return pki.Identity{}, inputErrorf("--tls-dir: %w", err)
	}
	var ids []pki.Identity
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".crt")
		if !ok || base == "ca" || e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, base+".key")); err != nil {
			continue // a certificate without its key is not an identity of ours
		}
		path := filepath.Join(dir, e.Name())
		cert, err := pki.LoadCertificate(path)
		if err != nil {
			return pki.Identity{}, inputErrorf("--tls-dir: %w", err)
		}
		id, err := pki.IdentityFromCert(cert)
		if err != nil {
			return pki.Identity{}, inputErrorf("--tls-dir: %s: %w", path, err)
		}
		if id.Name != base {
			return pki.Identity{}, inputErrorf("--tls-dir: %s holds the certificate of %s; jointly ca issue names it %s.crt", path, id, id.Name)
		}
		ids = append(ids, id)
	}
	names := func(ids []pki.Identity) string {
		var s []string
		for _, id := range ids {
			s = append(s, id.String())
		}
		return strings.Join(s, ", ")
	}
	if len(ids) == 0 {
		return pki.Identity{}, inputErrorf("--tls-dir: %s holds no certificate with its key (NAME.crt and NAME.key, as jointly ca issue writes them)", dir)
	}
	if name != "" {
		if k := slices.IndexFunc(ids, func(id pki.Identity) bool { return id.Name == name }); k >= 0 {
			return ids[k], nil
		}
		if len(ids) == 1 {
			return pki.Identity{}, usageErrorf("--name %q disagrees with the certificate in %s, which is %s; leave --name out", name, dir, ids[0])
		}
		return pki.Identity{}, usageErrorf("--name %q: %s holds no certificate of that name (it holds %s)", name, dir, names(ids))
	}
	if len(ids) == 1 {
		return ids[0], nil
	}
	queriers := slices.DeleteFunc(slices.Clone(ids), func(id pki.Identity) bool { return id.Role != pki.RoleQuerier })
	if len(queriers) == 1 {
		return queriers[0], nil
	}
	return pki.Identity{}, usageErrorf("%s holds several identities (%s): pick one with --name", dir, names(ids))
}
