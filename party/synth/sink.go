package synth

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

type fieldKind uint8

const (
	fText  fieldKind = iota
	fInt             // integer
	fBool            // true/false
	fMoney           // cents, written as dollars with two decimals
)

type colSpec struct {
	name string
	kind fieldKind
}

// field is one value; i holds integers, cents and booleans (0/1).
type field struct {
	s string
	i int64
}

type sink interface {
	row(f []field) error
	close() error
}

// staging holds the temporary files of one run; commit renames them all
// into place, abort removes them, so a failed run leaves nothing behind.
type staging struct {
	dir   string
	tmp   []string
	final []string
}

func (s *staging) create(name string) (*os.File, error) {
	f, err := os.CreateTemp(s.dir, "."+name+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("synth: create %s: %w", name, err)
	}
	s.tmp = append(s.tmp, f.Name())
	s.final = append(s.final, filepath.Join(s.dir, name))
	// CreateTemp makes 0600 files; the outputs are ordinary data files.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return nil, fmt.Errorf("synth: create %s: %w", name, err)
	}
	return f, nil
}

// path reserves a temporary path for a writer that opens it itself.
func (s *staging) path(name string) (string, error) {
	f, err := s.create(name)
	if err != nil {
		return "", err
	}
	f.Close()
	return f.Name(), nil
}

func (s *staging) commit() error {
	for i, t := range s.tmp {
		if err := os.Rename(t, s.final[i]); err != nil {
			return fmt.Errorf("synth: rename into %s: %w", s.final[i], err)
		}
	}
	s.tmp = nil
	return nil
}

func (s *staging) abort() {
	for _, t := range s.tmp {
		os.Remove(t)
		os.Remove(t + "-journal")
	}
	s.tmp = nil
}

// CSV: written by hand, the hot path of jointly gen.
type csvSink struct {
	f    *os.File
	w    *bufio.Writer
	cols []colSpec
	buf  []byte
}

func newCSV(st *staging, name string, cols []colSpec) (*csvSink, error) {
	f, err := st.create(name)
	if err != nil {
		return nil, err
	}
	s := &csvSink{f: f, w: bufio.NewWriterSize(f, 1<<20), cols: cols}
	for i, c := range cols {
		if i > 0 {
			s.buf = append(s.buf, ',')
		}
		s.buf = append(s.buf, c.name...)
	}
	s.buf = append(s.buf, '\n')
	_, err = s.w.Write(s.buf)
	return s, err
}

func (s *csvSink) row(fs []field) error {
	b := s.buf[:0]
	for i, c := range s.cols {
		if i > 0 {
			b = append(b, ',')
		}
		f := fs[i]
		switch c.kind {
		case fText:
			if strings.ContainsAny(f.s, ",\"\r\n \t") {
				b = append(b, '"')
				b = append(b, strings.ReplaceAll(f.s, `"`, `""`)...)
				b = append(b, '"')
			} else {
				b = append(b, f.s...)
			}
		case fInt:
			b = strconv.AppendInt(b, f.i, 10)
		case fBool:
			b = strconv.AppendBool(b, f.i != 0)
		case fMoney:
			b = appendMoney(b, f.i)
		}
	}
	b = append(b, '\n')
	s.buf = b
	_, err := s.w.Write(b)
	return err
}

func appendMoney(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

func (s *csvSink) close() error {
	if err := s.w.Flush(); err != nil {
		s.f.Close()
		return err
	}
	return s.f.Close()
}

// SQLite: one database file per side; money is REAL dollars, booleans are
// INTEGER 0/1 (SQLite has no boolean type).
type sqliteDB struct {
	db *sql.DB
	tx *sql.Tx
}

func newSQLite(ctx context.Context, st *staging, name string) (*sqliteDB, error) {
	p, err := st.path(name)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)")
	if err != nil {
		return nil, fmt.Errorf("synth: %s: %w", name, err)
	}
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("synth: %s: %w", name, err)
	}
	return &sqliteDB{db: db, tx: tx}, nil
}

// sqliteBatch rows go in one multi-row INSERT: far fewer statement
// executions than one INSERT per row.
const sqliteBatch = 64

type sqliteSink struct {
	d     *sqliteDB
	table string
	cols  []colSpec
	stmt  *sql.Stmt
	args  []any
	n     int
}

