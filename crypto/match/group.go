package match

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync/atomic"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// This file is a small ristretto255 layer (RFC 9496) over
// filippo.io/edwards25519: decoding, encoding, the one-way map from uniform
// bytes, and hash-to-group per RFC 9380 (hash_to_ristretto255 with
// expand_message_xmd and SHA-512). Points are carried between steps and over
// the wire as their 32-byte canonical encodings.

// PointSize is the length of a canonical ristretto255 encoding.
const PointSize = 32

// Errors returned when decoding a point received from a peer.
var (
	// ErrNonCanonical is returned for bytes that are not the canonical
	// encoding of a ristretto255 element (RFC 9496 section 4.3.1).
	ErrNonCanonical = errors.New("match: non-canonical point encoding")
	// ErrIdentity is returned for the encoding of the identity element, which
	// no honest message contains and which would erase the key it is raised to.
	ErrIdentity = errors.New("match: identity point")
)

// Constants of RFC 9496 section 4.1, as little-endian field encodings.
var (
	feD              = mustFE("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352")
	feSqrtM1         = mustFE("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b")
	feSqrtADMinusOne = mustFE("1b2e7b49a0f6977ebd54781b0c8e9daffdd1f531c9fc3c0fac48832bbf316937")
	feInvSqrtAMinusD = mustFE("ea405d80aafdc899be72415a17162f9d40d801fe917bc216a2fcafcf05896c78")
	feOneMinusDSq    = mustFE("76c15f94c1097ce20f355ecd38a1812ce4df70beddab9499d7e0b3b2a8729002")
	feDMinusOneSq    = mustFE("204ded44aa5aad3199191eb02c4a9ed2eb4e9b522fd3dc4c41226cf67ab36859")
	feOne            = new(field.Element).One()
	feMinusOne       = new(field.Element).Negate(feOne)
	feZero           = new(field.Element).Zero()
)

func mustFE(h string) *field.Element {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	fe, err := new(field.Element).SetBytes(b)
	if err != nil {
		panic(err)
	}
	return fe
}

// decodePoint decodes a canonical ristretto255 encoding (RFC 9496 section
// 4.3.1). It rejects non-canonical field encodings, negative s and every
// string that is not an encoding of a group element; the identity decodes
// successfully and is rejected by callers that must not accept it.
func decodePoint(p *edwards25519.Point, in []byte) error {
	if len(in) != PointSize {
		return ErrNonCanonical
	}
	// field.SetBytes ignores the top bit and reduces values >= p, so
	// canonicity is checked by re-encoding.
	s, err := new(field.Element).SetBytes(in)
	if err != nil {
		return ErrNonCanonical
	}
	if subtle.ConstantTimeCompare(s.Bytes(), in) != 1 || s.IsNegative() == 1 {
		return ErrNonCanonical
	}
	ss := new(field.Element).Square(s)
	u1 := new(field.Element).Subtract(feOne, ss)
	u2 := new(field.Element).Add(feOne, ss)
	u2Sqr := new(field.Element).Square(u2)

	// v = -(D * u1^2) - u2^2
	v := new(field.Element).Square(u1)
	v.Multiply(v, feD)
	v.Negate(v)
	v.Subtract(v, u2Sqr)

	invSqrt, wasSquare := new(field.Element).SqrtRatio(feOne, new(field.Element).Multiply(v, u2Sqr))
	denX := new(field.Element).Multiply(invSqrt, u2)
	denY := new(field.Element).Multiply(invSqrt, denX)
	denY.Multiply(denY, v)

	x := new(field.Element).Multiply(s, denX)
	x.Add(x, x)
	x.Absolute(x)
	y := new(field.Element).Multiply(u1, denY)
	t := new(field.Element).Multiply(x, y)

	if wasSquare == 0 || t.IsNegative() == 1 || y.Equal(feZero) == 1 {
		return ErrNonCanonical
	}
	if _, err := p.SetExtendedCoordinates(x, y, feOne, t); err != nil {
		return ErrNonCanonical
	}
	return nil
}

