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
	return recordCost(records, 1, 5)
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
	kinds = max(kinds, 1)
	return recordCost(records, kinds, 2*kinds+3)
}

// recordCost is the mean time of hashes hash-to-group operations, mults
// constant-time scalar multiplications and one canonical encoding, over
// records iterations on the calling goroutine.
func recordCost(records, hashes, mults int) (time.Duration, error) {
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
		for range hashes {
			hashToGroup(&p, id[:], dst)
		}
		for range mults {
			p.ScalarMult(&k.s, &p)
		}
		encodePoint(out[:], &p)
	}
	return time.Since(start) / time.Duration(records), nil
}
