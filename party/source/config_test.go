package source_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/parquet-go/parquet-go"

	"github.com/jointly-dev/jointly/party/source"
)

// nodeFile is how a node configuration embeds sources.
type nodeFile struct {
	Sources []source.Config `hcl:"source,block"`
}

func decode(t *testing.T, src string) []source.Config {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "node.hcl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var n nodeFile
	if diags := gohcl.DecodeBody(f.Body, nil, &n); diags.HasErrors() {
		t.Fatal(diags)
	}
	return n.Sources
}

func TestDecodeHCL(t *testing.T) {
	srcs := decode(t, `
source "csv" {
  path = "data/retailer.csv"
  column "spend_alcohol" {
    type = "numeric"
    lo   = 0
    hi   = 10000
  }
}
source "postgres" {
  dsn          = "postgres://jointly@db.internal:5432/warehouse"
  identifiers  = ["email"]
  email_column = "mail"
  transactions {
    table = "sales.transactions"
  }
  column "spend_alcohol" {
    type = "numeric"
    lo   = 0
    hi   = 10000
  }
}
source "parquet" {
  path = "insurer.parquet"
  column "age_band" {
    type   = "categorical"
    levels = ["18-29", "30-44", "45-64", "65+"]
  }
  column "claims" {
    type = "numeric"
    from = "claims_diabetes"
    lo   = 0
    hi   = 20
  }
  column "exposure" {
    type = "numeric"
    lo   = 0
    hi   = 12
    unit = "months"
  }
}`)
	if len(srcs) != 3 {
		t.Fatalf("%d sources, want 3", len(srcs))
	}
	for i := range srcs {
		if err := srcs[i].Validate(); err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
	}
	pg := srcs[1]
	if pg.ConsentColumn != "consent" || pg.PhoneRegion != "US" || pg.Transactions.CustomerColumn != "customer_id" ||
		pg.Columns[0].Category != "alcohol" || pg.HasID(source.Phone) {
		t.Fatalf("defaults not filled: %+v", pg)
	}
	q := source.PushdownQuery(&pg)
	for _, want := range []string{`FROM "sales"."transactions"`, `GROUP BY "customer_id"`, `"category" = 'alcohol'`, `AS "spend_alcohol"`, `MIN("mail")`, `COLLATE "C"`} {
		if !strings.Contains(q, want) {
			t.Errorf("push-down query lacks %s:\n%s", want, q)
		}
	}
	if d := pg.Describe(); strings.Contains(d, "jointly@") || d != "postgres db.internal:5432/warehouse" {
		t.Errorf("Describe() = %q", d)
	}
	if srcs[2].Columns[1].Input() != "claims_diabetes" {
		t.Error("from is not the input column")
	}
	if u := srcs[2].Columns[2].Unit; u != "months" {
		t.Errorf("unit %q, want months", u)
	}
}

