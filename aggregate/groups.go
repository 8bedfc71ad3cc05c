package aggregate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jointly-dev/jointly/aggregate/stats"
)

// Groups of a rate or a contingency table: the buckets a numeric column is
// cut into, or the levels of a categorical one.

// MaxLevels bounds the levels of a categorical column a query groups by;
// each level is a bucket, and the wire bounds a numeric column's cut
// points likewise.
const MaxLevels = 64

// checkLevels checks a categorical column's declaration: two or more
// levels, each named, and the bounds [0, levels−1] its indexes span.
func checkLevels(ci ColumnInfo) error {
	if len(ci.Levels) == 0 {
		return nil
	}
	if len(ci.Levels) < 2 {
		return fmt.Errorf("%w: categorical column %q needs at least two levels", ErrInvalidQuery, ci.Ref)
	}
	for k, l := range ci.Levels {
		if l == "" {
			return fmt.Errorf("%w: categorical column %q: level %d has no name", ErrInvalidQuery, ci.Ref, k)
		}
	}
	if ci.Lo != 0 || ci.Hi != float64(len(ci.Levels)-1) {
		return fmt.Errorf("%w: categorical column %q has %d levels and bounds [%g, %g], want [0, %d]", ErrInvalidQuery, ci.Ref, len(ci.Levels), ci.Lo, ci.Hi, len(ci.Levels)-1)
	}
	return nil
}

// errCutCategorical is wrapped when cut points are given for a categorical
// column.
var errCutCategorical = errors.New("a categorical column is grouped by its levels, without cut points")

// grouping returns the edges a group-by column is bucketed with and the
// label of each bucket. A numeric column is cut at edges (inner cut points,
// strictly increasing, strictly inside its bounds), its buckets labelled
// "[lo,e0)" … "[e_k−1,hi]". A categorical column takes no edges: each level
// is a bucket (the cut points halfway between the level indexes), labelled
// with the level's name. Errors name the column.
func grouping(ci ColumnInfo, edges []float64) (stats.Edges, []string, error) {
	if len(ci.Levels) > 0 {
		if len(edges) > 0 {
			return nil, nil, fmt.Errorf("%q: %w (levels %s)", ci.Ref, errCutCategorical, strings.Join(ci.Levels, ", "))
		}
		if len(ci.Levels) > MaxLevels {
			return nil, nil, fmt.Errorf("%q has %d levels; a query groups by at most %d", ci.Ref, len(ci.Levels), MaxLevels)
		}
		e := make(stats.Edges, len(ci.Levels)-1)
		for k := range e {
			e[k] = float64(k) + 0.5
		}
		return e, append([]string(nil), ci.Levels...), nil
	}
	e, err := stats.NewEdges(edges)
	if err != nil {
		return nil, nil, fmt.Errorf("buckets of %q: %w", ci.Ref, err)
	}
	if !(e[0] > ci.Lo) || !(e[len(e)-1] < ci.Hi) {
		return nil, nil, fmt.Errorf("bucket edges of %q must lie strictly inside its bounds", ci.Ref)
	}
	return e, bucketLabels(ci, e), nil
}

// bucketLabels returns the labels of the buckets of a column: "[lo,e0)",
// …, "[e_k−1,hi]".
func bucketLabels(ci ColumnInfo, edges stats.Edges) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	out := make([]string, edges.NumBuckets())
	for b := range out {
		lo, hi, closeHi := ci.Lo, ci.Hi, "]"
		if b > 0 {
			lo = edges[b-1]
		}
		if b < len(edges) {
			hi, closeHi = edges[b], ")"
		}
		out[b] = "[" + f(lo) + "," + f(hi) + closeHi
	}
	return out
}
