package source_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/jointly-dev/jointly/party/ident"
	"github.com/jointly-dev/jointly/party/source"
)

// goldenCSV holds e-mails and phones, and an id column that a source
// without the id kind ignores.
const goldenCSV = "email,phone,id,consent,v,band\n" +
	"Ann@Example.org,(212) 345-0001,AB-1,true,1.5,b\n" +
	",212.345.0002,AB-2,true,2,a\n" +
	"cy@example.org,,,false,3.25,b\n" +
	"dee@example.org,+1 212 345 0004,AB-4,yes,0,a\n"

func goldenColumns() []source.Column {
	return []source.Column{
		{Name: "v", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(10)},
		{Name: "band", Type: source.TypeCategorical, Levels: []string{"a", "b"}},
	}
}

var idOpts = source.Options{NormalizeEmail: normEmail, NormalizePhone: normPhone, NormalizeID: ident.NormalizeID}

// TestDigestWithoutIDUnchanged: a source that does not carry the id kind
// digests exactly as it did before the kind existed (the values below were
// computed then), so cached matching layouts stay valid; one that carries
// it digests differently.
func TestDigestWithoutIDUnchanged(t *testing.T) {
	path := writeFile(t, "golden.csv", goldenCSV)
	for _, tc := range []struct {
		ids           []string
		digest, match string
	}{
		{nil, "32b98143a6546c5e583e9ca5fe1c13949abd643acda88dc934f1826722764e46", "a28ded0ede1faf62ea651c089604f82e17ec956ad920cd7adae88eb9f5e08949"},
		{[]string{"email"}, "f87e10704c0b310934fb9536f8afad190d785bcaff8d26273a6d94ed4f39e705", "5de878012c133658985fc105f079bb4a61324d99ef16c37a34ea6e3a3fd1bd4b"},
		{[]string{"phone"}, "96abd23c6c9935f1e00b4bbba5378e3963b54d7b2cff576417f627d5cdfd90cb", "816e632a24f9226e21b3720a7810adcdd657cb4e18a10b2d4a517689cd2687ea"},
		{[]string{"phone", "email"}, "1f24d09626e2c2f771db1547f821548c368719046b03c21f09b3201028543b38", "de8e1b8f9a7d1588d54f1227de3417e547318b8c6da1b98fa6cfcd56d3b4ab7e"},
	} {
		t.Run(fmt.Sprintf("identifiers=%v", tc.ids), func(t *testing.T) {
			for _, o := range []source.Options{opts, idOpts} {
				r := readWith(t, source.Config{Kind: "csv", Path: path, Identifiers: tc.ids, Columns: goldenColumns()}, o)
				if got := hex.EncodeToString(r.stats.Digest[:]); got != tc.digest {
					t.Errorf("digest %s, want %s", got, tc.digest)
				}
				if got := hex.EncodeToString(r.stats.MatchDigest[:]); got != tc.match {
					t.Errorf("match digest %s, want %s", got, tc.match)
				}
			}
		})
	}
	// With the id kind both digests cover the ids: adding the kind, and
	// then changing one id, changes each.
	base := readWith(t, source.Config{Kind: "csv", Path: path, Columns: goldenColumns()}, idOpts)
	withID := readWith(t, source.Config{Kind: "csv", Path: path, Identifiers: []string{"email", "phone", "id"}, Columns: goldenColumns()}, idOpts)
	changed := readWith(t, source.Config{Kind: "csv", Path: writeFile(t, "changed.csv", strings.Replace(goldenCSV, "AB-4", "AB-5", 1)),
		Identifiers: []string{"email", "phone", "id"}, Columns: goldenColumns()}, idOpts)
	respelled := readWith(t, source.Config{Kind: "csv", Path: writeFile(t, "respelled.csv", strings.Replace(goldenCSV, "AB-4", "ab 4", 1)),
		Identifiers: []string{"email", "phone", "id"}, Columns: goldenColumns()}, idOpts)
	if withID.stats.MatchDigest == base.stats.MatchDigest || withID.stats.Digest == base.stats.Digest {
		t.Error("carrying the id kind left a digest unchanged")
	}
	if changed.stats.MatchDigest == withID.stats.MatchDigest || changed.stats.Digest == withID.stats.Digest {
		t.Error("changing an id left a digest unchanged")
	}
	if respelled.stats.Digest != withID.stats.Digest || respelled.stats.MatchDigest != withID.stats.MatchDigest {
		t.Error("another spelling of the same id changed the read")
	}
}

