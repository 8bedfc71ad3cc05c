package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party/pki"
)

// run executes cmd with args and returns its standard output and error.
func runCobra(t *testing.T, cmd *cobra.Command, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// newFederation runs `jointly ca init` and issues a node and a querier.
func newTestFederation(t *testing.T) (caDir, nodeDir, querierDir string) {
	t.Helper()
	root := t.TempDir()
	caDir, nodeDir, querierDir = filepath.Join(root, "ca"), filepath.Join(root, "retailer"), filepath.Join(root, "alice")
	if _, err := runCobra(t, newCACmd(), "init", "--out", caDir); err != nil {
		t.Fatal(err)
	}
	if _, err := runCobra(t, newCACmd(), "issue", "--ca", caDir, "--name", "retailer", "--role", "node", "--host", "retailer.example", "--host", "127.0.0.1", "--out", nodeDir); err != nil {
		t.Fatal(err)
	}
	if _, err := runCobra(t, newCACmd(), "issue", "--ca", caDir, "--name", "alice", "--role", "querier", "--out", querierDir); err != nil {
		t.Fatal(err)
	}
	return caDir, nodeDir, querierDir
}

func TestCACommands(t *testing.T) {
	caDir, nodeDir, _ := newTestFederation(t)
	for _, f := range []string{"ca.crt", "retailer.crt", "retailer.key"} {
		if _, err := os.Stat(filepath.Join(nodeDir, f)); err != nil {
			t.Error(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"init over an existing CA", []string{"init", "--out", caDir}, "already exists"},
		{"init without --out", []string{"init"}, "required flag"},
		{"bad role", []string{"issue", "--ca", caDir, "--name", "x", "--role", "admin"}, "invalid role"},
		{"existing key", []string{"issue", "--ca", caDir, "--name", "retailer", "--role", "node", "--out", nodeDir}, "already exists"},
		{"bad name", []string{"issue", "--ca", caDir, "--name", "../x", "--role", "node"}, "invalid identity name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCobra(t, newCACmd(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestCARenew: jointly ca issue --valid-for sets how long a certificate
// is valid, and jointly ca renew gives it a new validity with the same
// identity and key, keeping the old certificate; bad durations are usage
// errors.
func TestCARenew(t *testing.T) {
	caDir, nodeDir, _ := newTestFederation(t)
	out, err := runCobra(t, newCACmd(), "issue", "--ca", caDir, "--name", "insurer", "--role", "node", "--valid-for", "10d", "--out", nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(nodeDir, "insurer.crt")
	c, err := pki.LoadCertificate(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(c.NotAfter) - 10*24*time.Hour; d > time.Minute || d < -time.Minute || !strings.Contains(out, "valid until "+c.NotAfter.UTC().Format(time.DateOnly)) {
		t.Fatalf("--valid-for 10d: valid until %v, said %q", c.NotAfter, out)
	}
	code, out := runCLI(t, "ca", "renew", "--ca", caDir, "--cert", certPath, "--valid-for", "2160h")
	renewed, err := pki.CheckCertificate(nodeDir, "insurer")
	if code != exitOK || err != nil || !strings.Contains(out, "renewed node/insurer: "+certPath+", valid until "+renewed.NotAfter.UTC().Format(time.DateOnly)) {
		t.Fatalf("renew: exit %d, %v\n%s", code, err, out)
	}
	if d := time.Until(renewed.NotAfter) - 90*24*time.Hour; d > time.Minute || d < -time.Minute {
		t.Errorf("renewed for 2160h: valid until %v", renewed.NotAfter)
	}
	kept, _ := filepath.Glob(certPath + ".replaced-*")
	if len(kept) != 1 || !strings.Contains(out, kept[0]) {
		t.Errorf("the old certificate kept as %v; the output says %q", kept, out)
	}
	for _, args := range [][]string{
		{"ca", "issue", "--ca", caDir, "--name", "x", "--role", "node", "--valid-for", "0d"},
		{"ca", "issue", "--ca", caDir, "--name", "x", "--role", "node", "--valid-for", "soon"},
		{"ca", "renew", "--ca", caDir, "--cert", certPath, "--valid-for", "-5h"},
	} {
		if code, out := runCLI(t, args...); code != exitUsage || !strings.Contains(out, "--valid-for") {
			t.Errorf("%v: exit %d, want %d naming --valid-for:\n%s", args, code, exitUsage, out)
		}
	}
	if code, out := runCLI(t, "ca", "renew", "--ca", caDir, "--cert", filepath.Join(nodeDir, "nope.crt")); code != exitInput {
		t.Errorf("renewing a missing certificate: exit %d, want %d:\n%s", code, exitInput, out)
	}
}

func TestCommandsHaveHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Long == "" {
			t.Errorf("%q lacks help text", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newCACmd())
	walk(newAuditCmd(hclog.NewNullLogger))
}
