package synth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // registers the "sqlite" driver to read the files back
)

// TestSQLiteMatchesCSV: the SQLite files hold exactly the rows of the CSV
// files of the same seed, in the same order, texts byte for byte, for sizes
// around the insert batch (the last, partial batch has its own statement).
func TestSQLiteMatchesCSV(t *testing.T) {
	m := DefaultModel()
	for _, n := range []int{1, sqliteBatch - 1, sqliteBatch, sqliteBatch + 1, 3*sqliteBatch + 5} {
		t.Run(fmt.Sprintf("customers=%d", n), func(t *testing.T) {
			csvDir, sqDir := t.TempDir(), t.TempDir()
			for _, c := range []struct {
				dir, format string
			}{{csvDir, FormatCSV}, {sqDir, FormatSQLite}} {
				if _, err := Generate(context.Background(), Options{Dir: c.dir, Customers: n, Overlap: 0.5, Seed: 9, Format: c.format, Transactions: true}); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				csv, db, table string
				cols           []colSpec
			}{
				{"retailer.csv", "retailer.sqlite", "customers", retailerColumns(&m)},
				{"retailer_transactions.csv", "retailer.sqlite", "transactions", transactionColumns},
				{"insurer.csv", "insurer.sqlite", "policies", insurerColumns(&m)},
			} {
				want := readCSV(t, filepath.Join(csvDir, c.csv)).rows
				got := readSQLite(t, filepath.Join(sqDir, c.db), c.table, c.cols)
				if len(got) != len(want) {
					t.Fatalf("%s: %d rows, %s has %d", c.table, len(got), c.csv, len(want))
				}
				for i := range want {
					if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
						t.Fatalf("%s row %d differs from %s", c.table, i+1, c.csv)
					}
				}
			}
		})
	}
}

// readSQLite reads table in rowid order, each value formatted as the CSV
// writer formats it.
func readSQLite(t *testing.T, path, table string, cols []colSpec) [][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	rows, err := db.Query("SELECT " + strings.Join(names, ", ") + " FROM " + table + " ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rec := make([]string, len(cols))
		for i, c := range cols {
			switch v := vals[i].(type) {
			case string:
				if c.kind != fText {
					t.Fatalf("%s.%s holds text", table, c.name)
				}
				rec[i] = v
			case int64:
				switch c.kind {
				case fInt:
					rec[i] = strconv.FormatInt(v, 10)
				case fBool:
					rec[i] = strconv.FormatBool(v != 0)
				default:
					t.Fatalf("%s.%s holds an integer", table, c.name)
				}
			case float64:
				if c.kind != fMoney {
					t.Fatalf("%s.%s holds a real", table, c.name)
				}
				rec[i] = strconv.FormatFloat(v, 'f', 2, 64)
			default:
				t.Fatalf("%s.%s holds %T", table, c.name, v)
			}
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSQLiteErrors: a statement SQLite refuses fails with ErrSQLite, naming
// the file, the step and SQLite's reason, and the staged files go away.
func TestSQLiteErrors(t *testing.T) {
	dir := t.TempDir()
	st := &staging{dir: dir}
	d, err := newSQLite(st, "retailer.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	cols := []colSpec{{"customer_id", fText}, {"spend", fMoney}}
	if _, err := d.table("customers", cols); err != nil {
		t.Fatal(err)
	}
	_, err = d.table("customers", cols)
	if !errors.Is(err, ErrSQLite) {
		t.Fatalf("error %v, want ErrSQLite", err)
	}
	for _, part := range []string{"retailer.sqlite", "create table customers", "already exists"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %q", err, part)
		}
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	st.abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("directory holds %d entries after abort", len(ents))
	}
}
