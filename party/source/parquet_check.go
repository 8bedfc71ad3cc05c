package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The Parquet library trusts the sizes a file claims: it allocates the
// footer length of the file's last 8 bytes, each page's compressed and
// uncompressed sizes, and every Thrift list and byte string at the length
// its header gives, before reading what should be there. A damaged file of
// a few kilobytes can so make it allocate gigabytes and bring the node
// down. The checks below read the file's own bytes first and refuse any
// claim beyond them, so that what the library allocates stays in
// proportion to the file.

// errClaim reports a size the file claims but does not hold.
var errClaim = errors.New("claims more bytes than it holds")

const (
	// parquetMagic is the length of "PAR1" at both ends of a file.
	parquetMagic = 4
	// pageHeaderWindow is how much of a column chunk is read to find a
	// page header; a longer one (large statistics) is read whole, up to
	// maxPageHeader.
	pageHeaderWindow = 64 << 10
	maxPageHeader    = 16 << 20
	// maxPageExpansion bounds how much larger a page may be once
	// decompressed: deflate's limit is about 1032. Pages are dictionary- and
	// run-length-encoded before compression, so real ones expand far less.
	maxPageExpansion = 1024
	// thriftMaxDepth bounds the nesting of Thrift structures.
	thriftMaxDepth = 32
)

// checkFooter refuses a file whose footer is not within the file or is not
// a well-formed Thrift structure whose every length fits in it.
func checkFooter(f io.ReaderAt, size int64) error {
	if size < 2*parquetMagic+4 {
		return errors.New("too short")
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-parquetMagic-8 {
		return fmt.Errorf("footer of %d bytes in a file of %d: %w", n, size, errClaim)
	}
	if string(tail[4:]) != "PAR1" {
		return nil // encrypted or not Parquet: the library refuses it
	}
	footer := make([]byte, n)
	if _, err := f.ReadAt(footer, size-8-n); err != nil {
		return err
	}
	if _, err := walkThrift(footer); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	return nil
}

// checkPages walks the page headers of every column chunk the way the
// library will read them, from the chunk's first page until the chunk's
// values are all accounted for: each header must be well-formed, and its
// page must fit in what is left of the chunk and not expand beyond
// maxPageExpansion.
func checkPages(f io.ReaderAt, size int64, md *format.FileMetaData) error {
	for g, rg := range md.RowGroups {
		for c, cc := range rg.Columns {
			m := &cc.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset != 0 {
				start = m.DictionaryPageOffset
			}
			n := m.TotalCompressedSize
			if start < parquetMagic || n < 0 || start > size || n > size-start {
				return fmt.Errorf("row group %d column %d: chunk of %d bytes at %d: %w", g, c, n, start, errClaim)
			}
			if m.DataPageOffset < start || m.DataPageOffset > start+n {
				return fmt.Errorf("row group %d column %d: data pages at %d outside their chunk", g, c, m.DataPageOffset)
			}
			// The library reads from the chunk's start, and seeks to the
			// data pages when it skips the dictionary: both walks must hold.
			err := checkChunkPages(f, start, start+n, m.NumValues, m.Codec)
			if err == nil && m.DataPageOffset != start {
				err = checkChunkPages(f, m.DataPageOffset, start+n, m.NumValues, m.Codec)
			}
			if err != nil {
				return fmt.Errorf("row group %d column %d: %w", g, c, err)
			}
		}
	}
	return nil
}

func checkChunkPages(f io.ReaderAt, off, end, values int64, codec format.CompressionCodec) error {
	buf := make([]byte, 0, pageHeaderWindow)
	for seen := int64(0); off < end && seen < values; {
		window := min(end-off, pageHeaderWindow)
		var used int
		for {
			buf = buf[:window]
			if _, err := f.ReadAt(buf, off); err != nil {
				return err
			}
			var err error
			if used, err = walkThrift(buf); err == nil {
				break
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) || window == min(end-off, maxPageHeader) {
				return fmt.Errorf("page header at %d: %w", off, err)
			}
			window = min(end-off, maxPageHeader) // a long header
			if int64(cap(buf)) < window {
				buf = make([]byte, 0, window)
			}
		}
		var h format.PageHeader
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), buf[:used], &h); err != nil {
			return fmt.Errorf("page header at %d: %w", off, err)
		}
		left := end - off - int64(used)
		comp, uncomp := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
		switch {
		case comp < 0 || comp > left:
			return fmt.Errorf("page at %d of %d bytes, %d left in its chunk: %w", off, comp, left, errClaim)
		case uncomp < 0 || uncomp > maxPageExpansion*comp+(1<<20) || (codec == format.Uncompressed && uncomp > comp+(1<<20)):
			return fmt.Errorf("page at %d of %d bytes expands to %d: %w", off, comp, uncomp, errClaim)
		}
		switch {
		case h.DataPageHeader.Valid:
			seen += int64(h.DataPageHeader.V.NumValues)
		case h.DataPageHeaderV2.Valid:
			seen += int64(h.DataPageHeaderV2.V.NumValues)
		}
		off += int64(used) + comp
	}
	return nil
}