// encodePoint writes the canonical encoding of p (RFC 9496 section 4.3.2)
// into out, which must hold PointSize bytes.
func encodePoint(out []byte, p *edwards25519.Point) {
	x0, y0, z0, t0 := p.ExtendedCoordinates()

	u1 := new(field.Element).Add(z0, y0)
	u1.Multiply(u1, new(field.Element).Subtract(z0, y0))
	u2 := new(field.Element).Multiply(x0, y0)

	u2Sq := new(field.Element).Square(u2)
	invSqrt, _ := new(field.Element).SqrtRatio(feOne, new(field.Element).Multiply(u1, u2Sq))
	den1 := new(field.Element).Multiply(invSqrt, u1)
	den2 := new(field.Element).Multiply(invSqrt, u2)
	zInv := new(field.Element).Multiply(den1, den2)
	zInv.Multiply(zInv, t0)

	ix0 := new(field.Element).Multiply(x0, feSqrtM1)
	iy0 := new(field.Element).Multiply(y0, feSqrtM1)
	enchanted := new(field.Element).Multiply(den1, feInvSqrtAMinusD)

	rotate := new(field.Element).Multiply(t0, zInv).IsNegative()
	x := new(field.Element).Select(iy0, x0, rotate)
	y := new(field.Element).Select(ix0, y0, rotate)
	denInv := new(field.Element).Select(enchanted, den2, rotate)

	negY := new(field.Element).Negate(y)
	y.Select(negY, y, new(field.Element).Multiply(x, zInv).IsNegative())

	s := new(field.Element).Subtract(z0, y)
	s.Multiply(s, denInv)
	s.Absolute(s)
	copy(out, s.Bytes())
}

// elligator is the MAP function of RFC 9496 section 4.3.4.
func elligator(p *edwards25519.Point, t *field.Element) {
	r := new(field.Element).Square(t)
	r.Multiply(r, feSqrtM1)

	u := new(field.Element).Add(r, feOne)
	u.Multiply(u, feOneMinusDSq)

	// v = (-1 - r*D) * (r + D)
	v := new(field.Element).Multiply(r, feD)
	v.Subtract(feMinusOne, v)
	v.Multiply(v, new(field.Element).Add(r, feD))

	s, wasSquare := new(field.Element).SqrtRatio(u, v)
	sPrime := new(field.Element).Multiply(s, t)
	sPrime.Absolute(sPrime)
	sPrime.Negate(sPrime)
	s.Select(s, sPrime, wasSquare)
	c := new(field.Element).Select(feMinusOne, r, wasSquare)

	// N = c * (r - 1) * D_MINUS_ONE_SQ - v
	n := new(field.Element).Subtract(r, feOne)
	n.Multiply(n, c)
	n.Multiply(n, feDMinusOneSq)
	n.Subtract(n, v)

	sSq := new(field.Element).Square(s)
	w0 := new(field.Element).Multiply(s, v)
	w0.Add(w0, w0)
	w1 := new(field.Element).Multiply(n, feSqrtADMinusOne)
	w2 := new(field.Element).Subtract(feOne, sSq)
	w3 := new(field.Element).Add(feOne, sSq)

	x := new(field.Element).Multiply(w0, w3)
	y := new(field.Element).Multiply(w2, w1)
	z := new(field.Element).Multiply(w1, w3)
	tt := new(field.Element).Multiply(w0, w2)
	if _, err := p.SetExtendedCoordinates(x, y, z, tt); err != nil {
		// MAP always lands on the curve; reaching this is a bug in the
		// constants above, which the RFC 9496 vector tests catch.
		panic("match: elligator produced a point off the curve")
	}
}

// fromUniformBytes is the one-way map of RFC 9496 section 4.3.4 from 64
// uniformly random bytes to a group element.
func fromUniformBytes(p *edwards25519.Point, b []byte) {
	// field.SetBytes masks the top bit and reduces modulo p, as the RFC asks.
	t0, _ := new(field.Element).SetBytes(b[:32])
	t1, _ := new(field.Element).SetBytes(b[32:64])
	var p0, p1 edwards25519.Point
	elligator(&p0, t0)
	elligator(&p1, t1)
	p.Add(&p0, &p1)
}