// idRecord is one record of the id tests: a card number in the owner's
// spelling, an e-mail, consent and a value.
type idRecord struct {
	Card    string  `parquet:"card_number"`
	Email   string  `parquet:"email"`
	Consent bool    `parquet:"consent"`
	V       float64 `parquet:"v"`
}

var idRecords = []idRecord{
	{"ab-123 456", "Ann@Example.org", true, 1},
	{"", "bob@example.org", true, 2},         // no id
	{"\u200b", "cy@example.org", false, 3},   // an id the normalizer rejects
	{"ＣＤ．７８９．０１２", "", true, 4},              // full-width, no e-mail
	{"000-77", "eve@example.org", true, 5},   // leading zeros are kept
	{"Ef 12/3", "fay@example.org", false, 6}, // other punctuation too
}

func idCSV(recs []idRecord) string {
	var b strings.Builder
	b.WriteString("card_number,email,consent,v\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "%s,%s,%t,%g\n", r.Card, r.Email, r.Consent, r.V)
	}
	return b.String()
}

func idConfig(kind, path string) source.Config {
	return source.Config{Kind: kind, Path: path, Identifiers: []string{"id", "email"}, IDColumn: "card_number",
		Columns: []source.Column{{Name: "v", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(10)}}}
}

// TestIDColumn: a source carrying the id kind reads it from id_column,
// normalized, counts missing and rejected ids, and gives the same rows and
// digests from CSV, Parquet, SQLite and (when a test server is set up)
// PostgreSQL.
func TestIDColumn(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "ids.csv")
	if err := os.WriteFile(csvPath, []byte(idCSV(idRecords)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := readWith(t, idConfig("csv", csvPath), idOpts)
	wantIDs := []string{"AB123456", "", "", "CD789012", "00077", "EF12/3"}
	wantEmails := []string{"ann@example.org", "bob@example.org", "cy@example.org", "", "eve@example.org", "fay@example.org"}
	for i, r := range base.rows {
		if r.ID != wantIDs[i] || r.Email != wantEmails[i] || r.Phone != "" || r.Identifier(source.ID) != r.ID {
			t.Fatalf("record %d: id %q, e-mail %q, phone %q; want %q, %q", i, r.ID, r.Email, r.Phone, wantIDs[i], wantEmails[i])
		}
	}
	st := base.stats
	if len(base.rows) != len(idRecords) || st.Missing[source.ID] != 1 || st.Invalid[source.ID] != 1 || st.Missing[source.Email] != 1 || st.Consenting != 4 {
		t.Fatalf("%d rows, stats %+v", len(base.rows), st)
	}

	t.Run("source=parquet", func(t *testing.T) {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[idRecord](&buf)
		if _, err := w.Write(idRecords); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "ids.parquet")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		same(t, "parquet", readWith(t, idConfig("parquet", path), idOpts), base)
	})
	t.Run("source=sqlite", func(t *testing.T) {
		path := filepath.Join(dir, "ids.sqlite")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE customers (card_number TEXT, email TEXT, consent INTEGER, v REAL)"); err != nil {
			t.Fatal(err)
		}
		for _, r := range idRecords {
			if _, err := db.Exec("INSERT INTO customers VALUES (?, ?, ?, ?)", r.Card, r.Email, r.Consent, r.V); err != nil {
				t.Fatal(err)
			}
		}
		cfg := idConfig("sqlite", path)
		cfg.Table = "customers"
		same(t, "sqlite", readWith(t, cfg, idOpts), base)
	})
	t.Run("source=postgres", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dsn, conn := connectPostgres(ctx, t)
		table := scratchName("jt_ids")
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (card_number text, email text, consent boolean, v double precision)"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE "+table) })
		for _, r := range idRecords {
			if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3, $4)", r.Card, r.Email, r.Consent, r.V); err != nil {
				t.Fatal(err)
			}
		}
		cfg := idConfig("postgres", "")
		cfg.DSN, cfg.Query = dsn, "SELECT * FROM "+table+" ORDER BY v"
		same(t, "postgres", readWith(t, cfg, idOpts), base)
	})
	t.Run("default column", func(t *testing.T) {
		path := writeFile(t, "default.csv", strings.Replace(idCSV(idRecords), "card_number", "id", 1))
		cfg := idConfig("csv", path)
		cfg.IDColumn = ""
		same(t, "id column", readWith(t, cfg, idOpts), base)
		cfg.IDColumn = "card_number"
		if _, err := source.Scan(context.Background(), cfg, idOpts, func(*source.Row) error { return nil }); !errors.Is(err, source.ErrMissingColumn) || !strings.Contains(err.Error(), `"card_number"`) {
			t.Fatalf("id_column not in the file: %v", err)
		}
	})
}