func TestValidate(t *testing.T) {
	num := func(name string, lo, hi float64) source.Column {
		return source.Column{Name: name, Type: source.TypeNumeric, Lo: f64(lo), Hi: f64(hi)}
	}
	ok := []source.Column{num("x", 0, 1)}
	for _, tc := range []struct {
		name  string
		cfg   source.Config
		field string
	}{
		{"unknown kind", source.Config{Kind: "excel", Path: "a", Columns: ok}, "source"},
		{"csv without path", source.Config{Kind: "csv", Columns: ok}, "source.csv.path"},
		{"postgres without dsn", source.Config{Kind: "postgres", Table: "t", Columns: ok}, "source.postgres.dsn"},
		{"sql without query", source.Config{Kind: "sqlite", Path: "a", Columns: ok}, "source.sqlite.query"},
		{"table and query", source.Config{Kind: "sqlite", Path: "a", Table: "t", Query: "select 1", Columns: ok}, "source.sqlite.table"},
		{"query on csv", source.Config{Kind: "csv", Path: "a", Query: "select 1", Columns: ok}, "source.csv.query"},
		{"bad table", source.Config{Kind: "sqlite", Path: "a", Table: "t; drop", Columns: ok}, "source.sqlite.table"},
		{"no columns", source.Config{Kind: "csv", Path: "a"}, "source.csv.column"},
		{"bad identifier", source.Config{Kind: "csv", Path: "a", Identifiers: []string{"ssn"}, Columns: ok}, "source.csv.identifiers"},
		{"identifier twice", source.Config{Kind: "csv", Path: "a", Identifiers: []string{"id", "email", "id"}, Columns: ok}, "source.csv.identifiers"},
		{"bad region", source.Config{Kind: "csv", Path: "a", PhoneRegion: "usa", Columns: ok}, "source.csv.phone_region"},
		{"lo not below hi", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{num("x", 5, 5)}}, "source.csv.column.x"},
		{"missing hi", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0)}}}, "source.csv.column.x"},
		{"bad type", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "text"}}}, "source.csv.column.x.type"},
		{"one level", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a"}}}}, "source.csv.column.x.levels"},
		{"empty level", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a", ""}}}}, "source.csv.column.x.levels"},
		{"unit of categorical", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a", "b"}, Unit: "months"}}}, "source.csv.column.x.unit"},
		{"bad unit", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0), Hi: f64(1), Unit: "months; drop"}}}, "source.csv.column.x.unit"},
		{"twice", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{num("x", 0, 1), num("x", 0, 1)}}, "source.csv.column.x"},
		{"category without transactions", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0), Hi: f64(1), Category: "c"}}}, "source.csv.column.x.category"},
		{"categorical transactions", source.Config{Kind: "csv", Path: "a", Transactions: &source.Transactions{}, Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a", "b"}}}}, "source.csv.column.x"},
		{"negative step", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0), Hi: f64(1), Step: f64(-0.1)}}}, "source.csv.column.x.step"},
		{"bounds off the step", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0.005), Hi: f64(1), Step: f64(0.01)}}}, "source.csv.column.x.step"},
		{"step too fine", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0), Hi: f64(1e9), Step: f64(1e-9)}}}, "source.csv.column.x.step"},
		{"categorical step", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a", "b"}, Step: f64(1)}}}, "source.csv.column.x"},
		{"categorical auto bounds", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "categorical", Levels: []string{"a", "b"}, AutoBounds: auto(0, 1)}}}, "source.csv.column.x"},
		{"hi and auto bounds", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Hi: f64(5), AutoBounds: auto(0, 10)}}}, "source.csv.column.x.hi"},
		{"lo and hi and auto bounds", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0), Hi: f64(5), AutoBounds: auto(0, 10)}}}, "source.csv.column.x.hi"},
		{"within of one number", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(&source.AutoBounds{Within: []float64{1e9}})}}, "source.csv.column.x.auto_bounds.within"},
		{"within backwards", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(auto(10, 0))}}, "source.csv.column.x.auto_bounds.within"},
		{"within too wide", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(auto(0, 1e300))}}, "source.csv.column.x.auto_bounds.within"},
		{"within below lo", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(100), AutoBounds: auto(0, 50)}}}, "source.csv.column.x.auto_bounds.within"},
		{"negative epsilon", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(&source.AutoBounds{Within: []float64{0, 1}, Epsilon: -1})}}, "source.csv.column.x.auto_bounds.epsilon"},
		{"huge epsilon", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(&source.AutoBounds{Within: []float64{0, 1}, Epsilon: 50})}}, "source.csv.column.x.auto_bounds.epsilon"},
		{"quantile of the median", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(&source.AutoBounds{Within: []float64{0, 1}, Quantile: 0.5})}}, "source.csv.column.x.auto_bounds.quantile"},
		{"quantile of 1", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{autoCol(&source.AutoBounds{Within: []float64{0, 1}, Quantile: 1})}}, "source.csv.column.x.auto_bounds.quantile"},
		{"auto lo off the step", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Lo: f64(0.005), Step: f64(0.01), AutoBounds: auto(0, 1e3)}}}, "source.csv.column.x.step"},
		{"auto step too fine", source.Config{Kind: "csv", Path: "a", Columns: []source.Column{{Name: "x", Type: "numeric", Step: f64(1e-9), AutoBounds: auto(0, 1e9)}}}, "source.csv.column.x.step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if !errors.Is(err, source.ErrConfig) {
				t.Fatalf("error %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

// TestBoundsMessage: bounds the wrong way round are shown, being
// configuration and not data, and the message says "source" once: a node's
// configuration error names the source block before it.
func TestBoundsMessage(t *testing.T) {
	for _, tc := range []struct {
		name, column, field, want string
	}{
		{"lo above hi", "type = \"numeric\"\n    lo = 5\n    hi = 1",
			"source.csv.column.claims_liver", "invalid config: source.csv.column.claims_liver: lo must be below hi: lo = 5, hi = 1"},
		{"lo equal to hi", "type = \"numeric\"\n    lo = 2.5\n    hi = 2.5",
			"source.csv.column.claims_liver", "invalid config: source.csv.column.claims_liver: lo must be below hi: lo = 2.5, hi = 2.5"},
		{"within backwards", "type = \"numeric\"\n    auto_bounds {\n      within = [1e6, 0]\n    }",
			"source.csv.column.claims_liver.auto_bounds.within", "invalid config: source.csv.column.claims_liver.auto_bounds.within: a must be below b in [a, b]: within = [1e+06, 0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := decode(t, "source \"csv\" {\n  path = \"insurer.csv\"\n  column \"claims_liver\" {\n    "+tc.column+"\n  }\n}\n")
			err := srcs[0].Validate()
			var ce *source.ConfigError
			if !errors.Is(err, source.ErrConfig) || !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("error %v, want a ConfigError of %s", err, tc.field)
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func auto(a, b float64) *source.AutoBounds { return &source.AutoBounds{Within: []float64{a, b}} }

func autoCol(a *source.AutoBounds) source.Column {
	return source.Column{Name: "x", Type: source.TypeNumeric, AutoBounds: a}
}

// TestAutoBoundsDefaults: an auto_bounds block decodes from HCL, its
// defaults are filled, and lo may stay declared (only hi estimated) or be
// left out (both estimated).
func TestAutoBoundsDefaults(t *testing.T) {
	srcs := decode(t, `
source "csv" {
  path = "a.csv"
  column "spend" {
    type = "numeric"
    lo   = 0
    step = 0.01
    auto_bounds {
      within = [0, 1e9]
    }
  }
  column "balance" {
    type = "numeric"
    auto_bounds {
      within   = [-1e6, 1e6]
      epsilon  = 0.2
      quantile = 0.99
    }
  }
}
`)
	cfg := srcs[0]
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	spend, balance := cfg.Columns[0], cfg.Columns[1]
	if a := spend.AutoBounds; a.Epsilon != source.DefaultAutoEpsilon || a.Quantile != source.DefaultAutoQuantile || a.Within[1] != 1e9 {
		t.Errorf("spend: auto_bounds %+v, want the defaults", a)
	}
	if spend.EstimatesLo() || *spend.Lo != 0 || spend.Hi != nil {
		t.Errorf("spend: lo is declared and only hi estimated")
	}
	if a := balance.AutoBounds; a.Epsilon != 0.2 || a.Quantile != 0.99 || !balance.EstimatesLo() {
		t.Errorf("balance: auto_bounds %+v, estimates lo %v", a, balance.EstimatesLo())
	}
}

// TestParquetSchemaMismatch: a column of the wrong physical type is
// reported before any row is read.
func TestParquetSchemaMismatch(t *testing.T) {
	type wrong struct {
		Email        string `parquet:"email"`
		Phone        string `parquet:"phone"`
		Consent      bool   `parquet:"consent"`
		SpendAlcohol string `parquet:"spend_alcohol"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[wrong](&buf)
	if _, err := w.Write([]wrong{{"a@example.com", "2125550101", true, "12.5"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "wrong.parquet")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := source.Config{Kind: "parquet", Path: p, Columns: []source.Column{
		{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}}
	_, err := source.Open(context.Background(), cfg, opts)
	if !errors.Is(err, source.ErrSchema) || !strings.Contains(err.Error(), `"spend_alcohol"`) || !strings.Contains(err.Error(), "wrong.parquet") {
		t.Fatalf("error %v, want ErrSchema naming file and column", err)
	}
	cfg.Columns[0].Name = "spend_tobacco"
	if _, err := source.Open(context.Background(), cfg, opts); !errors.Is(err, source.ErrMissingColumn) {
		t.Fatalf("error %v, want ErrMissingColumn", err)
	}
	notParquet := writeFile(t, "fake.parquet", "email,phone\n")
	cfg.Path = notParquet
	if _, err := source.Open(context.Background(), cfg, opts); !errors.Is(err, source.ErrMalformed) {
		t.Fatalf("error %v, want ErrMalformed", err)
	}
	cfg.Path = writeFile(t, "empty.parquet", "")
	if _, err := source.Open(context.Background(), cfg, opts); !errors.Is(err, source.ErrEmpty) {
		t.Fatalf("error %v, want ErrEmpty", err)
	}
}

func isSourceErr(err error) bool {
	for _, e := range []error{source.ErrMissingColumn, source.ErrBadValue, source.ErrDuplicateID, source.ErrEmpty,
		source.ErrMalformed, source.ErrInconsistent} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func errorsIsSchema(err error) bool { return errors.Is(err, source.ErrSchema) }
