package match

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestParallelCoversOnce checks that the worker pool visits every index
// exactly once, in ranges of at most grain, for sizes around the thresholds.
func TestParallelCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, minPerWorker - 1, minPerWorker + 1, grain, grain + 1, 5*grain + 7, 1000} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			visits := make([]atomic.Int32, n)
			err := parallel(n, func(lo, hi int) error {
				if lo < 0 || hi > n || lo >= hi {
					return fmt.Errorf("bad range [%d, %d)", lo, hi)
				}
				for i := lo; i < hi; i++ {
					visits[i].Add(1)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range visits {
				if v := visits[i].Load(); v != 1 {
					t.Fatalf("index %d visited %d times", i, v)
				}
			}
		})
	}
}

// TestParallelLowestError checks that the error of the lowest failing index
// wins whatever the scheduling, so that error messages are reproducible.
func TestParallelLowestError(t *testing.T) {
	const n = 40 * grain
	for _, bad := range [][]int{{3}, {grain + 5, 30 * grain}, {n - 1}, {7 * grain, 2 * grain, 39 * grain}} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			lowest := slices.Min(bad)
			for range 20 {
				err := parallel(n, func(lo, hi int) error {
					for i := lo; i < hi; i++ {
						for _, b := range bad {
							if i == b {
								return &PointError{Index: i, Err: ErrIdentity}
							}
						}
					}
					return nil
				})
				var pe *PointError
				if !errors.As(err, &pe) || pe.Index != lowest {
					t.Fatalf("err = %v, want point %d", err, lowest)
				}
			}
		})
	}
}

// TestParallelConcurrentCalls runs several lists through the shared pool at
// once, as both roles of an in-process run or several sessions of one node
// do, and checks that each call covers its own indices exactly once and gets
// its own error.
func TestParallelConcurrentCalls(t *testing.T) {
	const calls = 6
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 100*c + 3*grain + 1
			visits := make([]atomic.Int32, n)
			err := parallel(n, func(lo, hi int) error {
				for i := lo; i < hi; i++ {
					visits[i].Add(1)
					if c%2 == 1 && i == n-c {
						return &PointError{Index: i, Err: ErrIdentity}
					}
				}
				return nil
			})
			var pe *PointError
			switch {
			case c%2 == 1 && (!errors.As(err, &pe) || pe.Index != n-c):
				errs[c] = fmt.Errorf("call %d: err = %v, want point %d", c, err, n-c)
			case c%2 == 0 && err != nil:
				errs[c] = fmt.Errorf("call %d: %v", c, err)
			case c%2 == 0:
				for i := range visits {
					if v := visits[i].Load(); v != 1 {
						errs[c] = fmt.Errorf("call %d: index %d visited %d times", c, i, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestExponentiateChain checks that the fused powers equal successive
// Exponentiate calls and that a bad point is reported by its index.
func TestExponentiateChain(t *testing.T) {
	pts := testPoints(3*grain + 5)
	k1, _ := NewKey()
	k2, _ := NewKey()
	pw, err := exponentiateChain(pts, k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k1.Exponentiate(pts)
	ab, _ := k2.Exponentiate(a)
	if len(pw) != 2 || !bytes.Equal(Pack(pw[0]), Pack(a)) || !bytes.Equal(Pack(pw[1]), Pack(ab)) {
		t.Fatal("chained powers differ from successive exponentiations")
	}
	bad := append([][]byte(nil), pts...)
	bad[grain+2] = mustHex(t, rfc9496Invalid[1].hex)
	bad[2*grain] = make([]byte, PointSize)
	_, err = exponentiateChain(bad, k1, k2)
	var pe *PointError
	if !errors.Is(err, ErrNonCanonical) || !errors.As(err, &pe) || pe.Index != grain+2 {
		t.Fatalf("err = %v, want non-canonical point %d", err, grain+2)
	}
}