// HashSuite is the RFC 9380 suite identifier of the hash-to-group function.
const HashSuite = "ristretto255_XMD:SHA-512_R255MAP_RO_"

// hashToGroup is hash_to_ristretto255 (RFC 9380 appendix B, RFC 9496
// section 4.3.4): the one-way map applied to expand_message_xmd(msg, dst, 64).
func hashToGroup(p *edwards25519.Point, msg, dst []byte) {
	u, err := ExpandMessageXMD(msg, dst, 64)
	if err != nil {
		// 64 bytes is always a valid length.
		panic(err)
	}
	fromUniformBytes(p, u)
}

// HashToGroup returns the canonical encoding of hash_to_ristretto255(msg)
// under the domain separation tag dst (see DomainTag).
func HashToGroup(msg, dst []byte) []byte {
	var p edwards25519.Point
	hashToGroup(&p, msg, dst)
	out := make([]byte, PointSize)
	encodePoint(out, &p)
	return out
}

// FromUniformBytes returns the canonical encoding of the element that the
// one-way map of RFC 9496 section 4.3.4 assigns to 64 uniform bytes.
func FromUniformBytes(b []byte) ([]byte, error) {
	if len(b) != 64 {
		return nil, ErrExpandLength
	}
	var p edwards25519.Point
	fromUniformBytes(&p, b)
	out := make([]byte, PointSize)
	encodePoint(out, &p)
	return out, nil
}

// DecodePoint checks that in is the canonical encoding of a non-identity
// ristretto255 element.
func DecodePoint(in []byte) error {
	var p edwards25519.Point
	return decodeNonIdentity(&p, in)
}

func decodeNonIdentity(p *edwards25519.Point, in []byte) error {
	if err := decodePoint(p, in); err != nil {
		return err
	}
	// The identity is the only element whose canonical encoding is all
	// zeros, and decodePoint has already enforced canonicity.
	var zero [PointSize]byte
	if subtle.ConstantTimeCompare(in, zero[:]) == 1 {
		return ErrIdentity
	}
	return nil
}

// DomainTag is the hash-to-group domain separation tag of one matching
// session: it names the protocol version, the RFC 9380 suite, the federation
// and the session, so that the hashes of one session are useless in any
// other. Tags longer than 255 bytes are hashed as RFC 9380 section 5.3.3
// prescribes.
func DomainTag(federation string, session []byte) []byte {
	tag := make([]byte, 0, 64+len(federation)+2*len(session))
	tag = append(tag, "JOINTLY-MATCH-V1-"...)
	tag = append(tag, HashSuite...)
	tag = append(tag, federation...)
	// The session id is hex so that the federation name, which may contain
	// any byte but is followed by exactly one '|', stays unambiguous.
	tag = append(tag, '|')
	tag = hex.AppendEncode(tag, session)
	return tag
}

// Key is a secret exponent of one matching session. Use NewKey, raise points
// with Key.Exponentiate, and call Zero as soon as the session is over.
type Key struct {
	s edwards25519.Scalar
	// work, if set, counts the scalar multiplications done with the key.
	work *atomic.Int64
}

// NewKey draws a uniformly random non-zero scalar from crypto/rand.
func NewKey() (*Key, error) {
	var buf [64]byte
	defer clear(buf[:])
	k := new(Key)
	zero := edwards25519.NewScalar()
	for {
		if _, err := rand.Read(buf[:]); err != nil {
			return nil, err
		}
		if _, err := k.s.SetUniformBytes(buf[:]); err != nil {
			return nil, err
		}
		if k.s.Equal(zero) == 0 {
			return k, nil
		}
	}
}

// Zero overwrites the key; it is unusable afterwards.
func (k *Key) Zero() {
	if k != nil {
		k.s.Set(edwards25519.NewScalar())
	}
}
