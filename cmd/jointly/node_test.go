package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
)

// TestNodeCommandUnknownExclusion: `jointly node` refuses a configuration
// whose policy excludes a name the source does not read, naming the file,
// the line, the name and the columns there are.
func TestNodeCommandUnknownExclusion(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "retailer.csv")
	if err := os.WriteFile(data, []byte("email,phone,consent,spend_diet_aids,spend_pharmacy\na@example.com,2125550101,true,12.50,80.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := partytest.RetailerHCL(filepath.Join(dir, "data")) + fmt.Sprintf(`source "csv" {
  path = %q
  column "spend_diet_aids" {
    type = "numeric"
    lo   = 0
    hi   = 3000
  }
  column "spend_pharmacy" {
    type = "numeric"
    lo   = 0
    hi   = 6250
  }
}
policy {
  exclude = ["spend_pharmacy", "spend_diet_aidz"]
}
`, data)
	path := filepath.Join(dir, "node.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"node", "--config", path})
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.Execute()
	if err == nil {
		t.Fatal("the node started")
	}
	for _, w := range []string{path + ":23: exclude:", `"spend_diet_aidz"`, "columns: spend_diet_aids, spend_pharmacy"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("the node created its data directory before refusing")
	}
}

// runNode runs `jointly node --config path` in process and returns its
// exit code and output; a node that starts is stopped after a while and
// fails the test.
func runNode(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out strings.Builder
	code := run(ctx, []string{"node", "--config", path}, &out, &out)
	if ctx.Err() != nil {
		t.Fatalf("the node started:\n%s", out.String())
	}
	return code, out.String()
}

// TestNodeCommandDirs: before it writes anything, `jointly node` checks
// that tls_dir exists and that it can write in data_dir or create it,
// exiting 3 with an error naming the field and the path. A file in the
// way stops root too.
func TestNodeCommandDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dataDir, tlsDir, says string
	}{
		{"data_dir is a file", file, "", `data_dir: "` + file + `" is a file, not a directory: set data_dir to a directory`},
		{"data_dir under a file", filepath.Join(file, "insurer"), "", `data_dir: cannot create "` + filepath.Join(file, "insurer") + `": "` + file + `" is a file, not a directory`},
		{"missing tls_dir", filepath.Join(dir, "data"), filepath.Join(dir, "insurer-pkx"),
			`tls_dir: "` + filepath.Join(dir, "insurer-pkx") + `" does not exist (jointly ca issue --ca CA_DIR --name retailer --role node --out ` + filepath.Join(dir, "insurer-pkx") + ` writes it)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := partytest.RetailerHCL(tc.dataDir)
			if tc.tlsDir != "" {
				cfg = strings.Replace(cfg, "insecure_loopback = true", fmt.Sprintf("tls_dir = %q", tc.tlsDir), 1)
			}
			path := writeFile(t, "node.hcl", cfg)
			code, out := runNode(t, path)
			if code != exitInput || !strings.Contains(out, "jointly: party: invalid configuration: "+path+":") || !strings.Contains(out, tc.says) {
				t.Fatalf("exit %d, want %d and an error saying %q:\n%s", code, exitInput, tc.says, out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("the node left %v", entries)
			}
		})
	}
}

// TestNodeCommandExpiredCertificate: a node whose certificate has expired
// exits 3 naming the file, the date and jointly ca renew, before it reads
// its data or writes anything in its data_dir.
func TestNodeCommandExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	caDir, tlsDir := filepath.Join(dir, "ca"), filepath.Join(dir, "retailer-pki")
	if err := pki.InitCA(caDir); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-time.Hour)
	if err := pki.IssueBetween(caDir, "retailer", pki.RoleNode, nil, tlsDir, end.Add(-time.Hour), end); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	path := writeFile(t, "node.hcl", strings.Replace(partytest.RetailerHCL(dataDir), "insecure_loopback = true", fmt.Sprintf("tls_dir = %q", tlsDir), 1))
	code, out := runNode(t, path)
	certPath := filepath.Join(tlsDir, "retailer.crt")
	if code != exitInput || !strings.Contains(out, "tls_dir: pki: certificate not valid now: "+certPath+" expired on "+end.UTC().Format(time.DateOnly)) ||
		!strings.Contains(out, "renew it with jointly ca renew --ca CA_DIR --cert "+certPath) {
		t.Fatalf("exit %d, want %d naming the expired certificate:\n%s", code, exitInput, out)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the node made its data_dir before refusing its certificate: %v", err)
	}
}

// TestNodeCommandReadOnlyDataDir: a data_dir the node's user cannot
// write in exits 3 naming data_dir, whichever file the node would have
// written first. Permission bits do not stop root, so as root it runs as user nobody
// (TestNodeCommandDirs runs as root).
func TestNodeCommandReadOnlyDataDir(t *testing.T) {
	if fsutiltest.RerunAsNobody(t) {
		return // root writes in read-only directories: it ran as nobody
	}
	ro := fsutiltest.ReadOnlyDir(t, t.TempDir())
	for _, dataDir := range []string{ro, filepath.Join(ro, "retailer")} {
		code, out := runNode(t, writeFile(t, "node.hcl", partytest.RetailerHCL(dataDir)))
		if code != exitInput || !strings.Contains(out, "data_dir: ") || !strings.Contains(out, "permission denied") {
			t.Fatalf("data_dir %s: exit %d, want %d and an error naming data_dir:\n%s", dataDir, code, exitInput, out)
		}
	}
}

// TestNodeCommandSecond: a second `jointly node` with the configuration
// of one that runs says what is in the way, the data_dir or the listen
// address the first one holds, and exits 6: starting it again once the
// first has stopped succeeds.
func TestNodeCommandSecond(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "retailer")
	config := func(listen string) string {
		return writeFile(t, "node.hcl", strings.Replace(partytest.RetailerHCL(dataDir), "127.0.0.1:7101", listen, 1)+
			"preset = \"insecure-test\"\nallow_insecure_preset = true\n")
	}
	cfg, err := party.LoadConfig(config("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := party.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })

	// Another process, not a node, on the port: the message cannot know.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name, listen, says string
	}{
		{"same data_dir", "127.0.0.1:0", "jointly: party: unavailable: another jointly node is running with data_dir " + dataDir + ": stop it first, or give this node a data_dir of its own"},
		{"same listen", first.Addr(), "jointly: party: unavailable: listen: another process, perhaps another jointly node, listens on " + first.Addr() + ": stop it, or set listen to a free port"},
		{"listen taken", busy.Addr().String(), "listens on " + busy.Addr().String() + ": stop it, or set listen to a free port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runNode(t, config(tc.listen))
			if code != exitUnavailable || !strings.Contains(out, tc.says) {
				t.Fatalf("exit %d, want %d and an error saying %q:\n%s", code, exitUnavailable, tc.says, out)
			}
		})
	}
}
