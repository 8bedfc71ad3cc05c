package source_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// postgresDSN is the test server from .ci/postgres.sh. Without one the
// tests skip, except in CI, where a missing server is a failure.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("JOINTLY_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("JOINTLY_TEST_POSTGRES is not set; in CI run: eval \"$(bash .ci/postgres.sh)\"")
		}
		t.Skip("JOINTLY_TEST_POSTGRES not set; start a server with: eval \"$(bash .ci/postgres.sh)\"")
	}
	return dsn
}

// connectPostgres connects to the test server (see postgresDSN) within
// ctx. The connection is closed when the test ends, after the cleanups
// the test registers, so that they can drop what it created.
func connectPostgres(ctx context.Context, t *testing.T) (dsn string, conn *pgx.Conn) {
	t.Helper()
	dsn = postgresDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return dsn, conn
}

// scratchName is a name for a test's table or schema that no other run
// of the tests uses at the same time.
func scratchName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

// loadCSV copies a generated CSV file into table name; numeric columns
// become numeric(14,2) (exact, as a warehouse stores money), the consent
// flags boolean, everything else text.
func loadCSV(ctx context.Context, t *testing.T, conn *pgx.Conn, path, name string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	hdr := recs[0]
	kind := func(c string) string {
		switch {
		case c == "consent" || strings.HasPrefix(c, "consent_"):
			return "boolean"
		case strings.HasPrefix(c, "spend_") || c == "amount":
			return "numeric(14,2)"
		case strings.HasPrefix(c, "claims_") || c == "exposure_months":
			return "integer"
		}
		return "text"
	}
	var ddl []string
	for _, c := range hdr {
		ddl = append(ddl, fmt.Sprintf("%s %s NOT NULL", c, kind(c)))
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, strings.Join(ddl, ", "))); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, 0, len(recs)-1)
	for _, r := range recs[1:] {
		row := make([]any, len(r))
		for i, v := range r {
			switch kind(hdr[i]) {
			case "boolean":
				row[i] = v == "true"
			case "integer":
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatal(err)
				}
				row[i] = n
			default:
				row[i] = v
			}
		}
		rows = append(rows, row)
	}
	// Text for numeric(14,2) keeps the decimal exact.
	cols := make([]string, len(hdr))
	copy(cols, hdr)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier(strings.Split(name, ".")), cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

func TestPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, conn := connectPostgres(ctx, t)
	schema := scratchName("jt")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	dir := gen(t, synth.FormatCSV, 2000)
	loadCSV(ctx, t, conn, filepath.Join(dir, "retailer.csv"), schema+".customers")
	loadCSV(ctx, t, conn, filepath.Join(dir, "retailer_transactions.csv"), schema+".transactions")
	loadCSV(ctx, t, conn, filepath.Join(dir, "insurer.csv"), schema+".policies")

	// The marketing consent is read beside the default one, in one pass.
	marketing := []string{"consent_marketing"}
	base := read(t, source.Config{Kind: "csv", Path: filepath.Join(dir, "retailer.csv"), Columns: retailerColumns(), ExtraConsent: marketing})
	t.Run("layout=table", func(t *testing.T) {
		got := read(t, source.Config{Kind: "postgres", DSN: dsn, Columns: retailerColumns(), ExtraConsent: marketing,
			Query: "SELECT * FROM " + schema + ".customers ORDER BY customer_id"})
		same(t, "postgres table", got, base)
	})
	t.Run("layout=pushdown", func(t *testing.T) {
		got := read(t, source.Config{Kind: "postgres", DSN: dsn, Columns: retailerColumns(), ExtraConsent: marketing,
			Transactions: &source.Transactions{Table: schema + ".transactions"}})
		same(t, "postgres push-down", got, base)
	})
	t.Run("side=insurer", func(t *testing.T) {
		want := read(t, source.Config{Kind: "csv", Path: filepath.Join(dir, "insurer.csv"), Columns: insurerColumns()})
		got := read(t, source.Config{Kind: "postgres", DSN: dsn, Query: "SELECT * FROM " + schema + ".policies ORDER BY policy_id", Columns: insurerColumns()})
		same(t, "postgres insurer", got, want)
		// A table is read in the server's order, which SQL leaves open (a
		// row may land on an earlier page): the same records, in some order.
		table := read(t, source.Config{Kind: "postgres", DSN: dsn, Table: schema + ".policies", Columns: insurerColumns()})
		sameRecords(t, "postgres insurer table", table, want)
	})
	t.Run("exclude=spend_pharmacy", func(t *testing.T) {
		exclude := func(cfg source.Config) source.Config {
			t.Helper()
			if err := cfg.Exclude([]string{"spend_pharmacy"}); err != nil {
				t.Fatal(err)
			}
			return cfg
		}
		want := read(t, exclude(source.Config{Kind: "csv", Path: filepath.Join(dir, "retailer.csv"), Columns: retailerColumns()}))
		same(t, "postgres table", read(t, exclude(source.Config{Kind: "postgres", DSN: dsn, Columns: retailerColumns(),
			Query: "SELECT * FROM " + schema + ".customers ORDER BY customer_id"})), want)
		same(t, "postgres push-down", read(t, exclude(source.Config{Kind: "postgres", DSN: dsn, Columns: retailerColumns(),
			Transactions: &source.Transactions{Table: schema + ".transactions"}})), want)

		// A query that sums the pharmacy transactions under another name
		// yields the excluded spend; with the exclusion it is refused.
		rx := source.Config{Kind: "postgres", DSN: dsn, Columns: []source.Column{{Name: "spend_rx", Type: source.TypeNumeric, Lo: f64(0), Hi: f64(1e6)}},
			Query: "SELECT c.email, c.phone, c.consent,\n" +
				"  COALESCE(SUM(t.amount) FILTER (WHERE t.category = 'pharmacy'), 0) AS spend_rx\n" +
				"FROM " + schema + ".customers c LEFT JOIN " + schema + ".transactions t ON t.customer_id = c.customer_id\n" +
				"GROUP BY c.customer_id, c.email, c.phone, c.consent ORDER BY c.customer_id"}
		got := read(t, rx)
		if len(got.rows) != len(base.rows) {
			t.Fatalf("%d rows, want %d", len(got.rows), len(base.rows))
		}
		at := slices.IndexFunc(retailerColumns(), func(c source.Column) bool { return c.Name == "spend_pharmacy" })
		for i, r := range got.rows {
			if r.Values[0] != base.rows[i].Values[at] {
				t.Fatalf("record %d: the query does not yield the pharmacy spend", i)
			}
		}
		var xe *source.ExcludeError
		if err := rx.Exclude([]string{"spend_pharmacy"}); !errors.As(err, &xe) || !strings.Contains(err.Error(), `query names "pharmacy"`) {
			t.Fatalf("error %v, want the query refused", err)
		}
	})
	t.Run("error=wrong password", func(t *testing.T) {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		const wrong = "not-the-password-42"
		u.User = url.UserPassword(u.User.Username(), wrong)
		_, err = source.Open(ctx, source.Config{Kind: "postgres", DSN: u.String(), Table: "customers", Columns: retailerColumns()}, opts)
		if !errors.Is(err, source.ErrUnreachable) {
			t.Fatalf("error %v, want ErrUnreachable", err)
		}
		pw, _ := url.Parse(dsn)
		real, _ := pw.User.Password()
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), real) {
			t.Fatalf("error %q quotes a password", err)
		}
		t.Logf("wrong password: %v", err)
	})
	t.Run("error=missing table", func(t *testing.T) {
		_, err := source.Open(ctx, source.Config{Kind: "postgres", DSN: dsn, Table: schema + ".absent", Columns: retailerColumns()}, opts)
		if !errors.Is(err, source.ErrSchema) || !strings.Contains(err.Error(), "absent") {
			t.Fatalf("error %v, want ErrSchema naming the table", err)
		}
	})
	t.Run("error=missing column", func(t *testing.T) {
		_, err := source.Open(ctx, source.Config{Kind: "postgres", DSN: dsn, Columns: retailerColumns(),
			Query: "SELECT email, phone, consent FROM " + schema + ".customers"}, opts)
		if !errors.Is(err, source.ErrMissingColumn) || !strings.Contains(err.Error(), "spend_") {
			t.Fatalf("error %v, want ErrMissingColumn naming the column", err)
		}
	})
}

// TestPostgresUnreachable needs no server: nothing listens on port 1.
func TestPostgresUnreachable(t *testing.T) {
	const pw = "s3cret-pw"
	_, err := source.Open(context.Background(), source.Config{Kind: "postgres",
		DSN: "postgres://jointly:" + pw + "@127.0.0.1:1/warehouse?sslmode=disable&connect_timeout=5", Table: "customers",
		Columns: retailerColumns()}, opts)
	if !errors.Is(err, source.ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %q: want the address, not the password", err)
	}
}

// sameRecords is same without the order: the same records, by identifiers.
func sameRecords(t *testing.T, name string, got, want result) {
	t.Helper()
	key := func(r source.Row) string { return r.Email + "|" + r.Phone }
	byKey := map[string]source.Row{}
	for _, r := range want.rows {
		r.Index = 0
		byKey[key(r)] = r
	}
	if len(got.rows) != len(want.rows) {
		t.Fatalf("%s: %d rows, want %d", name, len(got.rows), len(want.rows))
	}
	for _, r := range got.rows {
		r.Index = 0
		if w, ok := byKey[key(r)]; !ok || !reflect.DeepEqual(r, w) {
			t.Fatalf("%s: a record differs from the CSV source's", name)
		}
	}
}
