package source

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// csvTable reads a CSV file with a header line. Every record must have as
// many fields as the header.
type csvTable struct {
	path string
	f    *os.File
	r    *csv.Reader
	hdr  []string
	rec  []string
	line int
}

func openCSV(path string) (*csvTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source: open %s: %w", path, err)
	}
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	r.FieldsPerRecord = 0
	hdr, err := r.Read()
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: empty file", ErrEmpty, path)
		}
		return nil, csvErr(path, err)
	}
	hdr = slices.Clone(hdr)
	if len(hdr) > 0 {
		hdr[0] = strings.TrimPrefix(hdr[0], "\ufeff")
	}
	for i := range hdr {
		hdr[i] = strings.TrimSpace(hdr[i])
		if hdr[i] == "" {
			f.Close()
			return nil, fmt.Errorf("%w: %s: header field %d is empty", ErrMalformed, path, i+1)
		}
		if slices.Index(hdr[:i], hdr[i]) >= 0 {
			f.Close()
			return nil, fmt.Errorf("%w: %s: header names column %q twice", ErrMalformed, path, hdr[i])
		}
	}
	return &csvTable{path: path, f: f, r: r, hdr: hdr}, nil
}

// csvErr wraps a csv.ParseError, whose message gives line and column but
// no field content.
func csvErr(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: line %d, column %d: %v", ErrMalformed, path, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("source: read %s: %w", path, err)
}

// fields is "n fields", or "1 field".
func fields(n int) string {
	if n == 1 {
		return "1 field"
	}
	return fmt.Sprintf("%d fields", n)
}

func (t *csvTable) columns() []string { return t.hdr }

func (t *csvTable) next() (bool, error) {
	rec, err := t.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
		// The reader's own message gives "column 1", which says nothing:
		// the counts do.
		return false, fmt.Errorf("%w: %s: line %d has %s, the header has %d", ErrMalformed, t.path, pe.StartLine, fields(len(rec)), len(t.hdr))
	}
	if err != nil {
		return false, csvErr(t.path, err)
	}
	t.rec = rec
	t.line, _ = t.r.FieldPos(0)
	return true, nil
}

func (t *csvTable) cell(i int) cell { return cell{k: cText, s: t.rec[i]} }

func (t *csvTable) pos() int { return t.line }

func (t *csvTable) where(pos int) string { return t.path + " " + t.at(pos) }

func (t *csvTable) at(pos int) string { return fmt.Sprintf("line %d", pos) }

func (t *csvTable) close() error { return t.f.Close() }
