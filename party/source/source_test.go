package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// normEmail and normPhone stand in for package ident in these tests: they
// undo exactly the noise synth adds (case, surrounding whitespace, phone
// punctuation and spacing, a +1 prefix) and reject what is not an address
// or a 10-digit US number.
func normEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Count(s, "@") != 1 || strings.HasPrefix(s, "@") || strings.HasSuffix(s, "@") {
		return "", errors.New("not an e-mail address")
	}
	return s, nil
}

func normPhone(s, region string) (string, error) {
	var d []byte
	for _, c := range []byte(s) {
		if c >= '0' && c <= '9' {
			d = append(d, c)
		}
	}
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	if len(d) != 10 || region != "US" {
		return "", errors.New("not a US phone number")
	}
	return "+1" + string(d), nil
}

var opts = source.Options{NormalizeEmail: normEmail, NormalizePhone: normPhone}

func f64(v float64) *float64 { return &v }

// retailerColumns declares every spend column with the model's cap.
func retailerColumns() []source.Column {
	var cols []source.Column
	for _, c := range synth.DefaultModel().Spend {
		cols = append(cols, source.Column{Name: "spend_" + c.Name, Type: source.TypeNumeric, Lo: f64(0), Hi: f64(c.Cap)})
	}
	return cols
}

func insurerColumns() []source.Column {
	cols := []source.Column{
		{Name: "age_band", Type: source.TypeCategorical, Levels: synth.AgeBands},
		{Name: "exposure_months", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(12)},
	}
	for _, c := range synth.DefaultModel().Claims {
		cols = append(cols, source.Column{Name: "claims_" + c.Name, Type: source.TypeNumeric, Lo: f64(0), Hi: f64(50)})
	}
	return cols
}

type result struct {
	rows  []source.Row
	stats source.Stats
}

// read scans cfg with the tests' normalizers.
func read(t *testing.T, cfg source.Config) result {
	t.Helper()
	return readWith(t, cfg, opts)
}

// readWith scans cfg with o and keeps every row.
func readWith(t *testing.T, cfg source.Config, o source.Options) result {
	t.Helper()
	var res result
	st, err := source.Scan(context.Background(), cfg, o, func(r *source.Row) error {
		c := *r
		c.Values, c.Consents = slices.Clone(r.Values), slices.Clone(r.Consents)
		res.rows = append(res.rows, c)
		return nil
	})
	if err != nil {
		t.Fatalf("%s %s: %v", cfg.Kind, cfg.Describe(), err)
	}
	res.stats = st
	return res
}

func gen(t *testing.T, format string, customers int) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: customers, Overlap: 0.5, Seed: 5, Format: format, Transactions: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func same(t *testing.T, name string, got, want result) {
	t.Helper()
	if len(got.rows) != len(want.rows) {
		t.Fatalf("%s: %d rows, want %d", name, len(got.rows), len(want.rows))
	}
	for i := range want.rows {
		if !reflect.DeepEqual(got.rows[i], want.rows[i]) {
			t.Fatalf("%s: record %d differs from the CSV source", name, i)
		}
	}
	if got.stats.Digest != want.stats.Digest {
		t.Fatalf("%s: digest %s, want %s", name, got.stats.DigestHex(), want.stats.DigestHex())
	}
}

