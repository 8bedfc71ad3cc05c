package source_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// spend declares a numeric column; from and category are optional.
func spend(name, from, category string) source.Column {
	return source.Column{Name: name, Type: source.TypeNumeric, Lo: f64(0), Hi: f64(1000), From: from, Category: category}
}

func columnNames(cols []source.Column) []string {
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	return names
}

// TestExclude covers every way a name can be excluded or refused: the
// column itself, the names that stand for it, a misspelt name, and each
// route by which excluded data could be read under another name.
func TestExclude(t *testing.T) {
	features := func(cols ...source.Column) source.Config {
		return source.Config{Kind: "csv", Path: "retailer.csv", Columns: cols}
	}
	transactions := func(cols ...source.Column) source.Config {
		return source.Config{Kind: "csv", Path: "tx.csv", Transactions: &source.Transactions{}, Columns: cols}
	}
	query := func(q string, cols ...source.Column) source.Config {
		return source.Config{Kind: "sqlite", Path: "retailer.sqlite", Query: q, Columns: cols}
	}
	alcohol, diet, pharmacy := spend("spend_alcohol", "", ""), spend("spend_diet_aids", "", ""), spend("spend_pharmacy", "", "")
	for _, tc := range []struct {
		name    string
		cfg     source.Config
		exclude []string
		keep    []string // the columns left, when the exclusion is accepted
		err     []string // substrings of the refusal, otherwise
	}{
		{"route=column", features(alcohol, diet, pharmacy), []string{"spend_pharmacy"}, []string{"spend_alcohol", "spend_diet_aids"}, nil},
		{"route=column/case", features(alcohol, diet, pharmacy), []string{"SPEND_Pharmacy"}, []string{"spend_alcohol", "spend_diet_aids"}, nil},
		{"route=column/category name", features(alcohol, diet, pharmacy), []string{"pharmacy"}, []string{"spend_alcohol", "spend_diet_aids"}, nil},
		{"route=column/input", features(alcohol, spend("spend_pharmacy", "pharmacy_total", "")), []string{"spend_pharmacy"}, []string{"spend_alcohol"}, nil},
		{"route=column/transactions", transactions(alcohol, pharmacy), []string{"spend_pharmacy"}, []string{"spend_alcohol"}, nil},
		{"route=column/transactions category", transactions(alcohol, pharmacy), []string{"pharmacy"}, []string{"spend_alcohol"}, nil},
		{"route=column/table", source.Config{Kind: "sqlite", Path: "r.sqlite", Table: "customers", Columns: []source.Column{alcohol, pharmacy}},
			[]string{"spend_pharmacy"}, []string{"spend_alcohol"}, nil},

		{"unknown=typo", features(alcohol, diet, pharmacy), []string{"spend_diet_aidz"}, nil,
			[]string{`"spend_diet_aidz" is neither a column nor an input column`, "columns: spend_alcohol, spend_diet_aids, spend_pharmacy"}},
		{"unknown=typo with inputs", features(alcohol, spend("rx", "pharmacy_total", "")), []string{"pharmacy_totl"}, nil,
			[]string{`"pharmacy_totl"`, "columns: rx, spend_alcohol; input columns: pharmacy_total"}},
		{"unknown=not declared", features(alcohol, diet), []string{"spend_tobacco"}, nil, []string{`"spend_tobacco"`, "columns: spend_alcohol, spend_diet_aids"}},
		{"unknown=category", transactions(alcohol, spend("spend_rx", "", "pharmacy")), []string{"pharmcy"}, nil,
			[]string{`"pharmcy" is neither a column nor a transactions category`, "categories: alcohol, pharmacy"}},
		{"unknown=word inside a query name", query("SELECT * FROM customers WHERE spend_pharmacy_rebate > 0", alcohol), []string{"spend_pharmacy"}, nil,
			[]string{`"spend_pharmacy" is neither`}},
		{"unknown=one of two", features(alcohol, diet, pharmacy), []string{"spend_pharmacy", "spend_alcohl"}, nil, []string{`"spend_alcohl"`}},

		{"route=from/excluded column", features(alcohol, pharmacy, spend("rx", "spend_pharmacy", "")), []string{"spend_pharmacy"}, nil,
			[]string{`column "rx" is read from "spend_pharmacy", which the policy excludes;`}},
		{"route=from/excluded column's input", features(alcohol, spend("spend_pharmacy", "pharmacy_total", ""), spend("rx", "pharmacy_total", "")), []string{"spend_pharmacy"}, nil,
			[]string{`column "rx" is read from "pharmacy_total", which the policy excludes (as "spend_pharmacy")`}},
		{"route=from/excluded input", features(alcohol, spend("spend_pharmacy", "pharmacy_total", "")), []string{"pharmacy_total"}, nil,
			[]string{`column "spend_pharmacy" is read from "pharmacy_total"`}},
		{"route=from/category name", features(alcohol, spend("rx", "pharmacy", "")), []string{"spend_pharmacy"}, nil,
			[]string{`column "rx" is read from "pharmacy"`}},

		{"route=category/column name", transactions(alcohol, spend("spend_rx", "", "pharmacy")), []string{"spend_pharmacy"}, nil,
			[]string{`column "spend_rx" sums the transactions category "pharmacy", which the policy excludes (as "spend_pharmacy")`}},
		{"route=category/category", transactions(alcohol, spend("spend_rx", "", "pharmacy")), []string{"pharmacy"}, nil,
			[]string{`column "spend_rx" sums the transactions category "pharmacy", which the policy excludes;`}},
		{"route=category/case", transactions(alcohol, spend("spend_rx", "", "Pharmacy")), []string{"spend_pharmacy"}, nil,
			[]string{`column "spend_rx" sums the transactions category "Pharmacy"`}},
		{"route=category/excluded column's category", transactions(alcohol, spend("spend_pharmacy", "", "drugstore"), spend("spend_rx", "", "drugstore")),
			[]string{"spend_pharmacy"}, nil, []string{`column "spend_rx" sums the transactions category "drugstore"`}},
		{"route=category/beside the column", transactions(alcohol, pharmacy, spend("spend_rx", "", "pharmacy")), []string{"spend_pharmacy"}, nil,
			[]string{`column "spend_rx" sums the transactions category "pharmacy"`}},

		{"route=sql/category", query("SELECT email, phone, consent, spend_alcohol,\n  SUM(amount) FILTER (WHERE category = 'pharmacy') AS spend_rx\nFROM t GROUP BY 1, 2, 3, 4",
			alcohol, spend("spend_rx", "", "")), []string{"spend_pharmacy"}, nil,
			[]string{`the source's query names "pharmacy", which the policy excludes (as "spend_pharmacy")`}},
		{"route=sql/column", query("SELECT email, phone, consent, spend_alcohol, spend_pharmacy AS spend_rx FROM customers", alcohol, spend("spend_rx", "", "")),
			[]string{"spend_pharmacy"}, nil, []string{`query names "spend_pharmacy"`}},
		{"route=sql/quoted", query(`SELECT email, phone, consent, spend_alcohol, "Spend_Pharmacy" AS rx FROM customers`, alcohol, spend("rx", "", "")),
			[]string{"spend_pharmacy"}, nil, []string{`query names "spend_pharmacy"`}},
		{"route=sql/declared column", query("SELECT email, phone, consent, spend_alcohol, spend_pharmacy FROM customers", alcohol, pharmacy),
			[]string{"spend_pharmacy"}, nil, []string{`query names "spend_pharmacy"`}},
		{"route=sql/excluded column's input", query("SELECT email, phone, consent, spend_alcohol, pharmacy_total FROM customers", alcohol, spend("spend_pharmacy", "pharmacy_total", "")),
			[]string{"spend_pharmacy"}, nil, []string{`query names "pharmacy_total", which the policy excludes (as "spend_pharmacy")`}},
		{"route=sql/not named", query("SELECT * FROM customers WHERE pharmacy_visits >= 0 ORDER BY customer_id", alcohol, pharmacy, spend("pharmacy_visits", "", "")),
			[]string{"spend_pharmacy"}, []string{"spend_alcohol", "pharmacy_visits"}, nil},

		{"needed=consent", features(alcohol), []string{"consent"}, nil, []string{`"consent" is the source's consent column`}},
		{"needed=identifier", features(alcohol), []string{"phone"}, nil, []string{`"phone" is the source's phone column`, "identifiers"}},
		{"needed=amount", transactions(alcohol), []string{"amount"}, nil, []string{`"amount" is the source's amount column`}},
		{"needed=a column", features(alcohol, pharmacy), []string{"spend_alcohol", "spend_pharmacy"}, nil, []string{"every column"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			err := cfg.Exclude(tc.exclude)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := columnNames(cfg.Columns); !reflect.DeepEqual(got, tc.keep) {
					t.Fatalf("columns %v, want %v", got, tc.keep)
				}
				return
			}
			var xe *source.ExcludeError
			if !errors.As(err, &xe) || !errors.Is(err, source.ErrConfig) {
				t.Fatalf("error %v, want an ExcludeError", err)
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if got := columnNames(cfg.Columns); len(got) != len(tc.cfg.Columns) {
				t.Fatalf("a refused exclusion changed the columns to %v", got)
			}
		})
	}
}

