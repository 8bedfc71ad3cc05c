package match

import (
	"runtime"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
)

const (
	// minPerWorker keeps tiny lists on one goroutine, where scheduling would
	// cost more than the few scalar multiplications it spreads.
	minPerWorker = 16
	// grain is how many points a worker claims at a time. Workers pull
	// grains from a shared counter instead of owning a fixed share of the
	// list, so that a worker the scheduler preempts (the peer's steps or
	// other work may share the cores) does not leave the others idle at the
	// end of a step; a grain of scalar multiplications takes milliseconds,
	// so the counter is not contended.
	grain = 32
)

// parallel runs fn over [0, n) in ranges of at most grain indices, on at
// most GOMAXPROCS workers. It returns the error of the lowest range that
// failed, so that the result does not depend on scheduling: after a failure
// no new range is claimed, and every range below a failed one was claimed
// before it and runs to completion.
func parallel(n int, fn func(lo, hi int) error) error {
	workers := min(runtime.GOMAXPROCS(0), (n+minPerWorker-1)/minPerWorker)
	if workers <= 1 {
		if n == 0 {
			return nil
		}
		return fn(0, n)
	}
	var (
		next     atomic.Int64
		failed   atomic.Bool
		mu       sync.Mutex
		firstLo  = n
		firstErr error
		wg       sync.WaitGroup
	)
	work := func() {
		for !failed.Load() {
			lo := int(next.Add(grain)) - grain
			if lo >= n {
				return
			}
			if err := fn(lo, min(lo+grain, n)); err != nil {
				mu.Lock()
				if lo < firstLo {
					firstLo, firstErr = lo, err
				}
				mu.Unlock()
				failed.Store(true)
				return
			}
		}
	}
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	return firstErr
}

// Exponentiate returns points[i]^k for every i, in the same order. Each input
// must be the canonical encoding of a non-identity element; the error names
// the first offending index (never its bytes). It is safe to call per chunk.
func (k *Key) Exponentiate(points [][]byte) ([][]byte, error) {
	out, err := exponentiateChain(points, k)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// exponentiateChain raises every point to each key in turn and returns one
// list per key, out[j][i] = points[i]^(keys[0]⋯keys[j]). Each input is
// decoded, and so validated, once; the intermediate powers stay decoded
// between keys, so a step that needs both P^k and P^(k k') pays one decoding
// and one multiplication per key rather than a round trip through the
// encoding.
func exponentiateChain(points [][]byte, keys ...*Key) ([][][]byte, error) {
	out := make([][][]byte, len(keys))
	bufs := make([][]byte, len(keys))
	for j := range keys {
		out[j] = make([][]byte, len(points))
		bufs[j] = make([]byte, len(points)*PointSize)
	}
	err := parallel(len(points), func(lo, hi int) error {
		var p edwards25519.Point
		for i := lo; i < hi; i++ {
			if err := decodeNonIdentity(&p, points[i]); err != nil {
				return &PointError{Index: i, Err: err}
			}
			for j, k := range keys {
				p.ScalarMult(&k.s, &p)
				o := bufs[j][i*PointSize : (i+1)*PointSize : (i+1)*PointSize]
				encodePoint(o, &p)
				out[j][i] = o
			}
		}
		if w := keys[0].work; w != nil {
			w.Add(int64((hi - lo) * len(keys)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hashAndExponentiate returns H_dst(i)(ids[i])^k for every i, in the same
// order: under one domain for every record, or one per key kind.
func (k *Key) hashAndExponentiate(ids [][]byte, dst func(i int) []byte) [][]byte {
	out := make([][]byte, len(ids))
	buf := make([]byte, len(ids)*PointSize)
	_ = parallel(len(ids), func(lo, hi int) error {
		var p edwards25519.Point
		for i := lo; i < hi; i++ {
			hashToGroup(&p, ids[i], dst(i))
			p.ScalarMult(&k.s, &p)
			out[i] = buf[i*PointSize : (i+1)*PointSize : (i+1)*PointSize]
			encodePoint(out[i], &p)
		}
		if k.work != nil {
			k.work.Add(int64(hi - lo))
		}
		return nil
	})
	return out
}
