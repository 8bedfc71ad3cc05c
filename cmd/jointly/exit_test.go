package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/queryfile"
	"github.com/jointly-dev/jointly/party/source"
)

func TestExitCode(t *testing.T) {
	_, notExist := os.Open(filepath.Join(t.TempDir(), "missing.hcl"))
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, exitOK},
		{"usage", usageErrorf("--format must be table or json"), exitUsage},
		{"usage wrapped", fmt.Errorf("query: %w", usageErrorf("bad flag")), exitUsage},
		{"config", fmt.Errorf("%w: node.hcl:3: name: bad", party.ErrConfig), exitInput},
		{"query file", fmt.Errorf("%w: query.hcl:1: bad", queryfile.ErrInvalid), exitInput},
		{"input", inputErrorf("query: %w", errors.New("unreadable")), exitInput},
		{"keys that do not match the peers'", fmt.Errorf("setup: %w: other session", party.ErrSetupMismatch), exitInput},
		{"setup wait over", fmt.Errorf("setup: %w: peer insurer unreachable", party.ErrNotReady), exitUnavailable},
		{"missing file", notExist, exitInput},
		{"missing data column", fmt.Errorf("%w: spend_x", source.ErrMissingColumn), exitInput},
		{"unknown column at the node", fmt.Errorf("submit on node0: %w", party.ErrUnknownColumn), exitInput},
		{"bad request at the node", fmt.Errorf("submit on node0: %w", party.ErrBadRequest), exitInput},
		{"refusal", fmt.Errorf("submit on node0: %w", &party.RefusalError{Owner: "node1", Reason: "purpose"}), exitPolicy},
		{"not admitted", fmt.Errorf("info on node0: %w", party.ErrUnknownParty), exitPolicy},
		{"budget refusal", fmt.Errorf("submit on node0: %w", &party.RefusalError{Owner: "node1", Reason: "δ runs out", Budget: true}), exitBudget},
		{"budget", party.ErrBudgetExhausted, exitBudget},
		{"not ready", fmt.Errorf("info on node0: %w", party.ErrNotReady), exitUnavailable},
		{"busy", fmt.Errorf("submit on node0: %w", party.ErrCapacity), exitUnavailable},
		{"infeasible plan", fmt.Errorf("plan: %w: DP noise beyond the sampler's range", upload.ErrInfeasible), exitInput},
		{"stale matching", fmt.Errorf("prepare on node1: %w: node1 has no current layout", party.ErrStale), exitUnavailable},
		{"audit log rolled back", fmt.Errorf("admit on node1: %w: node0 witnessed event 16", party.ErrAuditRolledBack), exitUnavailable},
		{"deadline", fmt.Errorf("info on node0: %w", context.DeadlineExceeded), exitUnavailable},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection refused"), exitUnavailable},
		{"grpc deadline wrapped", fmt.Errorf("x: %w", status.Error(codes.DeadlineExceeded, "late")), exitUnavailable},
		{"database unreachable", fmt.Errorf("%w: postgres", source.ErrUnreachable), exitUnavailable},
		{"peer failed", fmt.Errorf("x: %w", party.ErrPeerFailed), exitInternal},
		{"grpc internal", status.Error(codes.Internal, "bug"), exitInternal},
		{"anything else", errors.New("disk on fire"), exitInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Fatalf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// runCLI runs the command line as main does and returns its exit status
// and everything it wrote.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out, &out)
	return code, out.String()
}

// writeFile writes a file under a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitCodesWithoutNodes: usage and input mistakes are found before
// anything is sent, and a node nobody answers at is unavailable.
func TestExitCodesWithoutNodes(t *testing.T) {
	good := writeFile(t, "query.hcl", goodQuery)
	bad := writeFile(t, "bad.hcl", "purpose = \n")
	for _, tc := range []struct {
		name string
		args []string
		want int
		says string
	}{
		{"unknown flag", []string{"query", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"missing required flags", []string{"query"}, exitUsage, `required flag(s) "file", "node" not set`},
		{"argument", []string{"version", "extra"}, exitUsage, "unknown command"},
		{"unknown log level", []string{"--log-level", "verbose", "version"}, exitUsage, "--log-level"},
		{"bad format", []string{"query", "--node", "127.0.0.1:1", "--file", good, "--format", "pdf"}, exitUsage, "--format must be"},
		{"malformed query file", []string{"query", "--node", closedAddr(t), "--file", bad, "--insecure", "--name", "r"}, exitInput, bad + ":1"},
		{"missing query file", []string{"query", "--node", closedAddr(t), "--file", good + ".missing", "--insecure", "--name", "r"}, exitInput, "no such file"},
		{"missing config", []string{"budget", "--config", good + ".missing"}, exitInput, "no such file"},
		{"unreachable node", []string{"query", "--node", closedAddr(t), "--file", good, "--insecure", "--name", "r"}, exitUnavailable, "unavailable"},
		{"ok", []string{"version"}, exitOK, "jointly "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != tc.want || !strings.Contains(out, tc.says) {
				t.Fatalf("exit %d, want %d; output does not say %q?\n%s", code, tc.want, tc.says, out)
			}
			if code == exitUsage && !strings.Contains(out, "--help' for usage") {
				t.Fatalf("a usage error without the hint:\n%s", out)
			}
		})
	}
}

// TestExitCodesOverNodes: the node's refusals and the query's mistakes it
// finds come back as their own exit codes over real gRPC.
func TestExitCodesOverNodes(t *testing.T) {
	r, i, _ := partytest.World(t, 300, 0.5, 4)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	c.Configs[1].Queriers[0].Epsilon = 1.5
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	dp := strings.Replace(goodQuery, "exact   = true", "epsilon = 1\ndelta   = 1e-6", 1)
	query := func(t *testing.T, src string, extra ...string) (int, string) {
		t.Helper()
		args := append([]string{"query", "--node", c.Nodes[0].Addr(), "--file", writeFile(t, "query.hcl", src),
			"--tls-dir", filepath.Join(c.PKIDir, partytest.Querier), "--name", partytest.Querier}, extra...)
		return runCLI(t, args...)
	}
	for _, tc := range []struct {
		name, query string
		extra       []string
		want        int
		says        string
	}{
		{"ok", dp, nil, exitOK, "pearson_r"},
		{"policy", strings.Replace(dp, `"research"`, `"underwriting"`, 1), nil, exitPolicy, `purpose "underwriting" is not allowed`},
		{"budget", dp, nil, exitBudget, "ε runs out"},
		{"wrong column", strings.Replace(dp, "node0.spend_alcohol", "node0.spend_caviar", 1), nil, exitInput, "spend_caviar"},
		{"deadline", dp, []string{"--timeout", "1ns"}, exitUnavailable, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := query(t, tc.query, tc.extra...)
			if code != tc.want || !strings.Contains(out, tc.says) {
				t.Fatalf("exit %d, want %d; output does not say %q?\n%s", code, tc.want, tc.says, out)
			}
		})
	}
}
