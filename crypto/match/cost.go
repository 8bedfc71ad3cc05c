package match

import (
	"encoding/binary"
	"time"

	"filippo.io/edwards25519"
)

// CostPerRecord measures c, the single-core cost of one record's share of a
// matching run: one hash-to-group, five constant-time scalar multiplications
// and one canonical encoding (the per-party work of the protocol at 50 %
// overlap, README.md). It runs records iterations on the calling goroutine and
// returns the mean; capacity planning multiplies c by the record count and
// divides by the cores available.
func CostPerRecord(records int) (time.Duration, error) {
	records = max(records, 1)
	k, err := NewKey()
	if err != nil {
		return 0, err
	}
	defer k.Zero()
	dst := DomainTag("cost-per-record", nil)
	var (
		p   edwards25519.Point
		id  [8]byte
		out [PointSize]byte
	)
	start := time.Now()
	for i := range records {
		binary.LittleEndian.PutUint64(id[:], uint64(i))
		hashToGroup(&p, id[:], dst)
		for range 5 {
			p.ScalarMult(&k.s, &p)
		}
		encodePoint(out[:], &p)
	}
	return time.Since(start) / time.Duration(records), nil
}

// CostPerRecordMultiKey measures c_K, the single-core cost of one record's
// share of a multi-key matching run with kinds key kinds: kinds
// hash-to-group operations, 2·kinds + 3 constant-time scalar
// multiplications and one canonical encoding. MultiKeyWork is
// kinds·(x + y) + 2u scalar multiplications per party, so at |X| = |Y| = n
// and 50 % overlap the two parties do (2·kinds + 3)·2n together; with one
// kind c_K is c of CostPerRecord. It runs records iterations on the calling
// goroutine and returns the mean.
func CostPerRecordMultiKey(kinds, records int) (time.Duration, error) {
	records, kinds = max(records, 1), max(kinds, 1)
	k, err := NewKey()
	if err != nil {
		return 0, err
	}
	defer k.Zero()
	dst := DomainTag("cost-per-record", nil)
	var (
		p   edwards25519.Point
		id  [8]byte
		out [PointSize]byte
	)
	start := time.Now()
	for i := range records {
		binary.LittleEndian.PutUint64(id[:], uint64(i))
		for range kinds {
			hashToGroup(&p, id[:], dst)
		}
		for range 2*kinds + 3 {
			p.ScalarMult(&k.s, &p)
		}
		encodePoint(out[:], &p)
	}
	return time.Since(start) / time.Duration(records), nil
}
