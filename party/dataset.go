package party

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// SumDivisor is the fixed-point divisor of column sums in LocalSums results:
// sums travel as integers in hundredths (cents for amounts in dollars).
const SumDivisor = 100

// Dataset is what a node needs from its data for join-free local aggregates.
type Dataset interface {
	// Columns lists the numeric columns the node offers.
	Columns() []string
	// LocalSum returns the number of records and the sum of column over them.
	LocalSum(ctx context.Context, column string) (count int64, sum float64, err error)
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

// LocalSum implements Dataset.
func (m MemoryDataset) LocalSum(_ context.Context, column string) (int64, float64, error) {
	v, ok := m[column]
	if !ok {
		return 0, 0, fmt.Errorf("%w %q (offered: %v)", ErrUnknownColumn, column, m.Columns())
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return int64(len(v)), s, nil
}

// fixedPoint converts a sum to the integer that travels encrypted.
func fixedPoint(sum float64) (int64, error) {
	f := math.Round(sum * SumDivisor)
	if math.IsNaN(f) || math.Abs(f) > 1<<56 {
		return 0, fmt.Errorf("%w: column sum out of the encodable range", ErrBadRequest)
	}
	return int64(f), nil
}