// TestSourcesAgree reads one generated world through every file source and
// layout and expects identical rows and digests.
func TestSourcesAgree(t *testing.T) {
	const n = 3000
	csvDir, pqDir, sqDir := gen(t, synth.FormatCSV, n), gen(t, synth.FormatParquet, n), gen(t, synth.FormatSQLite, n)
	tx := &source.Transactions{}

	t.Run("side=retailer", func(t *testing.T) {
		// Every source reads the marketing consent beside the default one,
		// in the same pass (consent per purpose).
		marketing := []string{"consent_marketing"}
		base := read(t, source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer.csv"), Columns: retailerColumns(), ExtraConsent: marketing})
		if len(base.rows) != n || base.stats.Rows != n {
			t.Fatalf("%d rows, want %d", len(base.rows), n)
		}
		// The flags equal a read with that column as the consent column.
		alone := read(t, source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer.csv"), Columns: retailerColumns(), ConsentColumn: "consent_marketing"})
		differ := 0
		for i, r := range base.rows {
			if len(r.Consents) != 1 || r.Consents[0] != alone.rows[i].Consent {
				t.Fatalf("record %d: marketing consent %v beside the default, %v alone", i, r.Consents, alone.rows[i].Consent)
			}
			if r.Consents[0] != r.Consent {
				differ++
			}
		}
		if differ == 0 {
			t.Fatal("no record consents differently to marketing: the test would not see the flags swapped")
		}
		if c := base.stats.Consenting; c < n*88/100 || c > n*96/100 {
			t.Fatalf("%d of %d consent, want ≈ 92 %%", c, n)
		}
		for _, r := range base.rows {
			if r.Email != strings.ToLower(strings.TrimSpace(r.Email)) || !strings.HasPrefix(r.Phone, "+1") {
				t.Fatal("identifiers not normalized")
			}
		}
		for _, c := range []struct {
			name string
			cfg  source.Config
		}{
			{"parquet", source.Config{Kind: "parquet", Path: filepath.Join(pqDir, "retailer.parquet")}},
			{"sqlite", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Table: "customers"}},
			{"csv/transactions", source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer_transactions.csv"), Transactions: tx}},
			{"parquet/transactions", source.Config{Kind: "parquet", Path: filepath.Join(pqDir, "retailer_transactions.parquet"), Transactions: tx}},
			{"sqlite/pushdown", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Transactions: tx}},
			{"sqlite/query", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"),
				Query: "SELECT * FROM customers ORDER BY customer_id"}},
		} {
			t.Run("source="+c.name, func(t *testing.T) {
				cfg := c.cfg
				cfg.Columns, cfg.ExtraConsent = retailerColumns(), marketing
				same(t, c.name, read(t, cfg), base)
			})
		}
	})
	// Two columns may sum one category: each gets the sums, whichever
	// source aggregates the transactions.
	t.Run("side=retailer/shared-category", func(t *testing.T) {
		cols := retailerColumns()
		twin := cols[0]
		twin.Name, twin.Category = "spend_twin", strings.TrimPrefix(cols[0].Name, "spend_")
		cols = append(cols, twin)
		var reads []result
		for _, cfg := range []source.Config{
			{Kind: "csv", Path: filepath.Join(csvDir, "retailer_transactions.csv"), Transactions: tx},
			{Kind: "parquet", Path: filepath.Join(pqDir, "retailer_transactions.parquet"), Transactions: tx},
			{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Transactions: tx},
		} {
			cfg.Columns = slices.Clone(cols)
			res := read(t, cfg)
			nonzero := 0
			for i, r := range res.rows {
				if a, b := r.Values[0], r.Values[len(cols)-1]; a != b {
					t.Fatalf("%s: record %d: %s = %v, its twin %v", cfg.Kind, i, cols[0].Name, a, b)
				}
				if r.Values[0] != 0 {
					nonzero++
				}
			}
			if nonzero == 0 {
				t.Fatalf("%s: %s is zero everywhere", cfg.Kind, cols[0].Name)
			}
			reads = append(reads, res)
		}
		same(t, "parquet/transactions", reads[1], reads[0])
		same(t, "sqlite/pushdown", reads[2], reads[0])
	})
	t.Run("side=insurer", func(t *testing.T) {
		base := read(t, source.Config{Kind: "csv", Path: filepath.Join(csvDir, "insurer.csv"), Columns: insurerColumns()})
		for _, cfg := range []source.Config{
			{Kind: "parquet", Path: filepath.Join(pqDir, "insurer.parquet")},
			{Kind: "sqlite", Path: filepath.Join(sqDir, "insurer.sqlite"), Table: "policies"},
		} {
			cfg.Columns = insurerColumns()
			same(t, cfg.Kind, read(t, cfg), base)
		}
		// The categorical column yields the level index.
		seen := map[float64]bool{}
		for _, r := range base.rows {
			seen[r.Values[0]] = true
		}
		if len(seen) != len(synth.AgeBands) {
			t.Fatalf("age_band indices %v, want all of 0..%d", seen, len(synth.AgeBands)-1)
		}
	})
}

