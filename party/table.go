package party

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sort"
)

// Table is a node's data as the protocols use it: one entry per consenting
// record, its normalized join key and its numeric columns.
type Table struct {
	// Keys are the normalized identifiers used for matching, one per
	// record, when the node matches on one identifier kind (join_key).
	Keys [][]byte
	// KeyKinds and MultiKeys hold the identifiers when the node matches on
	// several kinds (join_keys), in its priority order: MultiKeys[j][k] is
	// record j's normalized identifier of kind KeyKinds[k], empty where the
	// record has none. Keys is then nil; with one kind both are nil.
	KeyKinds  []string
	MultiKeys [][][]byte
	// Values maps a column name to one value per record.
	Values map[string][]float64
	// Bounds are the declared public bounds [lo, hi] of each column; values
	// are clamped to them when a query lays them out (the values are kept
	// as read, so a query can count what it clips), and they set the
	// sensitivity of noisy releases.
	Bounds map[string][2]float64
	// Levels are the declared levels of each categorical column (its
	// values are their indexes) and Units the declared unit of a numeric
	// column that has one: public, like the bounds.
	Levels map[string][]string
	Units  map[string]string
	// Steps are the declared resolutions of the columns that have one
	// (source.Column.Step): their values lie on the grid of the step.
	Steps map[string]float64
	// Estimated says, for the columns whose bounds the node estimated
	// (auto_bounds), how: public, like the bounds.
	Estimated map[string]BoundsEstimate
	// Tags are the declared tags of the columns that have some
	// (source.Column.Tags), which the policy's rules restrict: public,
	// like the bounds.
	Tags map[string][]string
	// Digest identifies the records' join keys (see DigestTable).
	Digest []byte

	// views are the tables of the records that consent under each consent
	// set, "" the default (consent.go); nil when the policy has one
	// consent column, whose records the table holds.
	views map[string]*Table
}

// ColumnBounds returns the declared bounds of column.
func (t *Table) ColumnBounds(column string) (lo, hi float64, ok bool) {
	b, ok := t.Bounds[column]
	return b[0], b[1], ok
}

// ColumnLevels returns the declared levels of a categorical column, nil
// for a numeric one.
func (t *Table) ColumnLevels(column string) []string { return t.Levels[column] }

// ColumnUnit returns the declared unit of a column, "" when it has none.
func (t *Table) ColumnUnit(column string) string { return t.Units[column] }

// ColumnStep returns the declared step of column, 0 without one.
func (t *Table) ColumnStep(column string) float64 { return t.Steps[column] }

// BoundsEstimate says how the node estimated the bounds of column; false
// for bounds declared in the configuration.
func (t *Table) BoundsEstimate(column string) (BoundsEstimate, bool) {
	e, ok := t.Estimated[column]
	return e, ok
}

// ColumnTags returns the declared tags of column, nil without any.
func (t *Table) ColumnTags(column string) []string { return t.Tags[column] }

// DigestTable computes a digest over the table's join keys in order: a
// cached matching layout stays valid exactly as long as it is unchanged, and
// is recomputed when records are added, removed, reordered or change consent.
// With several kinds it covers the kinds, in order, and every key of every
// kind, so that a changed phone number invalidates the layout as much as a
// changed e-mail.
func DigestTable(t *Table) []byte {
	h := sha256.New()
	var b [8]byte
	put := func(n int) {
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	if t.MultiKeys != nil {
		// A count no table can have marks the multi-key form, so that no
		// list of keys of one kind digests like one of several.
		put(-1)
		put(len(t.KeyKinds))
		for _, k := range t.KeyKinds {
			put(len(k))
			h.Write([]byte(k))
		}
		put(len(t.MultiKeys))
		for _, r := range t.MultiKeys {
			put(len(r))
			for _, k := range r {
				put(len(k))
				h.Write(k)
			}
		}
		return h.Sum(nil)
	}
	put(len(t.Keys))
	for _, k := range t.Keys {
		put(len(k))
		h.Write(k)
	}
	return h.Sum(nil)
}

// Columns lists the columns in sorted order; it implements Dataset.
func (t *Table) Columns() []string {
	names := make([]string, 0, len(t.Values))
	for n := range t.Values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// JoinKeys returns the records' join keys and the dataset digest.
func (t *Table) JoinKeys(context.Context) ([][]byte, []byte, error) {
	if t.Digest == nil {
		t.Digest = DigestTable(t)
	}
	return t.Keys, t.Digest, nil
}

// Records implements Dataset.
func (t *Table) Records() int64 { return int64(t.records()) }

// records is the number of records, whichever form their keys have.
func (t *Table) records() int {
	if t.MultiKeys != nil {
		return len(t.MultiKeys)
	}
	return len(t.Keys)
}