func (d *sqliteDB) table(table string, cols []colSpec) (*sqliteSink, error) {
	var ddl, ph strings.Builder
	fmt.Fprintf(&ddl, "CREATE TABLE %s (", table)
	ph.WriteString("(")
	for i, c := range cols {
		if i > 0 {
			ddl.WriteString(", ")
			ph.WriteString(",")
		}
		typ := map[fieldKind]string{fText: "TEXT", fInt: "INTEGER", fBool: "INTEGER", fMoney: "REAL"}[c.kind]
		fmt.Fprintf(&ddl, "%s %s NOT NULL", c.name, typ)
		ph.WriteString("?")
	}
	ddl.WriteString(")")
	ph.WriteString(")")
	if _, err := d.tx.Exec(ddl.String()); err != nil {
		return nil, fmt.Errorf("synth: create table %s: %w", table, err)
	}
	q := "INSERT INTO " + table + " VALUES " + strings.Repeat(ph.String()+",", sqliteBatch-1) + ph.String()
	stmt, err := d.tx.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("synth: prepare %s: %w", table, err)
	}
	return &sqliteSink{d: d, table: table, cols: cols, stmt: stmt, args: make([]any, 0, sqliteBatch*len(cols))}, nil
}

func (s *sqliteSink) row(fs []field) error {
	for i, c := range s.cols {
		switch c.kind {
		case fText:
			s.args = append(s.args, fs[i].s)
		case fInt, fBool:
			s.args = append(s.args, fs[i].i)
		case fMoney:
			s.args = append(s.args, float64(fs[i].i)/100)
		}
	}
	s.n++
	if s.n == sqliteBatch {
		if _, err := s.stmt.Exec(s.args...); err != nil {
			return fmt.Errorf("synth: insert into %s: %w", s.table, err)
		}
		s.args, s.n = s.args[:0], 0
	}
	return nil
}

func (s *sqliteSink) close() error {
	defer s.stmt.Close()
	if s.n == 0 {
		return nil
	}
	per := len(s.cols)
	for k := 0; k < s.n; k++ {
		q := "INSERT INTO " + s.table + " VALUES (?" + strings.Repeat(",?", per-1) + ")"
		if _, err := s.d.tx.Exec(q, s.args[k*per:(k+1)*per]...); err != nil {
			return fmt.Errorf("synth: insert into %s: %w", s.table, err)
		}
	}
	s.args, s.n = s.args[:0], 0
	return nil
}

func (d *sqliteDB) close() error {
	if err := d.tx.Commit(); err != nil {
		d.db.Close()
		return fmt.Errorf("synth: commit: %w", err)
	}
	return d.db.Close()
}

// Parquet: flat schema, required columns; strings as UTF-8 byte arrays,
// money as DOUBLE dollars, integers as INT64, booleans as BOOLEAN.
type parquetSink struct {
	f     *os.File
	w     *parquet.GenericWriter[any]
	cols  []colSpec
	index []int
	rows  []parquet.Row
	n     int
}

const parquetBatch = 1024

func newParquet(st *staging, name string, cols []colSpec) (*parquetSink, error) {
	f, err := st.create(name)
	if err != nil {
		return nil, err
	}
	g := parquet.Group{}
	for _, c := range cols {
		switch c.kind {
		case fText:
			g[c.name] = parquet.String()
		case fInt:
			g[c.name] = parquet.Leaf(parquet.Int64Type)
		case fBool:
			g[c.name] = parquet.Leaf(parquet.BooleanType)
		case fMoney:
			g[c.name] = parquet.Leaf(parquet.DoubleType)
		}
	}
	schema := parquet.NewSchema(strings.TrimSuffix(name, ".parquet"), g)
	s := &parquetSink{f: f, w: parquet.NewGenericWriter[any](f, schema), cols: cols, rows: make([]parquet.Row, parquetBatch)}
	for _, c := range cols {
		leaf, _ := schema.Lookup(c.name)
		s.index = append(s.index, leaf.ColumnIndex)
	}
	for i := range s.rows {
		s.rows[i] = make(parquet.Row, len(cols))
	}
	return s, nil
}

func (s *parquetSink) row(fs []field) error {
	r := s.rows[s.n]
	for i, c := range s.cols {
		var v parquet.Value
		switch c.kind {
		case fText:
			v = parquet.ByteArrayValue([]byte(fs[i].s))
		case fInt:
			v = parquet.Int64Value(fs[i].i)
		case fBool:
			v = parquet.BooleanValue(fs[i].i != 0)
		case fMoney:
			v = parquet.DoubleValue(float64(fs[i].i) / 100)
		}
		r[s.index[i]] = v.Level(0, 0, s.index[i])
	}
	s.n++
	if s.n == parquetBatch {
		return s.flush()
	}
	return nil
}

func (s *parquetSink) flush() error {
	if s.n == 0 {
		return nil
	}
	_, err := s.w.WriteRows(s.rows[:s.n])
	s.n = 0
	return err
}

func (s *parquetSink) close() error {
	if err := s.flush(); err != nil {
		s.f.Close()
		return err
	}
	if err := s.w.Close(); err != nil {
		s.f.Close()
		return err
	}
	return s.f.Close()
}
