package synth

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrSQLite is returned when SQLite refuses to create or fill a database
// file; the message carries the file, the step and SQLite's own message.
var ErrSQLite = errors.New("synth: sqlite")

// SQLite: one database file per side; money is REAL dollars, booleans are
// INTEGER 0/1 (SQLite has no boolean type).
//
// The files are written through SQLite's C API (modernc.org/sqlite/lib, the
// library the database/sql driver wraps) rather than database/sql. Through
// the driver, two thirds of the insert time went to work around SQLite
// rather than in it: every bound value was converted to an interface and
// back, every text got its own C allocation (malloc and free behind one
// process-wide lock the two sides contend for), and every bind took the
// connection's mutex, which the driver's serialized mode requires. Here a
// connection belongs to one goroutine at a time, so it is opened without
// mutexes, and the texts of a batch are copied into one C buffer the
// statement reads in place.
//
// SQLite only ever sees C memory: Go memory handed to it as a uintptr is
// invisible to the garbage collector and fails -race's pointer checks.
type sqliteDB struct {
	name  string
	tls   *libc.TLS
	db    uintptr // connection handle
	sinks []*sqliteSink
}

// cOut calls f with the address of a C pointer-sized cell and returns what
// f stored there and f's result code: SQLite returns handles that way.
func (d *sqliteDB) cOut(f func(out uintptr) int32) (uintptr, int32) {
	n := int(unsafe.Sizeof(uintptr(0)))
	out := d.tls.Alloc(n)
	defer d.tls.Free(n)
	libc.AtomicStorePUintptr(out, 0)
	rc := f(out)
	return libc.AtomicLoadPUintptr(out), rc
}

func newSQLite(st *staging, name string) (*sqliteDB, error) {
	p, err := st.path(name)
	if err != nil {
		return nil, err
	}
	d := &sqliteDB{name: name, tls: libc.NewTLS()}
	zp, err := libc.CString(p)
	if err != nil {
		d.tls.Close()
		return nil, fmt.Errorf("%w: %s: open: %v", ErrSQLite, name, err)
	}
	var rc int32
	d.db, rc = d.cOut(func(out uintptr) int32 {
		return sqlite3.Xsqlite3_open_v2(d.tls, zp, out,
			sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	})
	libc.Xfree(d.tls, zp)
	if rc != sqlite3.SQLITE_OK {
		err := d.err(rc, "open")
		d.release()
		return nil, err
	}
	// No rollback journal and no fsync: the file is staged under a
	// temporary name and renamed into place only when complete, so a
	// crash leaves a stray temporary file, never a damaged output. The
	// largest pages (64 KiB, set before the first table) cut the time
	// SQLite spends inserting by a third: rows of ~100 bytes arrive in
	// rowid order, and every page filled costs a new page, a split of
	// the parent and a write.
	if err := d.exec("open", "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN"); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

// err describes a failed call; SQLite's message names tables and
// constraints, never values.
func (d *sqliteDB) err(rc int32, what string) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(d.tls, rc))
	if d.db != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(d.tls, d.db)); m != "" && m != msg {
			msg += ": " + m
		}
	}
	return fmt.Errorf("%w: %s: %s: %s", ErrSQLite, d.name, what, msg)
}

func (d *sqliteDB) exec(what, sql string) error {
	z, err := libc.CString(sql)
	if err != nil {
		return fmt.Errorf("%w: %s: %s: %v", ErrSQLite, d.name, what, err)
	}
	defer libc.Xfree(d.tls, z)
	if rc := sqlite3.Xsqlite3_exec(d.tls, d.db, z, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return d.err(rc, what)
	}
	return nil
}

// release frees the connection without committing.
func (d *sqliteDB) release() {
	for _, s := range d.sinks {
		s.release()
	}
	d.sinks = nil
	if d.db != 0 {
		sqlite3.Xsqlite3_close_v2(d.tls, d.db)
		d.db = 0
	}
	if d.tls != nil {
		d.tls.Close()
		d.tls = nil
	}
}

// close commits what the table sinks flushed and closes the file.
func (d *sqliteDB) close() error {
	if d.tls == nil {
		return nil
	}
	defer d.release()
	for _, s := range d.sinks {
		s.release()
	}
	if err := d.exec("commit", "COMMIT"); err != nil {
		return err
	}
	if rc := sqlite3.Xsqlite3_close_v2(d.tls, d.db); rc != sqlite3.SQLITE_OK {
		return d.err(rc, "close")
	}
	d.db = 0
	return nil
}

// sqliteBatch rows go in one multi-row INSERT: far fewer statement
// executions than one INSERT per row.
const sqliteBatch = 64