// TestDigest: the digest follows the data, not the file it sits in.
func TestDigest(t *testing.T) {
	dir := gen(t, synth.FormatCSV, 500)
	cfg := source.Config{Kind: "csv", Path: filepath.Join(dir, "retailer.csv"), Columns: retailerColumns()}
	a := read(t, cfg)
	if b := read(t, cfg); a.stats.Digest != b.stats.Digest {
		t.Fatal("two reads of one file give different digests")
	}
	data, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	// No field the generator writes holds a comma.
	fields := func(line string) []string { return strings.Split(strings.TrimSuffix(line, "\n"), ",") }
	col := func(name string) int { return slices.Index(fields(lines[0]), name) }
	set := func(line string, k int, v string) string {
		f := fields(line)
		f[k] = v
		return strings.Join(f, ",") + "\n"
	}
	// Change one spend value of the last record.
	lines[len(lines)-2] = set(lines[len(lines)-2], col("spend_household"), "1.00")
	changed := filepath.Join(t.TempDir(), "changed.csv")
	if err := os.WriteFile(changed, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Path = changed
	c := read(t, cfg)
	if c.stats.Digest == a.stats.Digest {
		t.Fatal("changing one value left the digest unchanged")
	}
	if c.stats.MatchDigest != a.stats.MatchDigest {
		t.Fatal("changing a value changed the match digest")
	}
	// Flipping one consent flag changes both.
	flip := map[string]string{"true": "FALSE", "false": "TRUE"}
	lines[2] = set(lines[2], col("consent"), flip[fields(lines[2])[col("consent")]])
	if err := os.WriteFile(changed, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := read(t, cfg); d.stats.MatchDigest == a.stats.MatchDigest || d.stats.Digest == c.stats.Digest {
		t.Fatal("changing consent left a digest unchanged")
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const secretEmail = "Jane.Secret@Example.COM"

// TestBadInputs: each bad input gives a clear error naming the file, row
// or column, and never quoting an identifier or value.
func TestBadInputs(t *testing.T) {
	cols := []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)},
		{Name: "band", Type: source.TypeCategorical, Levels: []string{"young", "old"}},
	}
	hdr := "email,phone,consent,spend_alcohol,band\n"
	good := secretEmail + ",212-555-0101,true,12.5,young\n"
	for _, tc := range []struct {
		name    string
		content string
		want    error
		mention []string
	}{
		{"missing column", "email,phone,consent,band\n" + secretEmail + ",2125550101,true,young\n", source.ErrMissingColumn, []string{"bad.csv", "spend_alcohol"}},
		{"non-numeric", hdr + good + "b@example.com,2125550102,false,12x3,old\n", source.ErrBadValue, []string{"bad.csv line 3", "spend_alcohol", "not a number"}},
		{"empty value", hdr + good + "b@example.com,2125550102,false,,old\n", source.ErrBadValue, []string{"line 3", "spend_alcohol", "empty"}},
		{"bad consent", hdr + "b@example.com,2125550102,maybe,1,old\n", source.ErrBadValue, []string{"line 2", "consent"}},
		{"unknown level", hdr + "b@example.com,2125550102,true,1,middle\n", source.ErrBadValue, []string{"line 2", "band", "levels"}},
		{"duplicated e-mail", hdr + good + "  " + strings.ToLower(secretEmail) + " ,2125550109,true,1,old\n", source.ErrDuplicateID, []string{`bad.csv line 3: column "email": same email as line 2`}},
		{"duplicated phone", hdr + good + "b@example.com,(212) 555-0101,true,1,old\n", source.ErrDuplicateID, []string{`bad.csv line 3: column "phone": same phone as line 2`}},
		{"empty file", "", source.ErrEmpty, []string{"bad.csv", "empty file"}},
		{"header only", hdr, source.ErrEmpty, []string{"bad.csv"}},
		{"malformed quoting", hdr + good + `"b@example.com,2125550102,true,1,old` + "\n", source.ErrMalformed, []string{"bad.csv", "line 3"}},
		{"bare quote", hdr + good + `b@exa"mple.com,2125550102,true,1,old` + "\n", source.ErrMalformed, []string{"line 3"}},
		{"short record", hdr + good + "b@example.com,2125550102,true\n", source.ErrMalformed, []string{"bad.csv: line 3 has 3 fields, the header has 5"}},
		{"long record", hdr + good + "b@example.com,2125550102,true,1,old,x\n", source.ErrMalformed, []string{"bad.csv: line 3 has 6 fields, the header has 5"}},
		{"one field", hdr + good + "b@example.com\n", source.ErrMalformed, []string{"bad.csv: line 3 has 1 field, the header has 5"}},
		{"short record over two lines", hdr + good + "\"b@example.com\nold\",2125550102\n", source.ErrMalformed, []string{"bad.csv: line 3 has 2 fields, the header has 5"}},
		{"duplicate header", "email,email,consent,spend_alcohol,band\n", source.ErrMalformed, []string{`"email"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "bad.csv", tc.content)
			_, err := source.Scan(context.Background(), source.Config{Kind: "csv", Path: p, Columns: cols}, opts, func(*source.Row) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			for _, secret := range []string{secretEmail, strings.ToLower(secretEmail), "555-0101", "5550101", "12x3", "maybe", "middle"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a value", err)
				}
			}
		})
	}
}

// TestExtraConsent: a further consent column holds on a customer only when
// it holds on every transaction, as the consent column; one the source
// lacks, or a value that is no flag, is refused naming the column, never
// the value.
func TestExtraConsent(t *testing.T) {
	cols := []source.Column{{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}
	tx := writeFile(t, "tx.csv", "customer_id,email,phone,consent,consent_marketing,category,amount\n"+
		"C1,a@example.com,2125550101,true,true,alcohol,1.00\n"+
		"C1,a@example.com,2125550101,true,false,alcohol,2.00\n"+
		"C2,b@example.com,2125550102,false,true,alcohol,3.00\n")
	res := read(t, source.Config{Kind: "csv", Path: tx, Transactions: &source.Transactions{}, Columns: cols, ExtraConsent: []string{"consent_marketing"}})
	if got := [2][2]bool{{res.rows[0].Consent, res.rows[0].Consents[0]}, {res.rows[1].Consent, res.rows[1].Consents[0]}}; got != [2][2]bool{{true, false}, {false, true}} {
		t.Fatalf("(consent, marketing) per customer %v, want C1 (true, false), C2 (false, true)", got)
	}
	hdr := "email,phone,consent,consent_marketing,spend_alcohol\n"
	for _, tc := range []struct {
		name, content string
		want          error
		mention       []string
	}{
		{"missing", "email,phone,consent,spend_alcohol\na@example.com,2125550101,true,1\n", source.ErrMissingColumn, []string{"consent_marketing"}},
		{"not a flag", hdr + "a@example.com,2125550101,true,perhaps,1\n", source.ErrBadValue, []string{"line 2", "consent_marketing"}},
	} {
		_, err := source.Scan(context.Background(), source.Config{Kind: "csv", Path: writeFile(t, "bad.csv", tc.content), Columns: cols,
			ExtraConsent: []string{"consent_marketing"}}, opts, func(*source.Row) error { return nil })
		if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "perhaps") {
			t.Fatalf("%s: %v, want %v without the value", tc.name, err, tc.want)
		}
		for _, m := range tc.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, m)
			}
		}
	}
}

// TestDeclaredStep: a column with a step accepts values on its grid, through
// the rounding of decimals in float64, and refuses a value between two grid
// points with an error naming the line and the column, not the value.
func TestDeclaredStep(t *testing.T) {
	cols := []source.Column{{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100), Step: f64(0.01)}}
	hdr := "email,phone,consent,spend_alcohol\n"
	p := writeFile(t, "cents.csv", hdr+"a@example.com,2125550101,true,0.29\nb@example.com,2125550102,true,99.99\nc@example.com,2125550103,true,250\n")
	res := read(t, source.Config{Kind: "csv", Path: p, Columns: cols})
	var got []float64
	for _, r := range res.rows {
		got = append(got, r.Values[0])
	}
	if !reflect.DeepEqual(got, []float64{0.29, 99.99, 250}) {
		t.Fatalf("values %v, want [0.29 99.99 250] (kept as read; queries clamp)", got)
	}
	p = writeFile(t, "bad.csv", hdr+"a@example.com,2125550101,true,0.29\nb@example.com,2125550102,true,12.345\n")
	_, err := source.Scan(context.Background(), source.Config{Kind: "csv", Path: p, Columns: cols}, opts, func(*source.Row) error { return nil })
	if !errors.Is(err, source.ErrBadValue) {
		t.Fatalf("error %v, want ErrBadValue", err)
	}
	for _, m := range []string{"bad.csv line 3", `"spend_alcohol"`, "step 0.01"} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if strings.Contains(err.Error(), "12.345") {
		t.Errorf("error %q quotes the value", err)
	}
}

func TestClipping(t *testing.T) {
	p := writeFile(t, "clip.csv", "email,phone,consent,spend_alcohol\n"+
		"a@example.com,2125550101,true,150\n"+
		"b@example.com,2125550102,true,-3\n"+
		"c@example.com,,false,40\n"+
		"not-an-address,2125550104,true,100\n")
	res := read(t, source.Config{Kind: "csv", Path: p, Columns: []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}})
	var got []float64
	for _, r := range res.rows {
		got = append(got, r.Values[0])
	}
	// Values are kept as read; queries clamp them (aggregate).
	if !reflect.DeepEqual(got, []float64{150, -3, 40, 100}) {
		t.Fatalf("values %v, want [150 -3 40 100]", got)
	}
	st := res.stats
	if st.Clipped["spend_alcohol"] != 2 {
		t.Fatalf("clip count %d, want 2", st.Clipped["spend_alcohol"])
	}
	if st.Missing[source.Phone] != 1 || st.Invalid[source.Email] != 1 {
		t.Fatalf("missing phones %d (want 1), invalid e-mails %d (want 1)", st.Missing[source.Phone], st.Invalid[source.Email])
	}
	if st.Rows != 4 || st.Consenting != 3 {
		t.Fatalf("rows %d consenting %d, want 4 and 3", st.Rows, st.Consenting)
	}
	if res.rows[2].Phone != "" || res.rows[3].Email != "" {
		t.Fatal("missing or invalid identifiers must be empty")
	}
}

func TestTransactionsInconsistent(t *testing.T) {
	p := writeFile(t, "tx.csv", "customer_id,email,phone,consent,category,amount\n"+
		"C1,a@example.com,2125550101,true,alcohol,10.00\n"+
		"C1,b@example.com,2125550101,true,alcohol,5.00\n")
	_, err := source.Scan(context.Background(), source.Config{Kind: "csv", Path: p, Transactions: &source.Transactions{},
		Columns: []source.Column{{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}}, opts,
		func(*source.Row) error { return nil })
	if !errors.Is(err, source.ErrInconsistent) || !strings.Contains(err.Error(), "line 3") || strings.Contains(err.Error(), "example.com") {
		t.Fatalf("error %v, want ErrInconsistent naming line 3 without the address", err)
	}
}

// TestTransactionSums: sums are exact at cent resolution and consent must
// hold on every transaction.
func TestTransactionSums(t *testing.T) {
	var b strings.Builder
	b.WriteString("customer_id,email,phone,consent,category,amount\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "C2,b@example.com,2125550102,true,alcohol,0.10\n")
	}
	b.WriteString("C1,a@example.com,2125550101,true,alcohol,0.20\n")
	b.WriteString("C1,a@example.com,2125550101,false,snacks,0.10\n")
	b.WriteString("C1,a@example.com,2125550101,true,tobacco,99.00\n")
	res := read(t, source.Config{Kind: "csv", Path: writeFile(t, "tx.csv", b.String()), Transactions: &source.Transactions{},
		Columns: []source.Column{
			{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)},
			{Name: "spend_snacks", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)},
		}})
	if len(res.rows) != 2 {
		t.Fatalf("%d customers, want 2", len(res.rows))
	}
	c1, c2 := res.rows[0], res.rows[1]
	if c1.Email != "a@example.com" || c1.Consent || c1.Values[0] != 0.2 || c1.Values[1] != 0.1 {
		t.Fatalf("C1: consent %v values %v, want false [0.2 0.1]", c1.Consent, c1.Values)
	}
	// Ten float additions of 0.10 give 0.9999999999999999; the exact sum is 1.
	if !c2.Consent || c2.Values[0] != 1 {
		t.Fatalf("C2: consent %v alcohol %v, want true 1", c2.Consent, c2.Values[0])
	}
}

// TestConcurrentReads: one config read by several goroutines at once (the
// node reads for matching and for a query in parallel) is not modified.
func TestConcurrentReads(t *testing.T) {
	dir := gen(t, synth.FormatCSV, 300)
	cfg := source.Config{Kind: "csv", Path: filepath.Join(dir, "retailer_transactions.csv"),
		Transactions: &source.Transactions{}, Columns: retailerColumns()}
	done := make(chan source.Stats)
	for i := 0; i < 3; i++ {
		go func() {
			st, _ := source.Scan(context.Background(), cfg, opts, func(*source.Row) error { return nil })
			done <- st
		}()
	}
	var digests []string
	for i := 0; i < 3; i++ {
		digests = append(digests, (<-done).DigestHex())
	}
	if digests[0] != digests[1] || digests[1] != digests[2] || cfg.Transactions.CustomerColumn != "" || cfg.Columns[0].Category != "" {
		t.Fatal("concurrent reads disagree or changed the caller's config")
	}
}

func TestContextCancelled(t *testing.T) {
	dir := gen(t, synth.FormatCSV, 100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := source.Scan(ctx, source.Config{Kind: "csv", Path: filepath.Join(dir, "retailer.csv"), Columns: retailerColumns()}, opts,
		func(*source.Row) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestMissingFile(t *testing.T) {
	for _, kind := range []string{"csv", "parquet", "sqlite"} {
		t.Run("kind="+kind, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "absent")
			cfg := source.Config{Kind: kind, Path: p, Columns: retailerColumns()}
			if kind == "sqlite" {
				cfg.Table = "customers"
			}
			_, err := source.Open(context.Background(), cfg, opts)
			if !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("error %v, want not exist", err)
			}
			if _, serr := os.Stat(p); serr == nil {
				t.Fatal("opening created the file")
			}
		})
	}
}

func TestNonFinite(t *testing.T) {
	p := writeFile(t, "nan.csv", "email,phone,consent,spend_alcohol\na@example.com,2125550101,true,NaN\n")
	_, err := source.Scan(context.Background(), source.Config{Kind: "csv", Path: p, Columns: []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}}, opts, func(*source.Row) error { return nil })
	if !errors.Is(err, source.ErrBadValue) {
		t.Fatalf("error %v, want ErrBadValue", err)
	}
}

func TestStatsWarn(t *testing.T) {
	var buf strings.Builder
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn})
	p := writeFile(t, "warn.csv", "email,phone,consent,spend_alcohol\n"+
		secretEmail+",2125550101,true,150\n"+
		"b@example.com,,true,3\n")
	res := read(t, source.Config{Kind: "csv", Path: p, Columns: []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}})
	// Matching on e-mail alone, a missing phone is no warning.
	res.stats.Warn(logger, "warn.csv", source.Email)
	if out := buf.String(); strings.Contains(out, "identifier=phone") {
		t.Errorf("log %q warns of phones, which no matching uses", out)
	}
	buf.Reset()
	res.stats.Warn(logger, "warn.csv", source.Email, source.Phone)
	out := buf.String()
	for _, want := range []string{"outside the declared bounds", "column=spend_alcohol", "count=1", "identifier=phone"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "150") || strings.Contains(strings.ToLower(out), strings.ToLower(secretEmail)) {
		t.Errorf("log %q quotes a value", out)
	}
}

// TestExtraConsentConfig: a further consent column that is the consent
// column, listed twice or empty is a configuration error naming it.
func TestExtraConsentConfig(t *testing.T) {
	for _, extra := range [][]string{{"consent"}, {"m", "m"}, {""}} {
		cfg := source.Config{Kind: "csv", Path: "x.csv", Columns: []source.Column{{Name: "v", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(1)}}, ExtraConsent: extra}
		if err := cfg.Validate(); !errors.Is(err, source.ErrConfig) || !strings.Contains(err.Error(), "further consent column") {
			t.Errorf("ExtraConsent %q: %v, want a configuration error", extra, err)
		}
	}
}
