package party

import (
	"sort"
)

// Dataset is a node's data as Info describes it. Joint queries need a
// *Table (join keys and per-record columns).
type Dataset interface {
	// Columns lists the numeric columns the node offers.
	Columns() []string
	// Records returns the number of records.
	Records() int64
}

// MemoryDataset is a Dataset held in memory: column name → one value per
// record. Every column has the same length.
type MemoryDataset map[string][]float64

// Columns implements Dataset.
func (m MemoryDataset) Columns() []string {
	cols := make([]string, 0, len(m))
	for c := range m {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}

// Records implements Dataset: the length of the longest column.
func (m MemoryDataset) Records() int64 {
	var n int
	for _, v := range m {
		n = max(n, len(v))
	}
	return int64(n)
}
