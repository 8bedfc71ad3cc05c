package party

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
)

const goodConfig = `name       = "retailer"
federation = "grocer-insurer"
listen     = "127.0.0.1:7101"
data_dir   = "./data/retailer"
insecure_loopback = true

peer "insurer" {
  address = "127.0.0.1:7102"
}

timeouts {
  rpc      = "5s"
  setup    = "1m"
  shutdown = "3s"
}
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("node.hcl", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "retailer" || cfg.Preset != "coef13" || len(cfg.Peers) != 1 || cfg.Peers[0].Address != "127.0.0.1:7102" {
		t.Fatalf("decoded %+v", cfg)
	}
	if cfg.RPCTimeout != 5*time.Second || cfg.SetupTimeout != time.Minute || cfg.ShutdownTimeout != 3*time.Second {
		t.Fatalf("timeouts %v %v %v", cfg.RPCTimeout, cfg.SetupTimeout, cfg.ShutdownTimeout)
	}
	if got := cfg.Owners(); strings.Join(got, ",") != "insurer,retailer" {
		t.Fatalf("owners %v", got)
	}
}

// TestQuerierBudgetDefaults: a querier block that leaves its budget out
// gets the documented default; one that sets it keeps it.
func TestQuerierBudgetDefaults(t *testing.T) {
	src := goodConfig + `
querier "alice" {}

querier "bob" {
  epsilon = 3
}

querier "carol" {
  epsilon = 2
  delta   = 1e-6
}
`
	cfg, err := ParseConfig("node.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{"alice": {DefaultQuerierEpsilon, DefaultQuerierDelta}, "bob": {3, DefaultQuerierDelta}, "carol": {2, 1e-6}}
	for _, q := range cfg.Queriers {
		if got := [2]float64{q.Epsilon, q.Delta}; got != want[q.Name] {
			t.Errorf("%s: budget ε %g, δ %g; want %v", q.Name, got[0], got[1], want[q.Name])
		}
	}
	if b := cfg.Budgets()["alice"]; b.Epsilon != 10 || b.Delta != 1e-5 {
		t.Errorf("the ledger gets alice's budget as %+v", b)
	}
}

// TestOperationsConfig: the setup wait, the retry pause and the health
// block, with their defaults; a host-less health address listens on
// loopback.
func TestOperationsConfig(t *testing.T) {
	cfg, err := ParseConfig("node.hcl", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SetupWait != 0 || cfg.RetryMax != 5*time.Second || cfg.HealthListen != "" || cfg.PeerCheck != 10*time.Second {
		t.Fatalf("defaults: setup_wait %v, retry %v, health.listen %q, peer_check %v", cfg.SetupWait, cfg.RetryMax, cfg.HealthListen, cfg.PeerCheck)
	}
	src := strings.Replace(goodConfig, `  shutdown = "3s"`, `  shutdown   = "3s"
  setup_wait = "2h"
  retry      = "1s"`, 1) + `