// sqliteSink fills one table. A batch's values are kept until it is full
// and then bound in one pass, its texts pointing into one C copy of them.
type sqliteSink struct {
	d          *sqliteDB
	table      string
	cols       []colSpec
	stmt, tail uintptr // INSERTs of sqliteBatch rows and of the last, partial batch
	vals       []field // the batch, row after row
	text       []byte  // the batch's texts, one after the other
}

func (d *sqliteDB) table(table string, cols []colSpec) (*sqliteSink, error) {
	var ddl strings.Builder
	fmt.Fprintf(&ddl, "CREATE TABLE %s (", table)
	for i, c := range cols {
		if i > 0 {
			ddl.WriteString(", ")
		}
		typ := map[fieldKind]string{fText: "TEXT", fInt: "INTEGER", fBool: "INTEGER", fMoney: "REAL"}[c.kind]
		fmt.Fprintf(&ddl, "%s %s NOT NULL", c.name, typ)
	}
	ddl.WriteString(")")
	if err := d.exec("create table "+table, ddl.String()); err != nil {
		return nil, err
	}
	s := &sqliteSink{d: d, table: table, cols: cols, vals: make([]field, 0, sqliteBatch*len(cols))}
	d.sinks = append(d.sinks, s)
	if err := s.prepare(&s.stmt, sqliteBatch); err != nil {
		return nil, err
	}
	return s, nil
}

// prepare makes *stmt an INSERT of rows rows.
func (s *sqliteSink) prepare(stmt *uintptr, rows int) error {
	d := s.d
	ph := "(?" + strings.Repeat(",?", len(s.cols)-1) + ")"
	q := "INSERT INTO " + s.table + " VALUES " + strings.Repeat(ph+",", rows-1) + ph
	z, err := libc.CString(q)
	if err != nil {
		return fmt.Errorf("%w: %s: prepare insert into %s: %v", ErrSQLite, d.name, s.table, err)
	}
	defer libc.Xfree(d.tls, z)
	var rc int32
	*stmt, rc = d.cOut(func(out uintptr) int32 {
		return sqlite3.Xsqlite3_prepare_v3(d.tls, d.db, z, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, out, 0)
	})
	if rc != sqlite3.SQLITE_OK {
		return d.err(rc, "prepare insert into "+s.table)
	}
	return nil
}

func (s *sqliteSink) row(fs []field) error {
	s.vals = append(s.vals, fs...)
	for i, c := range s.cols {
		if c.kind == fText {
			s.text = append(s.text, fs[i].s...)
		}
	}
	if len(s.vals) == sqliteBatch*len(s.cols) {
		return s.flush(s.stmt)
	}
	return nil
}

// flush binds the batch to stmt, which inserts exactly its rows, and runs
// it.
func (s *sqliteSink) flush(stmt uintptr) error {
	d := s.d
	// One C copy of all the batch's texts, which are bound in place
	// (SQLITE_STATIC) and read only by the step below. Freed after the
	// reset, the statement's text parameters dangle until the next batch
	// binds every parameter again; nothing reads them in between.
	cbuf, err := libc.CString(unsafe.String(unsafe.SliceData(s.text), len(s.text)))
	if err != nil {
		return fmt.Errorf("%w: %s: insert into %s: %v", ErrSQLite, d.name, s.table, err)
	}
	defer libc.Xfree(d.tls, cbuf)
	tls, off := d.tls, cbuf
	for k := range s.vals {
		f, p := &s.vals[k], int32(k+1)
		var rc int32
		switch s.cols[k%len(s.cols)].kind {
		case fText:
			rc = sqlite3.Xsqlite3_bind_text(tls, stmt, p, off, int32(len(f.s)), 0)
			off += uintptr(len(f.s))
		case fInt, fBool:
			rc = sqlite3.Xsqlite3_bind_int64(tls, stmt, p, f.i)
		case fMoney:
			rc = sqlite3.Xsqlite3_bind_double(tls, stmt, p, float64(f.i)/100)
		}
		if rc != sqlite3.SQLITE_OK {
			return d.err(rc, "insert into "+s.table)
		}
	}
	rc := sqlite3.Xsqlite3_step(tls, stmt)
	sqlite3.Xsqlite3_reset(tls, stmt)
	if rc != sqlite3.SQLITE_DONE {
		return d.err(rc, "insert into "+s.table)
	}
	s.vals, s.text = s.vals[:0], s.text[:0]
	return nil
}

// close writes the last, partial batch with a statement of its size.
func (s *sqliteSink) close() error {
	if len(s.vals) == 0 {
		return nil
	}
	if err := s.prepare(&s.tail, len(s.vals)/len(s.cols)); err != nil {
		return err
	}
	return s.flush(s.tail)
}

// release finalizes the statements.
func (s *sqliteSink) release() {
	for _, st := range []*uintptr{&s.stmt, &s.tail} {
		if *st != 0 {
			sqlite3.Xsqlite3_finalize(s.d.tls, *st)
			*st = 0
		}
	}
}
