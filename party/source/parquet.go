package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetTable reads a flat Parquet file (no nested or repeated columns)
// row group by row group, a batch of rows at a time.
type parquetTable struct {
	path   string
	f      *os.File
	file   *parquet.File
	hdr    []string
	kinds  []parquet.Kind
	groups []parquet.RowGroup
	g      int
	rows   parquet.Rows
	buf    []parquet.Row
	n, i   int
	row    int
	// inGroup counts the rows read from the current row group.
	inGroup int64
	cells   []cell
}

// recoverMalformed turns a panic inside the Parquet library into an error:
// the library panics on some damaged files (slice bounds in its page
// decoders), and a bad input file must not bring the node down.
func recoverMalformed(path string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: damaged Parquet file", ErrMalformed, path)
	}
}

func openParquet(path string) (_ *parquetTable, err error) {
	defer recoverMalformed(path, &err)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source: open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("source: open %s: %w", path, err)
	}
	if st.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("%w: %s: empty file", ErrEmpty, path)
	}
	pf, err := openParquetFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: not a Parquet file", ErrMalformed, path)
	}
	if err := checkPages(f, st.Size(), pf.Metadata()); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: damaged Parquet file: %v", ErrMalformed, path, err)
	}
	t := &parquetTable{path: path, f: f, file: pf, groups: pf.RowGroups(), buf: make([]parquet.Row, 256)}
	schema := pf.Schema()
	for _, p := range schema.Columns() {
		leaf, _ := schema.Lookup(p...)
		name := strings.Join(p, ".")
		if len(p) != 1 || leaf.MaxRepetitionLevel > 0 {
			f.Close()
			return nil, fmt.Errorf("%w: %s: column %q is nested or repeated; only flat files are read", ErrSchema, path, name)
		}
		t.hdr = append(t.hdr, name)
		t.kinds = append(t.kinds, leaf.Node.Type().Kind())
	}
	t.cells = make([]cell, len(t.hdr))
	return t, nil
}

func (t *parquetTable) checkType(i int, w want) error {
	k := t.kinds[i]
	ok := false
	switch w {
	case wantText:
		ok = k == parquet.ByteArray || k == parquet.Int32 || k == parquet.Int64
	case wantNumber:
		ok = k == parquet.Int32 || k == parquet.Int64 || k == parquet.Float || k == parquet.Double
	case wantBool:
		ok = k == parquet.Boolean || k == parquet.Int32 || k == parquet.Int64
	}
	if !ok {
		return fmt.Errorf("%w: %s: column %q is %s, want %s", ErrSchema, t.path, t.hdr[i], k, w)
	}
	return nil
}

func (t *parquetTable) columns() []string { return t.hdr }

func openParquetFile(f *os.File, size int64) (pf *parquet.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			pf, err = nil, errors.New("damaged")
		}
	}()
	if err := checkFooter(f, size); err != nil {
		return nil, err
	}
	// Jointly reads every row in order: the page index and bloom filters
	// would only be more claimed sizes to trust.
	return parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
}

func (t *parquetTable) next() (ok bool, err error) {
	defer recoverMalformed(t.path, &err)
	for t.i >= t.n {
		if t.rows == nil {
			if t.g >= len(t.groups) {
				return false, nil
			}
			t.rows = t.groups[t.g].Rows()
			t.g++
			t.inGroup = 0
		}
		n, err := t.rows.ReadRows(t.buf)
		t.n, t.i = n, 0
		t.inGroup += int64(n)
		switch {
		case errors.Is(err, io.EOF):
			t.rows.Close()
			t.rows = nil
		case err != nil:
			return false, fmt.Errorf("%w: %s: row %d: %v", ErrMalformed, t.path, t.row+1, err)
		case n == 0:
			// A damaged file can make the reader return nothing forever.
			if t.inGroup < t.groups[t.g-1].NumRows() {
				return false, fmt.Errorf("%w: %s: row %d: row group ends early", ErrMalformed, t.path, t.row+1)
			}
			t.rows.Close()
			t.rows = nil
		}
	}
	r := t.buf[t.i]
	t.i++
	t.row++
	for i := range t.cells {
		t.cells[i] = cell{}
	}
	for _, v := range r {
		c := v.Column()
		if c < 0 || c >= len(t.cells) || v.IsNull() {
			continue
		}
		switch v.Kind() {
		case parquet.Boolean:
			t.cells[c] = cell{k: cBool, b: v.Boolean()}
		case parquet.Int32:
			t.cells[c] = cell{k: cInt, i: int64(v.Int32())}
		case parquet.Int64:
			t.cells[c] = cell{k: cInt, i: v.Int64()}
		case parquet.Float:
			t.cells[c] = cell{k: cFloat, f: float64(v.Float())}
		case parquet.Double:
			t.cells[c] = cell{k: cFloat, f: v.Double()}
		case parquet.ByteArray:
			t.cells[c] = cell{k: cText, s: string(v.ByteArray())}
		default:
			t.cells[c] = cell{k: cOther}
		}
	}
	return true, nil
}

func (t *parquetTable) cell(i int) cell { return t.cells[i] }

func (t *parquetTable) pos() int { return t.row }

func (t *parquetTable) where(pos int) string { return t.path + " " + t.at(pos) }

func (t *parquetTable) at(pos int) string { return fmt.Sprintf("row %d", pos) }

func (t *parquetTable) close() error {
	if t.rows != nil {
		t.rows.Close()
		t.rows = nil
	}
	return t.f.Close()
}
