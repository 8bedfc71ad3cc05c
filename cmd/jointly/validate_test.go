package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/pki"
)

// validateWorld writes a retailer's data file and returns a node
// configuration reading it; edit changes the configuration's text.
func validateWorld(t *testing.T, edit func(string) string) (dir, config string) {
	t.Helper()
	dir = t.TempDir()
	data := "email,phone,consent,consent_marketing,spend_diet_aids,age_band\n" +
		"a@example.com,2125550101,true,true,12.5,18-29\n" +
		"b@example.com,2125550102,true,false,7000,30-44\n" +
		"c@example.com,2125550103,false,true,80,30-44\n" +
		",2125550104,true,true,3,18-29\n"
	if err := os.WriteFile(filepath.Join(dir, "retailer.csv"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`name       = "retailer"
federation = "grocer-insurer"
listen     = "127.0.0.1:7101"
data_dir   = %q
insecure_loopback = true

source "csv" {
  path = %q
  column "spend_diet_aids" {
    type = "numeric"
    lo   = 0
    hi   = 5000
  }
  column "age_band" {
    type   = "categorical"
    levels = ["18-29", "30-44"]
  }
}

peer "insurer" {
  address = "127.0.0.1:7102"
}

querier "researcher" {}
`, filepath.Join(dir, "data"), filepath.Join(dir, "retailer.csv"))
	if edit != nil {
		cfg = edit(cfg)
	}
	return dir, writeFile(t, "node.hcl", cfg)
}

func TestValidateConfig(t *testing.T) {
	dir, good := validateWorld(t, nil)
	code, out := runCLI(t, "validate", "--config", good)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"ok: " + good + ": node retailer of federation grocer-insurer (preset coef13, plaintext on loopback); peers insurer; queriers researcher (ε 10, δ 1e-05)",
		"ok: policy: purposes research; excluded none; min_group_size 10; exact queries refused",
		"4 records, 3 consenting, 2 of them with the email to match on; columns spend_diet_aids [0, 5000], age_band (2 levels)",
		"warning: spend_diet_aids: 1 of 4 values (25.0 %) lie outside [0, 5000]",
		"warning: 1 consenting records have no usable email",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the output does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("validate created the node's data directory")
	}
	_, tagged := validateWorld(t, func(s string) string {
		s = strings.Replace(s, `levels = ["18-29", "30-44"]`, `levels = ["18-29", "30-44"]
    tags   = ["protected"]`, 1)
		return s + "policy {\n  purposes = [\"research\", \"underwriting\"]\n  rule \"underwriting\" {\n    deny_tags { by = [\"protected\"] }\n  }\n}\n"
	})
	if code, out := runCLI(t, "validate", "--config", tagged); code != exitOK || !strings.Contains(out, "ok: rule underwriting: no by column tagged protected") {
		t.Fatalf("a rule: exit %d\n%s", code, out)
	}
	_, twoKinds := validateWorld(t, func(s string) string {
		return "join_keys = [\"email\", \"phone\"]\nmatch_graph = \"self\"\n" + s
	})
	if code, out := runCLI(t, "validate", "--config", twoKinds); code != exitOK ||
		!strings.Contains(out, `ok: matching on email, phone in this order; party A, which learns the match graph: this node, whoever starts it (match_graph = "self")`) ||
		!strings.Contains(out, "3 of them with the email or phone to match on") {
		t.Fatalf("two join keys: exit %d\n%s", code, out)
	}
	// Consent per purpose: what each purpose may use, as the node reads it
	// (a and b consent by default, a and c to marketing; the fourth record
	// has no e-mail to match on).
	_, perPurpose := validateWorld(t, func(s string) string {
		return s + "policy {\n  purposes = [\"research\", \"marketing\"]\n  consent {\n    marketing = \"consent_marketing\"\n  }\n}\n"
	})
	if code, out := runCLI(t, "validate", "--config", perPurpose); code != exitOK || !strings.Contains(out, "ok: consent per purpose: records each purpose may use (consent column): research 2 (consent), marketing 2 (consent_marketing)") {
		t.Fatalf("consent per purpose: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		name string
		edit func(string) string
		says []string
	}{
		{"malformed", func(s string) string { return strings.Replace(s, `federation = "grocer-insurer"`, "federation = ", 1) }, []string{"node.hcl:2"}},
		{"unknown field", func(s string) string { return strings.Replace(s, "data_dir", "dta_dir", 1) }, []string{"node.hcl:4", "dta_dir"}},
		{"column the file lacks", func(s string) string { return strings.Replace(s, `column "age_band"`, `column "age_bnd"`, 1) }, []string{"node.hcl: source: missing column", `no column "age_bnd"`}},
		{"missing data file", func(s string) string { return strings.Replace(s, "retailer.csv", "retailer.cvs", 1) }, []string{"retailer.cvs", "no such file"}},
		{"bounds upside down", func(s string) string { return strings.Replace(s, "hi   = 5000", "hi   = -1", 1) }, []string{"node.hcl:9: source: invalid config: source.csv.column.spend_diet_aids: lo must be below hi: lo = 0, hi = -1"}},
		{"unknown level", func(s string) string { return strings.Replace(s, `["18-29", "30-44"]`, `["18-29", "45-64"]`, 1) }, []string{"retailer.csv line 3", `"age_band": not one of the declared levels`}},
		{"exclusion of nothing", func(s string) string { return s + "policy {\n  exclude = [\"spend_caviar\"]\n}\n" }, []string{"node.hcl:26", "spend_caviar"}},
		{"peer without a port", func(s string) string { return strings.Replace(s, `"127.0.0.1:7102"`, `"127.0.0.1:"`, 1) },
			[]string{`node.hcl:21: address: peer "insurer": "127.0.0.1:" has no port after the colon: write host:port with a port from 1 to 65535`}},
		{"peer port out of range", func(s string) string { return strings.Replace(s, `"127.0.0.1:7102"`, `"localhost:99999"`, 1) },
			[]string{`node.hcl:21: address: peer "insurer": "localhost:99999": port "99999" is not a port from 1 to 65535`}},
		{"listen port out of range", func(s string) string { return strings.Replace(s, `"127.0.0.1:7101"`, `"127.0.0.1:99999"`, 1) },
			[]string{`node.hcl:3: listen: "127.0.0.1:99999": port "99999" is not a port from 1 to 65535 (or 0 for any free port)`}},
		{"data_dir is a file", func(s string) string { return strings.Replace(s, `/data"`, `/retailer.csv"`, 1) },
			[]string{"node.hcl:4: data_dir: ", `retailer.csv" is a file, not a directory: set data_dir to a directory`}},
		{"data_dir under a file", func(s string) string { return strings.Replace(s, `/data"`, `/retailer.csv/data"`, 1) },
			[]string{"node.hcl:4: data_dir: cannot create ", `retailer.csv/data": "`, `retailer.csv" is a file, not a directory`}},
		{"missing tls_dir", func(s string) string {
			return strings.Replace(s, "insecure_loopback = true", `tls_dir = "./insurer-pkx"`, 1)
		}, []string{`node.hcl:5: tls_dir: "./insurer-pkx" does not exist (jointly ca issue --ca CA_DIR --name retailer --role node --out ./insurer-pkx writes it)`}},
		{"rule of an untagged column", func(s string) string {
			return s + "policy {\n  rule \"research\" {\n    deny_tags { by = [\"protected\"] }\n  }\n}\n"
		}, []string{"node.hcl:27", `no column of the source is tagged "protected" (tags: none)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, bad := validateWorld(t, tc.edit)
			code, out := runCLI(t, "validate", "--config", bad)
			if code != exitInput {
				t.Fatalf("exit %d, want %d\n%s", code, exitInput, out)
			}
			for _, w := range tc.says {
				if !strings.Contains(out, w) {
					t.Fatalf("the output does not say %q:\n%s", w, out)
				}
			}
		})
	}

	// With mutual TLS the node's identity must be in tls_dir.
	pkiDir := filepath.Join(dir, "pki")
	if err := pki.InitCA(filepath.Join(pkiDir, "ca")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []struct {
		name string
		role pki.Role
	}{{"retailer", pki.RoleNode}, {"researcher", pki.RoleQuerier}} {
		if err := pki.Issue(filepath.Join(pkiDir, "ca"), id.name, id.role, nil, filepath.Join(pkiDir, id.name), pki.LeafValidity); err != nil {
			t.Fatal(err)
		}
	}
	tls := func(tlsDir string) func(string) string {
		return func(s string) string {
			return strings.Replace(s, "insecure_loopback = true", fmt.Sprintf("tls_dir = %q", tlsDir), 1)
		}
	}
	_, withTLS := validateWorld(t, tls(filepath.Join(pkiDir, "retailer")))
	if code, out := runCLI(t, "validate", "--config", withTLS); code != exitOK || !strings.Contains(out, "mutual TLS as node/retailer") {
		t.Fatalf("tls_dir: exit %d\n%s", code, out)
	}
	_, wrongTLS := validateWorld(t, tls(filepath.Join(pkiDir, "researcher")))
	if code, out := runCLI(t, "validate", "--config", wrongTLS); code != exitInput || !strings.Contains(out, "tls_dir") {
		t.Fatalf("tls_dir without the node's certificate: exit %d\n%s", code, out)
	}
	// A certificate that expires within 30 days is a warning naming the
	// renewal; one that has expired, an input error.
	now := time.Now()
	for _, tc := range []struct {
		dir  string
		end  time.Time
		code int
		says string
	}{
		{"soon", now.Add(10*24*time.Hour + time.Hour), exitOK, "expires on " + now.Add(10*24*time.Hour+time.Hour).UTC().Format(time.DateOnly) + " (in 10 days): renew it with jointly ca renew --ca CA_DIR --cert "},
		{"expired", now.Add(-time.Hour), exitInput, "retailer.crt expired on "},
	} {
		tlsDir := filepath.Join(pkiDir, tc.dir)
		if err := pki.IssueBetween(filepath.Join(pkiDir, "ca"), "retailer", pki.RoleNode, nil, tlsDir, now.Add(-48*time.Hour), tc.end); err != nil {
			t.Fatal(err)
		}
		_, cfg := validateWorld(t, tls(tlsDir))
		if code, out := runCLI(t, "validate", "--config", cfg); code != tc.code || !strings.Contains(out, tc.says) {
			t.Fatalf("a certificate that ends %v: exit %d, want %d saying %q:\n%s", tc.end, code, tc.code, tc.says, out)
		}
	}

	t.Setenv(envConfig, good)
	if code, out := runCLI(t, "validate"); code != exitOK || !strings.Contains(out, "ok: "+good) {
		t.Fatalf("$%s: exit %d\n%s", envConfig, code, out)
	}
}

// TestValidateReadOnlyDataDir: validate finds a data_dir the node could
// not write in, or create, without creating anything. Permission bits do
// not stop root, so as root it runs as user nobody (the cases of a file in the way,
// in TestValidateConfig, stop root too).
func TestValidateReadOnlyDataDir(t *testing.T) {
	if fsutiltest.RerunAsNobody(t) {
		return // root writes in read-only directories: it ran as nobody
	}
	for _, tc := range []struct{ name, sub, says string }{
		{"read-only", "", `" is not writable`},
		{"read-only parent", "retailer", `": cannot create "`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ro string
			dir, cfg := validateWorld(t, func(s string) string {
				return strings.Replace(s, `/data"`, `/ro/`+tc.sub+`"`, 1)
			})
			ro = fsutiltest.ReadOnlyDir(t, dir)
			code, out := runCLI(t, "validate", "--config", cfg)
			if code != exitInput || !strings.Contains(out, "data_dir: ") || !strings.Contains(out, "permission") && !strings.Contains(out, "writable") {
				t.Fatalf("exit %d, want %d and an error naming data_dir\n%s", code, exitInput, out)
			}
			if entries, _ := os.ReadDir(ro); len(entries) != 0 {
				t.Fatalf("validate left %v in %s", entries, ro)
			}
		})
	}
}

func TestValidateQuery(t *testing.T) {
	_, cfg := validateWorld(t, nil)
	retailerQuery := `purpose = "research"
epsilon = 1

correlation {
  x = ["retailer.spend_diet_aids"]
  y = ["insurer.claims_diabetes"]
}
`
	good := writeFile(t, "query.hcl", retailerQuery)
	// byAge tabulates the retailer's categorical age band, by level.
	byAge := "contingency {\n  x = \"retailer.age_band\"\n  y = \"insurer.claims_diabetes\"\n  y_buckets = [1]\n}\n"
	for _, tc := range []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"on its own", []string{"--query", good}, exitOK, []string{"ok: " + good + `: a query to retailer with insurer for "research": correlations over 1 x and 1 y columns; ε = 1, δ = 1e-07 (checked on its own`}},
		{"grouped, against the node", []string{"--config", cfg, "--query", writeFile(t, "grouped.hcl", strings.Replace(retailerQuery, "  y = [\"insurer.claims_diabetes\"]\n", "  y = [\"insurer.claims_diabetes\"]\n  by = \"retailer.age_band\"\n", 1))}, exitOK,
			[]string{"correlations within each group of retailer.age_band over 2 x and 1 y columns"}},
		{"grouped by levels, with buckets", []string{"--config", cfg, "--query", writeFile(t, "grouped.hcl", strings.Replace(retailerQuery, "  y = [\"insurer.claims_diabetes\"]\n", "  y = [\"insurer.claims_diabetes\"]\n  by = \"retailer.age_band\"\n  buckets = [1]\n", 1))}, exitInput,
			[]string{"retailer.age_band is categorical"}},
		{"against the node", []string{"--config", cfg, "--query", good}, exitOK, []string{"ok: " + cfg, "ok: " + good, "checked against retailer's configuration"}},
		{"malformed", []string{"--query", writeFile(t, "bad.hcl", "purpose = \"research\"\nepsilon = \n")}, exitInput, []string{"bad.hcl:2"}},
		{"unsorted buckets", []string{"--query", writeFile(t, "q.hcl", retailerQuery+"rate {\n  events = \"insurer.claims\"\n  exposure = \"insurer.months\"\n  by = \"retailer.spend_diet_aids\"\n  buckets = [200, 50]\n}\n")}, exitInput, []string{"strictly increasing"}},
		{"wrong column", []string{"--config", cfg, "--query", writeFile(t, "q.hcl", strings.Replace(retailerQuery, "retailer.spend_diet_aids", "retailer.spend_caviar", 1))}, exitInput, []string{`node retailer has no column "spend_caviar" (columns: spend_diet_aids, age_band)`}},
		{"unknown node", []string{"--config", cfg, "--query", writeFile(t, "q.hcl", strings.Replace(retailerQuery, "insurer.", "insurrer.", 1))}, exitInput, []string{`unknown node "insurrer"`, "data owners: insurer, retailer"}},
		{"by level", []string{"--config", cfg, "--query", writeFile(t, "q.hcl", retailerQuery+byAge)}, exitOK, []string{"1 contingency table", "checked against retailer's configuration"}},
		{"cut points on a categorical column", []string{"--config", cfg, "--query", writeFile(t, "q.hcl", retailerQuery+strings.Replace(byAge, "y_buckets", "x_buckets = [1]\n  y_buckets", 1))}, exitInput,
			[]string{"retailer.age_band is categorical: it is grouped by its levels"}},
		{"missing", []string{"--query", good + ".missing"}, exitInput, []string{"no such file"}},
		{"nothing to check", nil, exitUsage, []string{"give --config, --query or both"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, append([]string{"validate"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, out)
			}
			for _, w := range tc.says {
				if !strings.Contains(out, w) {
					t.Fatalf("the output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestValidateAutoBounds: a column with automatic bounds is validated
// without estimating anything: validate says the node will estimate its hi
// at start and what that costs, and creates nothing.
func TestValidateAutoBounds(t *testing.T) {
	dir, cfg := validateWorld(t, func(s string) string {
		return strings.Replace(s, "    hi   = 5000\n", "    auto_bounds {\n      within = [0, 1e9]\n    }\n", 1)
	})
	code, out := runCLI(t, "validate", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"columns spend_diet_aids [0, auto], age_band (2 levels)",
		"note: spend_diet_aids: the node estimates its hi when it starts (auto_bounds), charging ε 0.1 to the owner's budget (policy.owner_epsilon = 1)",
		// Two records are far too few: about 9900 are wanted at the defaults.
		"warning: spend_diet_aids: 2 records are few for auto_bounds at ε 0.1 and quantile 0.98, which want about 99",
		"declare its hi, or raise auto_bounds.epsilon",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "lie outside") {
		t.Fatalf("a warning about bounds not yet known:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("validate created the node's data directory")
	}
}

// TestValidateTooWideToSquare: a column whose declared step makes more
// encoded values than a query this node evaluates can square is named with
// what it can still be used for; one that fits is not.
func TestValidateTooWideToSquare(t *testing.T) {
	for _, c := range []struct {
		step string
		warn bool
	}{{"0.0001", true}, {"0.01", false}} {
		_, cfg := validateWorld(t, func(s string) string {
			return strings.Replace(s, "    hi   = 5000\n", "    hi   = 5000\n    step = "+c.step+"\n", 1)
		})
		code, out := runCLI(t, "validate", "--config", cfg)
		if code != exitOK {
			t.Fatalf("step %s: exit %d\n%s", c.step, code, out)
		}
		want := "warning: spend_diet_aids: [0, 5000] in steps of 0.0001 make 50000000 encoded values, more than the 16777216 a query this node evaluates can square: " +
			"the column cannot be the x of a correlation or a regression here"
		if got := strings.Contains(out, "can square"); got != c.warn || (c.warn && !strings.Contains(out, want)) {
			t.Fatalf("step %s: warned %v, want %v (%q):\n%s", c.step, got, c.warn, want, out)
		}
	}
}

// TestValidateSpentBudget: validate warns of a querier whose configured
// budget the node's ledger has already spent, and writes nothing.
func TestValidateSpentBudget(t *testing.T) {
	_, cfgPath := validateWorld(t, nil)
	cfg, err := party.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LedgerPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(cfg.LedgerPath(), cfg.LedgerBudgets())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge("researcher", "query-00000001", "", 5, 1e-7); err != nil {
		t.Fatal(err)
	}
	anchorLedger(t, cfg.DataDir, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(cfg.LedgerPath())
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "validate", "--config", cfgPath); code != exitOK || strings.Contains(out, "warning: querier") {
		t.Fatalf("ε 5 of the default 10 spent: exit %d\n%s", code, out)
	}
	// The operator lowers the budget below what is spent.
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lowered := writeFile(t, "lowered.hcl", strings.Replace(string(text), `querier "researcher" {}`, "querier \"researcher\" {\n  epsilon = 3\n}", 1))
	code, out := runCLI(t, "validate", "--config", lowered)
	if code != exitOK || !strings.Contains(out, "warning: querier researcher: ε spent: the ledger in data_dir has charged ε 5 and δ 1e-07 of its budget ε 3") {
		t.Fatalf("budget lowered to ε 3: exit %d\n%s", code, out)
	}
	if after, err := os.ReadFile(cfg.LedgerPath()); err != nil || string(after) != string(before) {
		t.Fatalf("validate changed the ledger (%v)", err)
	}
}

// TestValidateWitnessFile: a witness.json that does not parse stops the
// node at start, so jointly validate refuses it too (exit 3), naming it.
func TestValidateWitnessFile(t *testing.T) {
	_, cfgPath := validateWorld(t, nil)
	cfg, err := party.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "validate", "--config", cfgPath); code != exitOK {
		t.Fatalf("without witness.json: exit %d\n%s", code, out)
	}
	path := filepath.Join(cfg.DataDir, "witness.json")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"insurer": {"seq": 3,`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "validate", "--config", cfgPath); code != exitInput || !strings.Contains(out, path) || !strings.Contains(out, "malformed witness file") {
		t.Fatalf("a truncated witness.json: exit %d\n%s", code, out)
	}
}
