package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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
	walk(newAuditCmd())
}