health {
  listen     = ":7180"
  peer_check = "30s"
}
`
	cfg, err = ParseConfig("node.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SetupWait != 2*time.Hour || cfg.RetryMax != time.Second || cfg.HealthListen != "127.0.0.1:7180" || cfg.PeerCheck != 30*time.Second {
		t.Fatalf("parsed: setup_wait %v, retry %v, health.listen %q, peer_check %v", cfg.SetupWait, cfg.RetryMax, cfg.HealthListen, cfg.PeerCheck)
	}
	if err := cfg.Validate(); err != nil || cfg.HealthListen != "127.0.0.1:7180" {
		t.Fatalf("validated again: %v, health.listen %q", err, cfg.HealthListen)
	}
	for _, tc := range []struct{ name, field, src string }{
		{"setup_wait=forever", "setup_wait", strings.Replace(src, `"2h"`, `"forever"`, 1)},
		{"retry=0s", "retry", strings.Replace(src, `"1s"`, `"0s"`, 1)},
		{"peer_check=often", "peer_check", strings.Replace(src, `"30s"`, `"often"`, 1)},
		{"listen=no-port", "listen", strings.Replace(src, `":7180"`, `"7180"`, 1)},
		{"listen=node-address", "listen", strings.Replace(src, `":7180"`, `"127.0.0.1:7101"`, 1)},
		{"listen=empty-port", "listen", strings.Replace(src, `":7180"`, `"127.0.0.1:"`, 1)},
		{"listen=port-out-of-range", "listen", strings.Replace(src, `":7180"`, `":99999"`, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("node.hcl", []byte(tc.src))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "node.hcl:") {
				t.Fatalf("want an error naming %s, got %v", tc.field, err)
			}
		})
	}
}

// TestListenAnyPort: port 0 is a listener's "any free port", at the
// highest port as well as the lowest.
func TestListenAnyPort(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.1:65535"} {
		if _, err := ParseConfig("node.hcl", []byte(strings.Replace(goodConfig, "127.0.0.1:7101", addr, 1))); err != nil {
			t.Errorf("listen = %q: %v", addr, err)
		}
	}
}

// dirsConfig is goodConfig with data_dir and tls_dir (none if empty),
// parsed from node.hcl.
func dirsConfig(t *testing.T, dataDir, tlsDir string) Config {
	t.Helper()
	src := strings.Replace(goodConfig, `"./data/retailer"`, strconv.Quote(dataDir), 1)
	if tlsDir != "" {
		src = strings.Replace(src, "insecure_loopback = true", "tls_dir = "+strconv.Quote(tlsDir), 1)
	}
	cfg, err := ParseConfig("node.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCheckDirs: data_dir and tls_dir are checked on disk, without
// creating anything, and a node makes the same checks before it writes
// anything, creating data_dir. A file in the way stops root too.
func TestCheckDirs(t *testing.T) {
	for _, tc := range []struct {
		// {dir} is a fresh directory holding one regular file, {file}.
		name, dataDir, tlsDir string
		says                  string // empty: no error
	}{
		{"data_dir=existing", "{dir}", "", ""},
		{"data_dir=missing", "{dir}/a/b", "", ""},
		{"data_dir=file", "{file}", "", `node.hcl:4: data_dir: "{file}" is a file, not a directory: set data_dir to a directory`},
		{"data_dir=under-a-file", "{file}/retailer", "", `node.hcl:4: data_dir: cannot create "{file}/retailer": "{file}" is a file, not a directory`},
		{"tls_dir=missing", "{dir}", "{dir}/pkx", `node.hcl:5: tls_dir: "{dir}/pkx" does not exist (jointly ca issue --ca CA_DIR --name retailer --role node --out {dir}/pkx writes it)`},
		{"tls_dir=file", "{dir}", "{file}", `node.hcl:5: tls_dir: "{file}" is not a directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []string{"validate", "node"} {
				dir := t.TempDir()
				file := filepath.Join(dir, "afile")
				if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				paths := strings.NewReplacer("{dir}", dir, "{file}", file)
				cfg := dirsConfig(t, paths.Replace(tc.dataDir), paths.Replace(tc.tlsDir))
				var err error
				if check == "validate" {
					err = cfg.CheckDirs()
				} else if err = cfg.checkTLSDir(); err == nil {
					_, err = openStore(&cfg)
				}
				if tc.says == "" {
					if err != nil {
						t.Fatalf("%s: %v", check, err)
					}
				} else if want := paths.Replace(tc.says); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: want ErrConfig saying %q, got %v", check, want, err)
				}
				// validate leaves the directory as it was; a node creates
				// data_dir, if it can, and nothing else.
				var left []string
				filepath.WalkDir(dir, func(p string, _ fs.DirEntry, _ error) error {
					left = append(left, strings.TrimPrefix(p, dir))
					return nil
				})
				want := "[ /afile]"
				if check == "node" && tc.says == "" && tc.dataDir == "{dir}/a/b" {
					want = "[ /a /a/b /afile]"
				}
				if fmt.Sprint(left) != want {
					t.Fatalf("%s: left %v in the directory, want %v", check, left, want)
				}
			}
		})
	}
}

// TestCheckDirsReadOnly: a data_dir the node's user cannot write in, or
// cannot create, is found by validate as by the node. Permission bits do
// not stop root, so as root it runs as user nobody (TestCheckDirs runs as root).
func TestCheckDirsReadOnly(t *testing.T) {
	if fsutiltest.RerunAsNobody(t) {
		return // root writes in read-only directories: it ran as nobody
	}
	ro := fsutiltest.ReadOnlyDir(t, t.TempDir())
	for _, tc := range []struct {
		name, dataDir, says string
	}{
		{"read-only", ro, "cannot write in " + strconv.Quote(ro) + ": permission denied"},
		{"read-only-parent", filepath.Join(ro, "retailer"), "cannot create " + strconv.Quote(filepath.Join(ro, "retailer")) + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dirsConfig(t, tc.dataDir, "")
			for name, err := range map[string]error{"validate": cfg.CheckDirs(), "node": func() error { _, err := openStore(&cfg); return err }()} {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "data_dir: "+tc.says) {
					t.Fatalf("%s: want an error saying %q, got %v", name, tc.says, err)
				}
			}
		})
	}
}

func TestLoadConfigFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.hcl")
	if err := os.WriteFile(p, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p + ".missing"); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error: file:line and the field
	}{
		{"malformed HCL", "name = \"a\"\nfederation = \n", []string{"node.hcl:2"}},
		{"unknown field", strings.Replace(goodConfig, "data_dir", "dta_dir", 1), []string{"node.hcl:", "dta_dir"}},
		{"missing peer address", strings.Replace(goodConfig, `address = "127.0.0.1:7102"`, "", 1), []string{"node.hcl:7", "address"}},
		{"bad peer address", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"nowhere"`, 1), []string{"node.hcl:8", "address", "host:port"}},
		{"peer address without a port", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"127.0.0.1:"`, 1),
			[]string{"node.hcl:8: address: peer \"insurer\": \"127.0.0.1:\" has no port after the colon: write host:port with a port from 1 to 65535"}},
		{"peer port out of range", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"localhost:99999"`, 1),
			[]string{"node.hcl:8: address: peer \"insurer\": \"localhost:99999\": port \"99999\" is not a port from 1 to 65535"}},
		{"peer port 0", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"127.0.0.1:0"`, 1), []string{"node.hcl:8", `peer "insurer"`, "port \"0\""}},
		{"peer port by name", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"127.0.0.1:http"`, 1), []string{"node.hcl:8", `peer "insurer"`, "port \"http\""}},
		{"listen without a port", strings.Replace(goodConfig, `"127.0.0.1:7101"`, `"127.0.0.1:"`, 1), []string{"node.hcl:3: listen:", "has no port", "or 0 for any free port"}},
		{"listen port out of range", strings.Replace(goodConfig, `"127.0.0.1:7101"`, `"127.0.0.1:65536"`, 1), []string{"node.hcl:3: listen:", `port "65536" is not a port from 1 to 65535`}},
		{"bad name", strings.Replace(goodConfig, `"retailer"`, `"re tailer"`, 1), []string{"node.hcl:1", "name"}},
		{"unknown preset", strings.Replace(goodConfig, "insecure_loopback", "preset = \"huge\"\ninsecure_loopback", 1), []string{"node.hcl:5", "preset", "huge", "coef13"}},
		{"insecure preset", strings.Replace(goodConfig, "insecure_loopback", "preset = \"insecure-test\"\ninsecure_loopback", 1), []string{"node.hcl:5", "preset", "allow_insecure_preset"}},
		{"bad timeout", strings.Replace(goodConfig, `"5s"`, `"soon"`, 1), []string{"node.hcl:12", "rpc"}},
		{"bad shutdown timeout", strings.Replace(goodConfig, `"3s"`, `"-1s"`, 1), []string{"node.hcl:14", "shutdown"}},
		{"peer named like node", strings.Replace(goodConfig, `peer "insurer"`, `peer "retailer"`, 1), []string{"node.hcl:7", "own name"}},
		{"no peers", strings.Split(goodConfig, "peer")[0], []string{"node.hcl:1", "peer"}},
		{"plaintext off loopback", strings.Replace(goodConfig, `listen     = "127.0.0.1:7101"`, `listen = "0.0.0.0:7101"`, 1), []string{"node.hcl:3", "listen", "loopback"}},
		{"plaintext to remote peer", strings.Replace(goodConfig, `"127.0.0.1:7102"`, `"10.1.2.3:7102"`, 1), []string{"node.hcl:8", "loopback"}},
		{"no transport security", strings.Replace(goodConfig, "insecure_loopback = true", "", 1), []string{"insecure_loopback"}},
		{"negative epsilon budget", goodConfig + "querier \"alice\" {\n  epsilon = -1\n}\n", []string{"node.hcl:17", "epsilon", "alice"}},
		{"huge epsilon budget", goodConfig + "querier \"alice\" {\n  epsilon = 1e7\n}\n", []string{"node.hcl:17", "epsilon", "1e+06"}},
		{"delta budget of 1", goodConfig + "querier \"alice\" {\n  delta = 1\n}\n", []string{"node.hcl:17", "delta", "[0, 1)"}},
		{"negative owner budget", goodConfig + "policy {\n  owner_epsilon = -1\n}\n", []string{"node.hcl:17", "owner_epsilon", "(0, 1e+06]"}},
		{"auto bounds and hi", goodConfig + autoSource("lo = 0\n    hi = 10", "within = [0, 1e9]"), []string{"node.hcl:18", "source.csv.column.spend.hi", "auto_bounds"}},
		{"auto bounds without within", goodConfig + autoSource("lo = 0", "epsilon = 0.1"), []string{"node.hcl:", "within"}},
		{"auto bounds with a wrong within", goodConfig + autoSource("lo = 0", "within = [10, 0]"), []string{"node.hcl:18", "source.csv.column.spend.auto_bounds.within"}},
		{"auto bounds with ε of 0", goodConfig + autoSource("lo = 0", "within = [0, 1]\n      epsilon = 1e-9"), []string{"node.hcl:18", "source.csv.column.spend.auto_bounds.epsilon"}},
		{"auto bounds of the median", goodConfig + autoSource("", "within = [0, 1]\n      quantile = 0.5"), []string{"node.hcl:18", "source.csv.column.spend.auto_bounds.quantile"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("node.hcl", []byte(tc.src))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("want ErrConfig, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// autoSource is a source block with one column, spend, declared with
// bounds and an auto_bounds block.
func autoSource(bounds, auto string) string {
	return fmt.Sprintf(`source "csv" {
  path = "a.csv"
  column "spend" {
    type = "numeric"
    %s
    auto_bounds {
      %s
    }
  }
}
`, bounds, auto)
}

// TestOwnerEpsilonDefault: a policy that leaves owner_epsilon out gets
// the documented default, and the ledger gets it as the owner's budget.
func TestOwnerEpsilonDefault(t *testing.T) {
	cfg, err := ParseConfig("node.hcl", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.OwnerEpsilon != DefaultOwnerEpsilon || cfg.LedgerBudgets()[OwnerAccount].Epsilon != 1 {
		t.Fatalf("owner budget %g, in the ledger %+v", cfg.Policy.OwnerEpsilon, cfg.LedgerBudgets()[OwnerAccount])
	}
	if _, ok := cfg.Budgets()[OwnerAccount]; ok {
		t.Fatal("the owner's account is listed as a querier's")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("peer {"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := ParseConfig("fuzz.hcl", src)
		if err == nil && (cfg.Name == "" || len(cfg.Peers) == 0) {
			t.Fatal("accepted a configuration without name or peers")
		}
	})
}

// TestExcludeConfig: a policy's exclusion must name something the source
// reads, and nothing it excludes may be read under another name; the
// error names the file, the line of exclude and the name.
func TestExcludeConfig(t *testing.T) {
	config := func(source, exclude string) string {
		return goodConfig + source + "\npolicy {\n  exclude = [" + exclude + "]\n}\n"
	}
	const features = `source "csv" {
  path = "retailer.csv"
  column "spend_alcohol" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
  column "spend_diet_aids" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
  column "spend_pharmacy" {
    type = "numeric"
    lo   = 0
    hi   = 5000
    from = "pharmacy_total"
  }
}`
	const transactions = `source "csv" {
  path = "retailer_transactions.csv"
  transactions {}
  column "spend_alcohol" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
  column "spend_rx" {
    type     = "numeric"
    lo       = 0
    hi       = 5000
    category = "pharmacy"
  }
}`
	const query = `source "sqlite" {
  path  = "retailer.sqlite"
  query = "SELECT email, phone, consent, spend_alcohol, spend_pharmacy AS spend_rx FROM customers"
  column "spend_alcohol" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
  column "spend_rx" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
}`
	// exclude is on the line after "policy {", which follows the source.
	line := func(src string) string {
		return "node.hcl:" + strconv.Itoa(strings.Count(goodConfig+src, "\n")+3) + ": exclude: "
	}
	for _, tc := range []struct {
		name, source, exclude string
		want                  []string
	}{
		{"unknown", features, `"spend_diet_aidz"`, []string{`"spend_diet_aidz" is neither a column nor an input column of the source`,
			"columns: spend_alcohol, spend_diet_aids, spend_pharmacy; input columns: pharmacy_total"}},
		{"unknown category", transactions, `"pharmcy"`, []string{`"pharmcy"`, "categories: alcohol, pharmacy"}},
		{"category", transactions, `"spend_pharmacy"`, []string{`column "spend_rx" sums the transactions category "pharmacy"`}},
		{"from", features, `"pharmacy_total"`, []string{`column "spend_pharmacy" is read from "pharmacy_total"`}},
		{"sql", query, `"spend_pharmacy"`, []string{`query names "spend_pharmacy"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("node.hcl", []byte(config(tc.source, tc.exclude)))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("want ErrConfig, got %v", err)
			}
			for _, w := range append([]string{line(tc.source)}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}

	cfg, err := ParseConfig("node.hcl", []byte(config(features, `"spend_pharmacy"`)))
	if err != nil {
		t.Fatal(err)
	}
	// The node validates the configuration again.
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cfg.Source.Columns {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "spend_alcohol,spend_diet_aids" {
		t.Fatalf("columns read: %v", names)
	}
}
