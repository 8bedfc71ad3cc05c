package upload

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// The upload samples two polynomials per block on each side: the common
// a_j and a fresh error. Lattigo's blake2b XOF and floating-point Gaussian
// sampler dominated the per-block cost, so both use AES-256-CTR keystreams
// here (AES-NI makes them several times faster): a_j is the keystream of a
// key derived from the session seed (a PRG from a PRF-derived key, as the
// module-LWE standards do for their public matrices), and the error is a
// centred binomial sample from a keystream keyed by crypto/rand.

const streamChunk = 4096

// keystream is an AES-256-CTR keystream with a read buffer.
type keystream struct {
	s   cipher.Stream
	buf [streamChunk]byte
	pos int
}

func newKeystream(key []byte) (*keystream, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystream: %w", err)
	}
	var iv [aes.BlockSize]byte
	return &keystream{s: cipher.NewCTR(block, iv[:]), pos: streamChunk}, nil
}

// newPrivateKeystream keys a keystream from crypto/rand.
func newPrivateKeystream() (*keystream, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("keystream key: %w", err)
	}
	return newKeystream(key[:])
}

func (k *keystream) uint64() uint64 {
	if k.pos == streamChunk {
		clear(k.buf[:])
		k.s.XORKeyStream(k.buf[:], k.buf[:])
		k.pos = 0
	}
	v := binary.LittleEndian.Uint64(k.buf[k.pos:])
	k.pos += 8
	return v
}

// readUniform fills a (limbs 0..level) with coefficients uniform in
// [0, q_k) by rejection sampling; the result is read as an NTT-domain
// polynomial, uniform there as well.
func (k *keystream) readUniform(q []uint64, a ring.Poly) {
	for l, coeffs := range a.Coeffs {
		ql := q[l]
		mask := uint64(1)<<bits.Len64(ql) - 1
		for i := range coeffs {
			for {
				v := k.uint64() & mask
				if v < ql {
					coeffs[i] = v
					break
				}
			}
		}
	}
}

// cbdSampler adds centred binomial errors: e = popcount(u) − popcount(v)
// for two independent eta-bit strings, variance eta/2.
type cbdSampler struct {
	ks  *keystream
	eta uint
}

// newCBDSampler returns a sampler whose variance is at least sigma².
func newCBDSampler(sigma float64) (*cbdSampler, error) {
	eta := cbdEta(sigma)
	if eta < 1 || eta > 32 {
		return nil, fmt.Errorf("%w: error standard deviation %.2f outside the sampler's range", ErrInvalidConfig, sigma)
	}
	ks, err := newPrivateKeystream()
	if err != nil {
		return nil, err
	}
	return &cbdSampler{ks: ks, eta: uint(eta)}, nil
}

// cbdEta is the binomial parameter for sigma: ceil(2σ²), so the sampled
// variance eta/2 is never below σ².
func cbdEta(sigma float64) int { return int(math.Ceil(2 * sigma * sigma)) }

// readAndAdd adds one error polynomial to p (coefficient domain).
func (c *cbdSampler) readAndAdd(q []uint64, p ring.Poly) {
	mask := uint64(1)<<c.eta - 1
	for i := range p.Coeffs[0] {
		w := c.ks.uint64()
		e := bits.OnesCount64(w&mask) - bits.OnesCount64((w>>c.eta)&mask)
		for l, coeffs := range p.Coeffs {
			ql := q[l]
			coeffs[i] = addSmall(coeffs[i], uint64(int64(e)), ql)
		}
	}
}

// addSmall returns c + e mod q for c < q and a small signed e in two's
// complement: c + q + e lies in [0, 3q), so two conditional subtractions
// reduce it.
func addSmall(c, e, q uint64) uint64 {
	v := c + q + e
	if v >= q {
		v -= q
	}
	if v >= q {
		v -= q
	}
	return v
}
