package stats

import (
	"fmt"
	"math"
	"sort"
)

// Edges are the validated inner cut points of a bucketing, for example the
// three quartile cut points of a spend column: k edges make k+1 buckets.
// Bucket i holds the values v with Edges[i−1] ≤ v < Edges[i] (bucket 0 is
// everything below Edges[0], bucket k everything from Edges[k−1] up).
type Edges []float64

// NewEdges validates cut points: at least one, all finite, strictly
// increasing. Tied quantiles (for example several quartiles at 0 for a
// category most people never buy) must be merged by the caller, since they
// would make an empty bucket whose rate is undefined.
func NewEdges(edges []float64) (Edges, error) {
	if len(edges) == 0 {
		return nil, ErrNoEdges
	}
	for i, e := range edges {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return nil, fmt.Errorf("edge %d: %w", i, ErrNotFinite)
		}
		if i > 0 && !(e > edges[i-1]) {
			return nil, fmt.Errorf("edge %d: %w", i, ErrUnsortedEdges)
		}
	}
	return append(Edges(nil), edges...), nil
}

// NumBuckets returns len(e)+1.
func (e Edges) NumBuckets() int { return len(e) + 1 }

// Bucket returns the index of the bucket v falls in, in [0, len(e)]. It
// returns ErrNotFinite for NaN; ±Inf go to the first or last bucket.
func (e Edges) Bucket(v float64) (int, error) {
	if math.IsNaN(v) {
		return 0, ErrNotFinite
	}
	// The first edge strictly greater than v is the bucket index.
	return sort.Search(len(e), func(i int) bool { return e[i] > v }), nil
}
