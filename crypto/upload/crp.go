package upload

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// SeedSize is the size of the session seed both data owners toss jointly
// (each contributes randomness, neither chooses it alone) for one upload.
// A seed serves exactly one upload session: a new circuit or a re-upload
// needs a new seed, since the common polynomials are a function of the seed,
// the column index and the block index only.
const SeedSize = 32

// crpDomain separates the common polynomials of the upload from every other
// use of a session seed.
const crpDomain = "jointly/aggregate/upload-crp/v1"

// crpSource derives the common polynomial a_j of (column, block) from the
// session seed. Fresh a_j per (column, block) and per session is what makes
// h = −a_j·s + m + e an RLWE sample: two blocks under the same a_j would
// reveal the difference of their messages up to noise.
type crpSource struct {
	seed [SeedSize]byte
}

func newCRPSource(seed []byte) (crpSource, error) {
	var c crpSource
	if len(seed) != SeedSize {
		return c, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidSeed, len(seed), SeedSize)
	}
	zero := true
	for _, b := range seed {
		zero = zero && b == 0
	}
	if zero {
		return c, fmt.Errorf("%w: all zero", ErrInvalidSeed)
	}
	copy(c.seed[:], seed)
	return c, nil
}

// key returns HMAC-SHA256(seed, domain ‖ 0 ‖ column ‖ block), the AES-256
// key whose CTR keystream expands a_j. The HMAC is a PRF keyed by the seed, so keys of
// distinct (column, block) pairs are independent.
func (c crpSource) key(column, block int) []byte {
	m := hmac.New(sha256.New, c.seed[:])
	var buf [len(crpDomain) + 1 + 4 + 8]byte
	copy(buf[:], crpDomain)
	binary.LittleEndian.PutUint32(buf[len(crpDomain)+1:], uint32(column))
	binary.LittleEndian.PutUint64(buf[len(crpDomain)+5:], uint64(block))
	m.Write(buf[:])
	return m.Sum(nil)
}

// read fills a (NTT domain, limbs 0..a.Level()) with a_j, uniform in R_Q,
// from the AES-256-CTR keystream of the derived key.
func (c crpSource) read(q []uint64, column, block int, a ring.Poly) error {
	ks, err := newKeystream(c.key(column, block))
	if err != nil {
		return fmt.Errorf("crp: %w", err)
	}
	ks.readUniform(q, a)
	return nil
}
