package match

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ErrLayoutFormat is returned when decoding a malformed stored Layout.
var ErrLayoutFormat = errors.New("match: malformed layout")

// layoutVersion prefixes the binary form, so that a cached layout written by
// an incompatible version is rejected rather than misread.
const layoutVersion = 1

// Layout is a party's result of private matching: the size of the union of
// both parties' identifier sets and, for each own record j (in the order
// given to Blind), its row Rows[j] in the union ordering, which sorts all
// UIDs by their 32-byte encoding. Rows are distinct and below UnionSize; the
// rows not in Rows belong to the peer's records alone.
type Layout struct {
	UnionSize int
	Rows      []int
}

// Block places the union row i of own record j in the coefficient layout of
// the statistics (docs/architecture.md): block ⌊i/N⌋, coefficient i mod N
// for ring degree n.
func (l *Layout) Block(j, n int) (block, coeff int) {
	r := l.Rows[j]
	return r / n, r % n
}

// MarshalBinary encodes the layout for the node's local cache.
func (l *Layout) MarshalBinary() ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(l.Rows)*4)
	out = append(out, layoutVersion)
	out = binary.AppendUvarint(out, uint64(l.UnionSize))
	out = binary.AppendUvarint(out, uint64(len(l.Rows)))
	for _, r := range l.Rows {
		out = binary.AppendUvarint(out, uint64(r))
	}
	return out, nil
}

// UnmarshalBinary decodes a layout written by MarshalBinary and checks that
// its rows are distinct and within the union.
func (l *Layout) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != layoutVersion {
		return fmt.Errorf("%w: unknown version", ErrLayoutFormat)
	}
	data = data[1:]
	next := func() (int, error) {
		v, n := binary.Uvarint(data)
		if n <= 0 || v > MaxPoints*2 {
			return 0, fmt.Errorf("%w: bad integer", ErrLayoutFormat)
		}
		data = data[n:]
		return int(v), nil
	}
	union, err := next()
	if err != nil {
		return err
	}
	count, err := next()
	if err != nil {
		return err
	}
	if count > union || count > len(data) {
		return fmt.Errorf("%w: %d rows in a union of %d", ErrLayoutFormat, count, union)
	}
	rows := make([]int, count)
	for j := range rows {
		if rows[j], err = next(); err != nil {
			return err
		}
	}
	if len(data) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrLayoutFormat)
	}
	dec := Layout{UnionSize: union, Rows: rows}
	if err := dec.validate(); err != nil {
		return err
	}
	*l = dec
	return nil
}

// validate checks that the rows are distinct and within the union. Its
// memory is proportional to the rows, never to the union: a union is only
// a number, and a layout of a few bytes may claim one of 2^31 (a peer with
// far more records than this party, or a damaged cache file).
func (l *Layout) validate() error {
	if len(l.Rows) > l.UnionSize {
		return fmt.Errorf("%w: %d rows in a union of %d", ErrLayoutFormat, len(l.Rows), l.UnionSize)
	}
	for j, r := range l.Rows {
		if r < 0 || r >= l.UnionSize {
			return fmt.Errorf("%w: row of record %d out of range", ErrLayoutFormat, j)
		}
	}
	if l.UnionSize <= 8*len(l.Rows)+64 {
		seen := make([]bool, l.UnionSize)
		for j, r := range l.Rows {
			if seen[r] {
				return fmt.Errorf("%w: row of record %d repeated", ErrLayoutFormat, j)
			}
			seen[r] = true
		}
		return nil
	}
	sorted := slices.Clone(l.Rows)
	slices.Sort(sorted)
	for k := 1; k < len(sorted); k++ {
		if sorted[k] == sorted[k-1] {
			return fmt.Errorf("%w: row %d repeated", ErrLayoutFormat, sorted[k])
		}
	}
	return nil
}
