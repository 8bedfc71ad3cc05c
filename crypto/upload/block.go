package upload

import (
	"encoding/binary"
	"fmt"
	"math"
)

// blockVersion is the first byte of every upload block.
const blockVersion = 1

// blockHeaderSize is the size of the fixed header:
//
//	version u8 | logN u8 | level u8 | lowBits u8 | wireBits u16 | column u16 | index u32
//
// all little-endian, followed by the payload.
const blockHeaderSize = 12

// Bounds on header fields; they also bound a block's size, so a receiver
// can refuse a message before allocating for it.
const (
	maxLogN     = 16
	maxLevel    = 15
	maxWireBits = 64 * (maxLevel + 1)
	// MaxBlockBytes is the largest block a peer may send: 2^16 coefficients
	// of 1024 bits plus the header. Blocks of the coef13 preset are about
	// 100 KB and fit comfortably in one gRPC message.
	MaxBlockBytes = blockHeaderSize + (1<<maxLogN)*maxWireBits/8
)

// Block is one upload message: the compressed share h = −a_j·s_up + m + e of
// records [Index·N, (Index+1)·N) of one column. The common polynomial a_j is
// not sent; both sides derive it from the session seed.
type Block struct {
	// Column indexes Circuit.Columns.
	Column int
	// Index is the block number j.
	Index int
	// LogN, Level, LowBits and WireBits repeat the plan, so that a block
	// produced under a different plan is rejected rather than misread.
	LogN, Level, LowBits, WireBits int
	// Payload packs, per coefficient, LowBits bits of the residue mod q_0
	// then the exact residues of the quotient mod q_1..q_Level,
	// little-endian bit order, zero-padded to a byte.
	Payload []byte
}

// payloadBytes is the exact payload size for 2^logN coefficients.
func payloadBytes(logN, wireBits int) int {
	return ((1<<logN)*wireBits + 7) / 8
}

// validateHeader checks header fields that need no parameters.
func (b *Block) validateHeader() error {
	switch {
	case b.LogN < 1 || b.LogN > maxLogN:
		return fmt.Errorf("%w: logN %d", ErrMalformedBlock, b.LogN)
	case b.Level < 0 || b.Level > maxLevel:
		return fmt.Errorf("%w: level %d", ErrMalformedBlock, b.Level)
	case b.LowBits < 1 || b.LowBits > 64:
		return fmt.Errorf("%w: low bits %d", ErrMalformedBlock, b.LowBits)
	case b.WireBits < b.LowBits || b.WireBits > b.LowBits+64*b.Level:
		return fmt.Errorf("%w: wire bits %d", ErrMalformedBlock, b.WireBits)
	case b.Column < 0 || b.Column >= maxColumns:
		return fmt.Errorf("%w: column %d", ErrMalformedBlock, b.Column)
	case b.Index < 0 || uint64(b.Index) > math.MaxUint32:
		return fmt.Errorf("%w: index %d", ErrMalformedBlock, b.Index)
	case len(b.Payload) != payloadBytes(b.LogN, b.WireBits):
		return fmt.Errorf("%w: payload of %d bytes, want %d", ErrMalformedBlock, len(b.Payload), payloadBytes(b.LogN, b.WireBits))
	}
	return nil
}

// BinarySize returns the size of the serialized block.
func (b *Block) BinarySize() int { return blockHeaderSize + len(b.Payload) }

// AppendBinary appends the serialized block to dst.
func (b *Block) AppendBinary(dst []byte) ([]byte, error) {
	if err := b.validateHeader(); err != nil {
		return dst, err
	}
	dst = append(dst, blockVersion, byte(b.LogN), byte(b.Level), byte(b.LowBits))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(b.WireBits))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(b.Column))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(b.Index))
	return append(dst, b.Payload...), nil
}

// MarshalBinary serializes the block.
func (b *Block) MarshalBinary() ([]byte, error) {
	return b.AppendBinary(make([]byte, 0, b.BinarySize()))
}

// UnmarshalBinary parses a block and checks its structure: version, field
// ranges and the exact payload length. Residues are checked against the
// moduli when the evaluator decodes the block. The payload is copied.
func (b *Block) UnmarshalBinary(p []byte) error {
	if len(p) < blockHeaderSize {
		return fmt.Errorf("%w: %d bytes is shorter than the header", ErrMalformedBlock, len(p))
	}
	if len(p) > MaxBlockBytes {
		return fmt.Errorf("%w: %d bytes exceeds the maximum block size", ErrMalformedBlock, len(p))
	}
	if p[0] != blockVersion {
		return fmt.Errorf("%w: version %d", ErrMalformedBlock, p[0])
	}
	nb := Block{
		LogN:     int(p[1]),
		Level:    int(p[2]),
		LowBits:  int(p[3]),
		WireBits: int(binary.LittleEndian.Uint16(p[4:])),
		Column:   int(binary.LittleEndian.Uint16(p[6:])),
		Index:    int(binary.LittleEndian.Uint32(p[8:])),
		Payload:  p[blockHeaderSize:],
	}
	if err := nb.validateHeader(); err != nil {
		return err
	}
	nb.Payload = append(b.Payload[:0], nb.Payload...)
	*b = nb
	return nil
}

// bitWriter packs values of up to 64 bits into a little-endian bit stream.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint // bits held in acc, always < 64
}

func (w *bitWriter) reset(buf []byte) { w.buf, w.acc, w.n = buf[:0], 0, 0 }

// write appends the low `width` bits of v (v must be < 2^width).
func (w *bitWriter) write(v uint64, width uint) {
	w.acc |= v << w.n
	if w.n+width < 64 {
		w.n += width
		return
	}
	w.buf = binary.LittleEndian.AppendUint64(w.buf, w.acc)
	// Go defines shifts by 64 as 0, which covers width == 64 with n == 0.
	w.acc = v >> (64 - w.n)
	w.n = w.n + width - 64
}

// flush writes the remaining bits, zero-padded to a byte.
func (w *bitWriter) flush() []byte {
	for w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= min(w.n, 8)
	}
	return w.buf
}

// bitReader reads the stream bitWriter produces. The caller checks the
// total length beforehand, so reads never run past the end.
type bitReader struct {
	buf []byte
	pos int
	acc uint64
	n   uint
}

func (r *bitReader) reset(buf []byte) { r.buf, r.pos, r.acc, r.n = buf, 0, 0, 0 }

func (r *bitReader) read(width uint) uint64 {
	mask := ^uint64(0) >> (64 - width)
	if r.n >= width {
		v := r.acc & mask
		r.acc >>= width
		r.n -= width
		return v
	}
	var next uint64
	k := len(r.buf) - r.pos
	if k >= 8 {
		next = binary.LittleEndian.Uint64(r.buf[r.pos:])
		k = 8
	} else {
		var tmp [8]byte
		copy(tmp[:], r.buf[r.pos:])
		next = binary.LittleEndian.Uint64(tmp[:])
	}
	r.pos += k
	v := (r.acc | next<<r.n) & mask
	used := width - r.n
	r.acc = next >> used
	r.n = uint(8*k) - used
	return v
}

// rest reports whether unread bits remain set; canonical blocks pad with
// zeros.
func (r *bitReader) rest() bool {
	if r.acc != 0 {
		return true
	}
	for _, c := range r.buf[r.pos:] {
		if c != 0 {
			return true
		}
	}
	return false
}