// TestIDErrors: the same id in two spellings is a duplicate naming the
// id column and the line, never the id; a transaction file whose customer
// changes id is inconsistent; the push-down query reads the id column.
func TestIDErrors(t *testing.T) {
	dup := append(slices.Clone(idRecords), idRecord{"AB.123.456", "gus@example.org", true, 7})
	_, err := source.Scan(context.Background(), idConfig("csv", writeFile(t, "dup.csv", idCSV(dup))), idOpts, func(*source.Row) error { return nil })
	if !errors.Is(err, source.ErrDuplicateID) || !strings.Contains(err.Error(), `dup.csv line 8: column "card_number": same id as line 2`) ||
		strings.Contains(err.Error(), "123") || strings.Contains(err.Error(), "AB") {
		t.Fatalf("duplicate id: %v", err)
	}

	tx := "customer_id,card_number,consent,category,amount\n" +
		"c1,AB-1,true,alcohol,10\n" +
		"c2,AB-2,true,alcohol,5\n" +
		"c1,AB-1,true,alcohol,2.5\n"
	cfg := source.Config{Kind: "csv", Path: writeFile(t, "tx.csv", tx), Identifiers: []string{"id"}, IDColumn: "card_number",
		Transactions: &source.Transactions{}, Columns: []source.Column{{Name: "spend_alcohol", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(100)}}}
	r := readWith(t, cfg, idOpts)
	if len(r.rows) != 2 || r.rows[0].ID != "AB1" || r.rows[0].Values[0] != 12.5 || r.rows[1].ID != "AB2" {
		t.Fatalf("transactions: %+v", r.rows)
	}
	cfg.Path = writeFile(t, "tx2.csv", tx+"c2,AB-3,true,alcohol,1\n")
	if _, err := source.Scan(context.Background(), cfg, idOpts, func(*source.Row) error { return nil }); !errors.Is(err, source.ErrInconsistent) || !strings.Contains(err.Error(), `"card_number"`) {
		t.Fatalf("a customer's id changes: %v", err)
	}

	pg := source.Config{Kind: "postgres", DSN: "postgres://db/w", Identifiers: []string{"email", "id"}, IDColumn: "card",
		Transactions: &source.Transactions{}, Columns: cfg.Columns}
	if err := pg.Validate(); err != nil {
		t.Fatal(err)
	}
	if q := source.PushdownQuery(&pg); !strings.Contains(q, `MIN("card") AS "card"`) || !strings.Contains(q, `MIN("email")`) || strings.Contains(q, `"phone"`) {
		t.Fatalf("push-down query:\n%s", q)
	}
	pg.IDColumn = "card; drop"
	if err := pg.Validate(); !errors.Is(err, source.ErrConfig) || !strings.Contains(err.Error(), "id_column") {
		t.Fatalf("id_column not a plain SQL name: %v", err)
	}
}

