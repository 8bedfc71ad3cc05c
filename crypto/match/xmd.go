package match

import (
	"crypto/sha512"
	"errors"
)

// ErrExpandLength is returned by ExpandMessageXMD for an output length that
// RFC 9380 section 5.3.1 does not allow (more than 255 hash blocks).
var ErrExpandLength = errors.New("match: expand_message_xmd output length out of range")

// maxDSTLen is the longest domain separation tag RFC 9380 uses as is; longer
// tags are first hashed (section 5.3.3).
const maxDSTLen = 255

// ExpandMessageXMD is expand_message_xmd of RFC 9380 section 5.3.1
// instantiated with SHA-512 (b_in_bytes = 64, s_in_bytes = 128). It returns
// lenInBytes uniformly distributed bytes derived from msg under the domain
// separation tag dst.
func ExpandMessageXMD(msg, dst []byte, lenInBytes int) ([]byte, error) {
	const bInBytes, sInBytes = sha512.Size, sha512.BlockSize
	ell := (lenInBytes + bInBytes - 1) / bInBytes
	if lenInBytes <= 0 || ell > 255 || lenInBytes > 65535 {
		return nil, ErrExpandLength
	}
	if len(dst) > maxDSTLen {
		// RFC 9380 section 5.3.3: DST = H("H2C-OVERSIZE-DST-" || a_very_long_DST).
		h := sha512.New()
		h.Write([]byte("H2C-OVERSIZE-DST-"))
		h.Write(dst)
		dst = h.Sum(nil)
	}
	dstPrime := make([]byte, 0, len(dst)+1)
	dstPrime = append(dstPrime, dst...)
	dstPrime = append(dstPrime, byte(len(dst)))

	var zPad [sInBytes]byte
	libStr := [2]byte{byte(lenInBytes >> 8), byte(lenInBytes)}

	h := sha512.New()
	h.Write(zPad[:])
	h.Write(msg)
	h.Write(libStr[:])
	h.Write([]byte{0})
	h.Write(dstPrime)
	b0 := h.Sum(nil)

	h.Reset()
	h.Write(b0)
	h.Write([]byte{1})
	h.Write(dstPrime)
	bi := h.Sum(nil)

	out := make([]byte, 0, ell*bInBytes)
	out = append(out, bi...)
	for i := 2; i <= ell; i++ {
		var x [bInBytes]byte
		for j := range x {
			x[j] = b0[j] ^ bi[j]
		}
		h.Reset()
		h.Write(x[:])
		h.Write([]byte{byte(i)})
		h.Write(dstPrime)
		bi = h.Sum(bi[:0])
		out = append(out, bi...)
	}
	return out[:lenInBytes], nil
}