// TestExcludeTwice: a configuration validated twice (LoadConfig, then the
// node) keeps the same columns, though the excluded ones are gone.
func TestExcludeTwice(t *testing.T) {
	cfg := source.Config{Kind: "csv", Path: "tx.csv", Transactions: &source.Transactions{},
		Columns: []source.Column{spend("spend_alcohol", "", ""), spend("spend_pharmacy", "", "drugstore")}}
	for i := 0; i < 2; i++ {
		if err := cfg.Exclude([]string{"spend_pharmacy"}); err != nil {
			t.Fatalf("pass %d: %v", i+1, err)
		}
	}
	if got := columnNames(cfg.Columns); !reflect.DeepEqual(got, []string{"spend_alcohol"}) {
		t.Fatalf("columns %v", got)
	}
	// The removed column's category stays excluded.
	copied := cfg
	copied.Columns = append(copied.Columns, spend("spend_rx", "", "drugstore"))
	if err := copied.Exclude([]string{"spend_pharmacy"}); err == nil || !strings.Contains(err.Error(), `"drugstore"`) {
		t.Fatalf("a column added after the exclusion: %v", err)
	}
}

// TestExcludedNeverRead reads real files, the features and the raw
// transactions, through every local source kind with spend_pharmacy
// excluded: the rows are those of the other columns, exactly. Without the
// exclusion, a query or a category column re-derives the pharmacy spend;
// with it, both are refused before anything is read.
func TestExcludedNeverRead(t *testing.T) {
	const n = 400
	csvDir, sqDir := gen(t, synth.FormatCSV, n), gen(t, synth.FormatSQLite, n)
	excluded := func(cfg source.Config) source.Config {
		t.Helper()
		if err := cfg.Exclude([]string{"spend_pharmacy"}); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	all := read(t, source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer.csv"), Columns: retailerColumns()})
	base := excluded(source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer.csv"), Columns: retailerColumns()})
	if len(base.Columns) != len(retailerColumns())-1 {
		t.Fatalf("%d columns left of %d", len(base.Columns), len(retailerColumns()))
	}
	want := read(t, base)
	// The pharmacy spend of each customer, and where it sits among all
	// columns: each row of want is the row of all without it.
	at := -1
	for i, c := range retailerColumns() {
		if c.Name == "spend_pharmacy" {
			at = i
		}
	}
	buyers := 0
	for i, r := range all.rows {
		if r.Values[at] > 0 {
			buyers++
		}
		rest := append(append([]float64(nil), r.Values[:at]...), r.Values[at+1:]...)
		if !reflect.DeepEqual(want.rows[i].Values, rest) {
			t.Fatalf("record %d: the excluded read differs from the other columns", i)
		}
	}
	if buyers < n/4 {
		t.Fatalf("only %d of %d customers buy at the pharmacy", buyers, n)
	}

	tx := func() *source.Transactions { return &source.Transactions{} }
	for _, c := range []struct {
		name string
		cfg  source.Config
	}{
		{"csv/transactions", source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer_transactions.csv"), Transactions: tx()}},
		{"sqlite/table", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Table: "customers"}},
		{"sqlite/pushdown", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Transactions: tx()}},
		{"sqlite/query", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Query: "SELECT * FROM customers ORDER BY customer_id"}},
	} {
		t.Run("source="+c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Columns = retailerColumns()
			same(t, c.name, read(t, excluded(cfg)), want)
		})
	}

	// The routes around the exclusion work without it: they yield exactly
	// the pharmacy spend under another name.
	rx := spend("spend_rx", "", "pharmacy")
	rx.Hi = f64(1e6)
	derivations := []struct {
		name string
		cfg  source.Config
	}{
		{"route=category", source.Config{Kind: "csv", Path: filepath.Join(csvDir, "retailer_transactions.csv"), Transactions: tx(), Columns: []source.Column{rx}}},
		{"route=from", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"), Table: "customers",
			Columns: []source.Column{{Name: "spend_rx", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(1e6), From: "spend_pharmacy"}}}},
		{"route=sql", source.Config{Kind: "sqlite", Path: filepath.Join(sqDir, "retailer.sqlite"),
			Query: `SELECT MIN(email) AS email, MIN(phone) AS phone, MIN(consent) AS consent,
			   SUM(CASE WHEN category = 'pharmacy' THEN CAST(ROUND(amount * 1000000) AS INTEGER) ELSE 0 END) / 1000000.0 AS spend_rx
			 FROM transactions GROUP BY customer_id ORDER BY CAST(customer_id AS TEXT)`,
			Columns: []source.Column{{Name: "spend_rx", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(1e6)}}}},
	}
	for _, d := range derivations {
		t.Run(d.name, func(t *testing.T) {
			got := read(t, d.cfg)
			for i, r := range got.rows {
				if r.Values[0] != all.rows[i].Values[at] {
					t.Fatalf("record %d: the route does not yield the pharmacy spend", i)
				}
			}
			cfg := d.cfg
			cfg.Columns = append(cfg.Columns, spend("spend_alcohol", "", ""))
			var xe *source.ExcludeError
			if err := cfg.Exclude([]string{"spend_pharmacy"}); !errors.As(err, &xe) || xe.Name != "spend_pharmacy" {
				t.Fatalf("error %v, want the exclusion refused", err)
			}
		})
	}
}
