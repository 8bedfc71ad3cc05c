package upload

import (
	"math/rand"
	"testing"
)

func TestBitPackingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, widths := range [][]uint{{1}, {7, 64}, {60, 35}, {64, 64, 3}, {13, 60, 60, 1}} {
		var w bitWriter
		w.reset(nil)
		var vals []uint64
		for i := 0; i < 257; i++ {
			for _, width := range widths {
				v := rng.Uint64() >> (64 - width)
				vals = append(vals, v)
				w.write(v, width)
			}
		}
		buf := w.flush()
		total := 0
		for _, width := range widths {
			total += int(width)
		}
		if want := (257*total + 7) / 8; len(buf) != want {
			t.Fatalf("widths %v: %d bytes, want %d", widths, len(buf), want)
		}
		var r bitReader
		r.reset(buf)
		k := 0
		for i := 0; i < 257; i++ {
			for _, width := range widths {
				if got := r.read(width); got != vals[k] {
					t.Fatalf("widths %v: value %d = %x, want %x", widths, k, got, vals[k])
				}
				k++
			}
		}
		if r.rest() {
			t.Errorf("widths %v: padding not zero", widths)
		}
	}
}
