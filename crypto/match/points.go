package match

import (
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Errors for point lists received from a peer. None of them carries point
// bytes; PointError adds the offending index.
var (
	// ErrLength is returned when a list does not have the length the
	// protocol or the sender announced, or its byte length is not a multiple
	// of PointSize.
	ErrLength = errors.New("match: wrong point list length")
	// ErrDuplicatePoint is returned when a list holds the same point twice;
	// honest lists never do, since identifiers are distinct and the hash is
	// collision resistant.
	ErrDuplicatePoint = errors.New("match: duplicate point")
)

// MaxPoints bounds any announced list length, so that a peer cannot make the
// receiver reserve memory for more points than any dataset holds.
const MaxPoints = 1 << 30

// PointError locates an invalid point in a list.
type PointError struct {
	// Index is the position of the point in the whole list (across chunks).
	Index int
	// Err is ErrNonCanonical, ErrIdentity or ErrDuplicatePoint.
	Err error
}

func (e *PointError) Error() string { return fmt.Sprintf("point %d: %v", e.Index, e.Err) }

func (e *PointError) Unwrap() error { return e.Err }

// Receiver validates one point list from a peer as it arrives in chunks:
// every point must be a canonical, non-identity encoding, no point may repeat
// (across chunks too) and the total must equal the announced length.
type Receiver struct {
	announced int
	decode    bool
	points    [][]byte
	seen      map[[PointSize]byte]struct{}
}

// NewReceiver starts a list whose sender announced the given length; Add
// decodes every point as it arrives.
func NewReceiver(announced int) (*Receiver, error) {
	return newReceiver(announced, true)
}

// NewStepReceiver starts a list that is handed to a protocol step of this
// package (PartyA or PartyB) and nowhere else. It checks lengths, the
// announced total and repeated points as frames arrive, like NewReceiver,
// but leaves the canonical and non-identity checks to the step: every step
// decodes each point of the lists it receives as it exponentiates it, and
// rejects the whole list before returning any result, so decoding here as
// well would only double the cost of validation.
func NewStepReceiver(announced int) (*Receiver, error) {
	return newReceiver(announced, false)
}

func newReceiver(announced int, decode bool) (*Receiver, error) {
	if announced < 0 || announced > MaxPoints {
		return nil, fmt.Errorf("%w: announced %d", ErrLength, announced)
	}
	return &Receiver{
		announced: announced,
		decode:    decode,
		points:    make([][]byte, 0, min(announced, 1<<16)),
		seen:      make(map[[PointSize]byte]struct{}, min(announced, 1<<16)),
	}, nil
}

// Add validates one chunk of packed encodings and appends them to the list.
// On error the list is left unchanged.
func (r *Receiver) Add(raw []byte) error {
	if len(raw)%PointSize != 0 {
		return fmt.Errorf("%w: %d bytes is not a whole number of points", ErrLength, len(raw))
	}
	n := len(raw) / PointSize
	if n > r.announced-len(r.points) {
		return fmt.Errorf("%w: more than the %d points announced", ErrLength, r.announced)
	}
	// Copy so that the list does not alias the caller's frame buffer.
	buf := append([]byte(nil), raw...)
	chunk := make([][]byte, n)
	for i := range chunk {
		chunk[i] = buf[i*PointSize : (i+1)*PointSize : (i+1)*PointSize]
	}
	if r.decode {
		if err := parallel(n, func(lo, hi int) error {
			var p edwards25519.Point
			for i := lo; i < hi; i++ {
				if err := decodeNonIdentity(&p, chunk[i]); err != nil {
					return &PointError{Index: len(r.points) + i, Err: err}
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	added := make([][PointSize]byte, 0, n)
	for i, pt := range chunk {
		key := [PointSize]byte(pt)
		if _, dup := r.seen[key]; dup {
			for _, k := range added {
				delete(r.seen, k)
			}
			return &PointError{Index: len(r.points) + i, Err: ErrDuplicatePoint}
		}
		r.seen[key] = struct{}{}
		added = append(added, key)
	}
	r.points = append(r.points, chunk...)
	return nil
}

// Points returns the complete list, or ErrLength if fewer points than
// announced arrived.
func (r *Receiver) Points() ([][]byte, error) {
	if len(r.points) != r.announced {
		return nil, fmt.Errorf("%w: got %d of %d announced points", ErrLength, len(r.points), r.announced)
	}
	return r.points, nil
}

// ValidatePoints decodes a complete packed list whose sender announced the
// given length; see Receiver for the checks.
func ValidatePoints(raw []byte, announced int) ([][]byte, error) {
	r, err := NewReceiver(announced)
	if err != nil {
		return nil, err
	}
	if err := r.Add(raw); err != nil {
		return nil, err
	}
	return r.Points()
}

// checkList applies the length and duplicate checks of Receiver to a list
// handed to a protocol step directly, so that steps are safe even when the
// caller skipped a Receiver. It does not decode: every step exponentiates
// each point it receives (or, for σ_B(E_A), compares it byte for byte with
// its own valid encodings and exponentiates the rest), which decodes and
// rejects non-canonical encodings and the identity before the step returns
// any result.
func checkList(points [][]byte, want int) error {
	if len(points) != want {
		return fmt.Errorf("%w: got %d points, want %d", ErrLength, len(points), want)
	}
	for i, pt := range points {
		if len(pt) != PointSize {
			return &PointError{Index: i, Err: ErrNonCanonical}
		}
	}
	seen := make(map[[PointSize]byte]struct{}, want)
	for i, pt := range points {
		key := [PointSize]byte(pt)
		if _, dup := seen[key]; dup {
			return &PointError{Index: i, Err: ErrDuplicatePoint}
		}
		seen[key] = struct{}{}
	}
	return nil
}

// Pack concatenates point encodings into one buffer, the wire form that
// Receiver.Add and ValidatePoints read.
func Pack(points [][]byte) []byte {
	out := make([]byte, 0, len(points)*PointSize)
	for _, p := range points {
		out = append(out, p...)
	}
	return out
}

// Chunks splits a list into consecutive chunks of at most size points, for
// streaming a message in bounded gRPC frames. The chunks share the list's
// backing array.
func Chunks(points [][]byte, size int) [][][]byte {
	if size <= 0 {
		size = 1
	}
	var out [][][]byte
	for lo := 0; lo < len(points); lo += size {
		out = append(out, points[lo:min(lo+size, len(points))])
	}
	return out
}
