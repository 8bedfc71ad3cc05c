package stats

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
)

func TestEdgesValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edges []float64
		want  error
	}{
		{"quartiles", []float64{10, 25, 60}, nil},
		{"single", []float64{0}, nil},
		{"empty", nil, ErrNoEdges},
		{"unsorted", []float64{10, 60, 25}, ErrUnsortedEdges},
		{"tied", []float64{0, 0, 12}, ErrUnsortedEdges},
		{"descending", []float64{3, 2, 1}, ErrUnsortedEdges},
		{"nan", []float64{1, math.NaN(), 3}, ErrNotFinite},
		{"inf", []float64{1, 2, math.Inf(1)}, ErrNotFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEdges(tc.edges)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && e.NumBuckets() != len(tc.edges)+1 {
				t.Errorf("NumBuckets = %d, want %d", e.NumBuckets(), len(tc.edges)+1)
			}
		})
	}
}

func TestEdgesBucket(t *testing.T) {
	src := []float64{10, 25, 60}
	e, err := NewEdges(src)
	if err != nil {
		t.Fatal(err)
	}
	src[0] = 1000 // the validated edges are a copy
	for _, tc := range []struct {
		v    float64
		want int
	}{
		{math.Inf(-1), 0}, {-5, 0}, {9.999, 0},
		{10, 1}, {24.9, 1},
		{25, 2}, {59.99, 2},
		{60, 3}, {1e9, 3}, {math.Inf(1), 3},
	} {
		t.Run(fmt.Sprintf("v=%g", tc.v), func(t *testing.T) {
			got, err := e.Bucket(tc.v)
			if err != nil || got != tc.want {
				t.Errorf("Bucket(%g) = %d, %v; want %d", tc.v, got, err, tc.want)
			}
		})
	}
	if _, err := e.Bucket(math.NaN()); !errors.Is(err, ErrNotFinite) {
		t.Errorf("Bucket(NaN): err = %v", err)
	}
}

// Quartile edges of a sample must split it into four buckets of a quarter each.
func TestEdgesQuartiles(t *testing.T) {
	rng := newRand(12)
	v := make([]float64, 1000)
	for i := range v {
		v[i] = math.Exp(rng.NormFloat64())
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	e, err := NewEdges([]float64{s[250], s[500], s[750]})
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, e.NumBuckets())
	for _, x := range v {
		b, err := e.Bucket(x)
		if err != nil {
			t.Fatal(err)
		}
		counts[b]++
	}
	for b, c := range counts {
		if c != 250 {
			t.Errorf("bucket %d holds %d values, want 250", b, c)
		}
	}
}