// walkThrift checks one Thrift compact-protocol structure at the start of
// b without allocating: every byte string, list, set and map must fit in
// the bytes left, so a decoder that allocates them first allocates no more
// than the input's size (times the size of an element). It returns the
// length of the structure.
func walkThrift(b []byte) (int, error) {
	w := thriftWalker{b: b}
	if err := w.structure(0); err != nil {
		return 0, err
	}
	return w.off, nil
}

type thriftWalker struct {
	b   []byte
	off int
}

func (w *thriftWalker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, io.ErrUnexpectedEOF
	}
	w.off++
	return w.b[w.off-1], nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	v, n := binary.Uvarint(w.b[w.off:])
	switch {
	case n == 0:
		return 0, io.ErrUnexpectedEOF
	case n < 0:
		return 0, errors.New("varint overflows 64 bits")
	}
	w.off += n
	return v, nil
}

// skip moves past n bytes that must be there.
func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.b)-w.off) {
		return fmt.Errorf("%d bytes, %d left: %w", n, len(w.b)-w.off, io.ErrUnexpectedEOF)
	}
	w.off += int(n)
	return nil
}

// count reads a container's element count; each element takes at least a
// byte, so a count beyond the bytes left is a lie.
func (w *thriftWalker) count(n uint64) (int, error) {
	if n > uint64(len(w.b)-w.off) {
		return 0, fmt.Errorf("%d elements, %d bytes left: %w", n, len(w.b)-w.off, io.ErrUnexpectedEOF)
	}
	return int(n), nil
}

func (w *thriftWalker) structure(depth int) error {
	if depth > thriftMaxDepth {
		return errors.New("thrift structure nested too deep")
	}
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil // stop field
		}
		if h>>4 == 0 { // field id in a zigzag varint of its own
			if _, err := w.uvarint(); err != nil {
				return err
			}
		}
		switch t := h & 0x0f; t {
		case 1, 2: // a bool field carries its value in its type
		default:
			if err := w.value(t, depth); err != nil {
				return err
			}
		}
	}
}

func (w *thriftWalker) value(t byte, depth int) error {
	switch t {
	case 1, 2, 3: // bool (in a container), byte
		return w.skip(1)
	case 4, 5, 6: // i16, i32, i64
		_, err := w.uvarint()
		return err
	case 7: // double
		return w.skip(8)
	case 8: // binary
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case 9, 10: // list, set
		h, err := w.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 0x0f {
			if n, err = w.uvarint(); err != nil {
				return err
			}
		}
		k, err := w.count(n)
		if err != nil {
			return err
		}
		for range k {
			if err := w.value(h&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 11: // map
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		k, err := w.count(n)
		if err != nil || k == 0 {
			return err
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		for range k {
			if err := w.value(kv>>4, depth+1); err != nil {
				return err
			}
			if err := w.value(kv&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 12: // struct
		return w.structure(depth + 1)
	case 13: // uuid
		return w.skip(16)
	default:
		return fmt.Errorf("unknown thrift type %d", t)
	}
}
