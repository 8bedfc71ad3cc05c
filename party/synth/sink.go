package synth

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
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
