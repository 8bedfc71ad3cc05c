package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// connectTimeout bounds the first contact with a database, so an
// unreachable server fails the read instead of hanging it.
const connectTimeout = 10 * time.Second

// sqlTable streams the result of one query.
type sqlTable struct {
	desc string
	db   *sql.DB
	rows *sql.Rows
	hdr  []string
	vals []any
	ptrs []any
	row  int
}

func openSQL(ctx context.Context, cfg *Config) (*sqlTable, error) {
	desc := cfg.Describe()
	var (
		db  *sql.DB
		err error
	)
	switch cfg.Kind {
	case KindSQLite:
		// Opening a missing path would create an empty database.
		st, serr := os.Stat(cfg.Path)
		if serr != nil {
			return nil, fmt.Errorf("source: open %s: %w", cfg.Path, serr)
		}
		if st.Size() == 0 {
			return nil, fmt.Errorf("%w: %s: empty file", ErrEmpty, cfg.Path)
		}
		db, err = sql.Open("sqlite", "file:"+cfg.Path+"?mode=ro")
	case KindPostgres:
		if _, perr := pgconn.ParseConfig(cfg.DSN); perr != nil {
			// The parser's message may quote the DSN, password included.
			return nil, fmt.Errorf("%w: source.postgres.dsn: cannot be parsed", ErrConfig)
		}
		db, err = sql.Open("pgx", cfg.DSN)
	}
	if err != nil {
		return nil, fmt.Errorf("source: open %s: %w", desc, err)
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if cfg.Kind == KindPostgres {
			return nil, fmt.Errorf("%w: %s: %s", ErrUnreachable, desc, pgMessage(err))
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, desc, err)
	}
	q := cfg.Query
	if q == "" && cfg.Table != "" {
		q = "SELECT * FROM " + quoteTable(cfg.Table)
	}
	if cfg.Transactions != nil {
		q = PushdownQuery(cfg)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		db.Close()
		if cfg.Kind == KindPostgres {
			return nil, fmt.Errorf("%w: %s: query failed: %s", ErrSchema, desc, pgMessage(err))
		}
		return nil, fmt.Errorf("%w: %s: query failed: %v", ErrSchema, desc, err)
	}
	hdr, err := rows.Columns()
	if err != nil {
		rows.Close()
		db.Close()
		return nil, fmt.Errorf("source: %s: %w", desc, err)
	}
	t := &sqlTable{desc: desc, db: db, rows: rows, hdr: hdr, vals: make([]any, len(hdr)), ptrs: make([]any, len(hdr))}
	for i := range t.vals {
		t.ptrs[i] = &t.vals[i]
	}
	return t, nil
}

// pgMessage keeps what helps an operator (the connection failure, the SQL
// state and, for schema errors, the server's message) and drops messages of
// data errors, which may quote a value.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") {
			return "SQLSTATE " + pe.Code
		}
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Names host, user and database; never the password.
		return ce.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "connection timed out"
	}
	return err.Error()
}

// PushdownQuery is the SQL a source with a transactions block runs: one
// row per customer, each column the sum of the customer's amounts in its
// category. Amounts are summed as integers at 10⁻⁶ resolution, so the
// result is exact and equals what the node computes from a file; consent
// must hold on every transaction; rows come in byte order of the customer
// id.
func PushdownQuery(cfg *Config) string {
	tx := cfg.Transactions
	var b strings.Builder
	b.WriteString("SELECT ")
	if cfg.HasID(Email) {
		fmt.Fprintf(&b, "MIN(%s) AS %[1]s, ", quoteIdent(cfg.EmailColumn))
	}
	if cfg.HasID(Phone) {
		fmt.Fprintf(&b, "MIN(%s) AS %[1]s, ", quoteIdent(cfg.PhoneColumn))
	}
	if cfg.HasID(ID) {
		fmt.Fprintf(&b, "MIN(%s) AS %[1]s, ", quoteIdent(cfg.IDColumn))
	}
	for i, c := range append([]string{cfg.ConsentColumn}, cfg.ExtraConsent...) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "MIN(CASE WHEN %s THEN 1 ELSE 0 END) AS %[1]s", quoteIdent(c))
	}
	for _, c := range cfg.Columns {
		fmt.Fprintf(&b, ",\n  SUM(CASE WHEN %s = %s THEN CAST(ROUND(%s * 1000000) AS BIGINT) ELSE 0 END) / 1000000.0 AS %s",
			quoteIdent(tx.CategoryColumn), quoteLiteral(c.Category), quoteIdent(tx.AmountColumn), quoteIdent(c.Name))
	}
	order := "CAST(" + quoteIdent(tx.CustomerColumn) + " AS TEXT)"
	if cfg.Kind == KindPostgres {
		order += ` COLLATE "C"`
	}
	fmt.Fprintf(&b, "\nFROM %s\nGROUP BY %s\nORDER BY %s", quoteTable(tx.Table), quoteIdent(tx.CustomerColumn), order)
	return b.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteTable quotes a validated "name" or "schema.name".
func quoteTable(s string) string {
	if sch, name, ok := strings.Cut(s, "."); ok {
		return quoteIdent(sch) + "." + quoteIdent(name)
	}
	return quoteIdent(s)
}

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

func (t *sqlTable) columns() []string { return t.hdr }

func (t *sqlTable) next() (bool, error) {
	if !t.rows.Next() {
		if err := t.rows.Err(); err != nil {
			return false, fmt.Errorf("source: %s: row %d: %s", t.desc, t.row+1, pgMessage(err))
		}
		return false, nil
	}
	if err := t.rows.Scan(t.ptrs...); err != nil {
		return false, fmt.Errorf("%w: %s: row %d: cannot read", ErrBadValue, t.desc, t.row+1)
	}
	t.row++
	return true, nil
}

func (t *sqlTable) cell(i int) cell {
	switch v := t.vals[i].(type) {
	case nil:
		return cell{}
	case string:
		return cell{k: cText, s: v}
	case []byte:
		return cell{k: cText, s: string(v)}
	case int64:
		return cell{k: cInt, i: v}
	case float64:
		return cell{k: cFloat, f: v}
	case bool:
		return cell{k: cBool, b: v}
	}
	return cell{k: cOther}
}

func (t *sqlTable) pos() int { return t.row }

func (t *sqlTable) where(pos int) string { return t.desc + " " + t.at(pos) }

func (t *sqlTable) at(pos int) string { return fmt.Sprintf("result row %d", pos) }

func (t *sqlTable) close() error {
	t.rows.Close()
	return t.db.Close()
}
