package match

import (
	"runtime"
	"sync"

	"filippo.io/edwards25519"
)

// minPerWorker keeps tiny lists on one goroutine, where scheduling would
// cost more than the few scalar multiplications it spreads.
const minPerWorker = 16

// parallel runs fn over [0, n) split into contiguous ranges, one per worker,
// with at most GOMAXPROCS workers. It returns the error of the lowest range
// that failed, so that the result does not depend on scheduling.
func parallel(n int, fn func(lo, hi int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if w := (n + minPerWorker - 1) / minPerWorker; w < workers {
		workers = w
	}
	if workers <= 1 {
		if n == 0 {
			return nil
		}
		return fn(0, n)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = fn(lo, hi)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Exponentiate returns points[i]^k for every i, in the same order. Each input
// must be the canonical encoding of a non-identity element; the error names
// the first offending index (never its bytes). It is safe to call per chunk.
func (k *Key) Exponentiate(points [][]byte) ([][]byte, error) {
	out := make([][]byte, len(points))
	buf := make([]byte, len(points)*PointSize)
	err := parallel(len(points), func(lo, hi int) error {
		var p edwards25519.Point
		for i := lo; i < hi; i++ {
			if err := decodeNonIdentity(&p, points[i]); err != nil {
				return &PointError{Index: i, Err: err}
			}
			p.ScalarMult(&k.s, &p)
			out[i] = buf[i*PointSize : (i+1)*PointSize : (i+1)*PointSize]
			encodePoint(out[i], &p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hashAndExponentiate returns H(ids[i])^k for every i, in the same order.
func (k *Key) hashAndExponentiate(ids [][]byte, dst []byte) [][]byte {
	out := make([][]byte, len(ids))
	buf := make([]byte, len(ids)*PointSize)
	_ = parallel(len(ids), func(lo, hi int) error {
		var p edwards25519.Point
		for i := lo; i < hi; i++ {
			hashToGroup(&p, ids[i], dst)
			p.ScalarMult(&k.s, &p)
			out[i] = buf[i*PointSize : (i+1)*PointSize : (i+1)*PointSize]
			encodePoint(out[i], &p)
		}
		return nil
	})
	return out
}