// TestDuplicateNamesFirst: a duplicate names where the identifier first
// occurred in the terms the source's other errors use, a line of a CSV
// file, a row of a Parquet file or a query's result, a transaction
// customer by the line of its first transaction, and never the
// identifier.
func TestDuplicateNamesFirst(t *testing.T) {
	dir := t.TempDir()
	recs := []idRecord{
		{"", "ann@example.org", true, 1},
		{"", "bob@example.org", true, 2},
		{"", " Ann@Example.ORG", true, 3},
	}
	cols := []source.Column{{Name: "v", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(10)}}
	csvPath := writeFile(t, "dup.csv", idCSV(recs))

	var buf bytes.Buffer
	w := parquet.NewGenericWriter[idRecord](&buf)
	if _, err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pqPath := filepath.Join(dir, "dup.parquet")
	if err := os.WriteFile(pqPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	sqPath := filepath.Join(dir, "dup.sqlite")
	db, err := sql.Open("sqlite", "file:"+sqPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE customers (card_number TEXT, email TEXT, consent INTEGER, v REAL)",
		"CREATE TABLE transactions (customer_id TEXT, email TEXT, consent INTEGER, category TEXT, amount REAL)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		if _, err := db.Exec("INSERT INTO customers VALUES (?, ?, ?, ?)", r.Card, r.Email, r.Consent, r.V); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO transactions VALUES (?, ?, ?, 'v', ?)", fmt.Sprintf("c%d", i+1), r.Email, r.Consent, r.V); err != nil {
			t.Fatal(err)
		}
	}

	var tx strings.Builder
	tx.WriteString("customer_id,email,consent,category,amount\n")
	for i, r := range recs {
		fmt.Fprintf(&tx, "c%d,%s,%t,v,%g\n", i+1, r.Email, r.Consent, r.V)
		fmt.Fprintf(&tx, "c%d,%s,%t,v,1\n", i+1, r.Email, r.Consent) // a second transaction each
	}
	txPath := writeFile(t, "tx.csv", tx.String())

	sqlTable := source.Config{Kind: "sqlite", Path: sqPath, Table: "customers"}
	sqlTx := source.Config{Kind: "sqlite", Path: sqPath, Transactions: &source.Transactions{}}
	for _, tc := range []struct {
		name string
		cfg  source.Config
		want string
	}{
		{"source=csv", source.Config{Kind: "csv", Path: csvPath}, csvPath + ` line 4: column "email": same email as line 2`},
		{"source=parquet", source.Config{Kind: "parquet", Path: pqPath}, pqPath + ` row 3: column "email": same email as row 1`},
		{"source=sqlite", sqlTable, sqPath + ` result row 3: column "email": same email as result row 1`},
		{"source=csv/transactions", source.Config{Kind: "csv", Path: txPath, Transactions: &source.Transactions{}},
			txPath + ` line 6 (customer's first transaction): column "email": same email as line 2 (another customer's first transaction)`},
		{"source=sqlite/transactions", sqlTx, sqPath + ` result row 3: column "email": same email as result row 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Identifiers, cfg.Columns = []string{"email"}, cols
			_, err := source.Scan(context.Background(), cfg, idOpts, func(*source.Row) error { return nil })
			if !errors.Is(err, source.ErrDuplicateID) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrDuplicateID saying %q", err, tc.want)
			}
			if msg := strings.ToLower(err.Error()); strings.Contains(msg, "ann") || strings.Contains(msg, "example.org") {
				t.Fatalf("error %q quotes the identifier", err)
			}
		})
	}
	t.Run("source=postgres", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dsn, conn := connectPostgres(ctx, t)
		table := scratchName("jt_dups")
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (card_number text, email text, consent boolean, v double precision)"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE "+table) })
		for _, r := range recs {
			if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2, $3, $4)", r.Card, r.Email, r.Consent, r.V); err != nil {
				t.Fatal(err)
			}
		}
		cfg := source.Config{Kind: "postgres", DSN: dsn, Query: "SELECT * FROM " + table + " ORDER BY v", Identifiers: []string{"email"}, Columns: cols}
		_, err := source.Scan(ctx, cfg, idOpts, func(*source.Row) error { return nil })
		if want := ` result row 3: column "email": same email as result row 1`; !errors.Is(err, source.ErrDuplicateID) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want ErrDuplicateID saying %q", err, want)
		}
	})
}
