package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestEnvironmentInHelp: every variable of envHelp is bound to a flag,
// and each bound flag's help names its variable.
func TestEnvironmentInHelp(t *testing.T) {
	bound := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			for _, env := range f.Annotations[envAnnotation] {
				bound[env] = true
				if !strings.Contains(f.Usage, "$"+env) {
					t.Errorf("%s --%s: help does not name $%s", c.CommandPath(), f.Name, env)
				}
			}
		}
		c.LocalFlags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for _, env := range []string{envLogLevel, envConfig, envNode, envTLSDir, envName, envExpectNode} {
		if !bound[env] {
			t.Errorf("$%s is bound to no flag", env)
		}
		if !strings.Contains(envHelp, env) {
			t.Errorf("jointly --help does not list $%s", env)
		}
	}
}

// TestEnvironmentDefaults: a variable stands for its flag when the flag is
// left out, the flag wins when given, and a bad value names the variable.
func TestEnvironmentDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "node.hcl", partytest.RetailerHCL(dir)+`querier "alice" {
  epsilon = 3
  delta = 1e-5
}
`)

	t.Setenv(envConfig, cfg)
	if code, out := runCLI(t, "budget"); code != exitOK || !strings.Contains(out, "alice") {
		t.Fatalf("$%s: exit %d\n%s", envConfig, code, out)
	}
	t.Setenv(envConfig, cfg+".missing")
	if code, out := runCLI(t, "budget", "--config", cfg); code != exitOK || !strings.Contains(out, "alice") {
		t.Fatalf("--config does not win over $%s: exit %d\n%s", envConfig, code, out)
	}
	if code, out := runCLI(t, "budget"); code != exitInput || !strings.Contains(out, ".missing") {
		t.Fatalf("$%s naming a missing file: exit %d\n%s", envConfig, code, out)
	}

	t.Setenv(envLogLevel, "verbose")
	if code, out := runCLI(t, "version"); code != exitUsage || !strings.Contains(out, "$"+envLogLevel) {
		t.Fatalf("$%s=verbose: exit %d\n%s", envLogLevel, code, out)
	}
	if code, out := runCLI(t, "--log-level", "warn", "version"); code != exitOK {
		t.Fatalf("--log-level does not win over $%s: exit %d\n%s", envLogLevel, code, out)
	}
}

// TestEnvironmentQuery: a query finds its node and its identity in the
// environment.
func TestEnvironmentQuery(t *testing.T) {
	r, i, _ := partytest.World(t, 300, 0.5, 4)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	t.Setenv(envNode, c.Nodes[0].Addr())
	t.Setenv(envTLSDir, filepath.Join(c.PKIDir, partytest.Querier))
	t.Setenv(envName, partytest.Querier)
	t.Setenv(envExpectNode, partytest.NodeName(0))
	file := writeFile(t, "query.hcl", goodQuery)
	if code, out := runCLI(t, "query", "--file", file); code != exitOK || !strings.Contains(out, "pearson_r") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The flag wins: the node's certificate is not node1's.
	if code, out := runCLI(t, "query", "--file", file, "--expect-node", partytest.NodeName(1)); code != exitUnavailable || !strings.Contains(out, "want node/node1") {
		t.Fatalf("--expect-node node1: exit %d\n%s", code, out)
	}
}
