package match

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"math"
)

// randomPermutation returns a uniformly random permutation of [0, n) drawn
// by Fisher–Yates from crypto/rand. The permutation hides which record a
// blinded point belongs to, so it must be secret and unbiased: indices are
// sampled by rejection rather than by a biased modulo.
func randomPermutation(n int) ([]int, error) {
	return permutationFrom(rand.Reader, n)
}

// permutationFrom is randomPermutation over an explicit source, so that
// tests can check the sampler against a keyed stream.
func permutationFrom(r io.Reader, n int) ([]int, error) {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	src := &uniformSource{r: r}
	for i := n - 1; i > 0; i-- {
		j, err := src.below(uint64(i) + 1)
		if err != nil {
			return nil, err
		}
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm, nil
}

// uniformSource reads crypto/rand in blocks, since one system call per
// index would dominate the cost of shuffling a large list.
type uniformSource struct {
	r   io.Reader
	buf [4096]byte
	off int
	ok  bool
}

func (s *uniformSource) uint64() (uint64, error) {
	if !s.ok || s.off+8 > len(s.buf) {
		if _, err := io.ReadFull(s.r, s.buf[:]); err != nil {
			return 0, err
		}
		s.off, s.ok = 0, true
	}
	v := binary.LittleEndian.Uint64(s.buf[s.off:])
	s.off += 8
	return v, nil
}

// below returns a uniform integer in [0, bound) for bound > 0.
func (s *uniformSource) below(bound uint64) (uint64, error) {
	// Accept only draws below the largest multiple of bound, so that every
	// residue is equally likely.
	limit := math.MaxUint64 - (math.MaxUint64%bound+1)%bound
	for {
		v, err := s.uint64()
		if err != nil {
			return 0, err
		}
		if v <= limit {
			return v % bound, nil
		}
	}
}

// permute returns the list with out[i] = in[perm[i]].
func permute(in [][]byte, perm []int) [][]byte {
	out := make([][]byte, len(in))
	for i, p := range perm {
		out[i] = in[p]
	}
	return out
}

// shuffle returns the list in a fresh uniformly random order.
func shuffle(in [][]byte) ([][]byte, error) {
	perm, err := randomPermutation(len(in))
	if err != nil {
		return nil, err
	}
	return permute(in, perm), nil
}
