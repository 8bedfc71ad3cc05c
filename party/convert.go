package party

import (
	"fmt"
	"math"
	"regexp"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// This file is the one place where protobuf messages become domain values
// and back. Everything that comes from the wire is validated here.

// Query is a validated query.
type Query struct {
	ID         string
	Purpose    string
	Querier    string
	Epsilon    float64
	Delta      float64
	Exact      bool
	QuerierKey *rlwe.PublicKey
	LocalSums  *LocalSumsQuery

	// digest binds every field of the query as the querier sent it; data
	// owners only release shares for the exact query they prepared.
	digest []byte
}

// LocalSumsQuery asks every owner for its record count and one column's sum.
type LocalSumsQuery struct {
	Column string
}

var (
	queryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	columnPattern  = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// queryFromProto validates a query from the wire.
func queryFromProto(params rlwe.Parameters, spec *pb.QuerySpec) (*Query, error) {
	if spec == nil {
		return nil, fmt.Errorf("%w: no query", ErrBadRequest)
	}
	if !queryIDPattern.MatchString(spec.Id) {
		return nil, fmt.Errorf("%w: query id must be 8 to 64 characters of [A-Za-z0-9_-]", ErrBadRequest)
	}
	if len(spec.Purpose) > 256 {
		return nil, fmt.Errorf("%w: purpose longer than 256 bytes", ErrBadRequest)
	}
	pk := rlwe.NewPublicKey(params)
	if err := crypto.UnmarshalWire(params, spec.QuerierPublicKey, pk); err != nil {
		return nil, fmt.Errorf("%w: querier public key does not fit the parameter preset: %v", ErrBadRequest, err)
	}
	if math.IsNaN(spec.Epsilon) || math.IsInf(spec.Epsilon, 0) || spec.Epsilon < 0 || math.IsNaN(spec.Delta) || spec.Delta < 0 || spec.Delta >= 1 {
		return nil, fmt.Errorf("%w: epsilon must be a finite number >= 0 and delta in [0, 1)", ErrBadRequest)
	}
	if len(spec.Querier) > 64 {
		return nil, fmt.Errorf("%w: querier name longer than 64 bytes", ErrBadRequest)
	}
	q := &Query{ID: spec.Id, Purpose: spec.Purpose, Querier: spec.Querier, Epsilon: spec.Epsilon, Delta: spec.Delta, Exact: spec.Exact, QuerierKey: pk}
	switch k := spec.Kind.(type) {
	case *pb.QuerySpec_LocalSums:
		if k.LocalSums == nil || (k.LocalSums.Column != "" && !columnPattern.MatchString(k.LocalSums.Column)) {
			return nil, fmt.Errorf("%w: local_sums needs a column name of [A-Za-z0-9_], or none to count records only", ErrBadRequest)
		}
		q.LocalSums = &LocalSumsQuery{Column: k.LocalSums.Column}
	default:
		return nil, fmt.Errorf("%w: query has no statistic", ErrBadRequest)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	q.digest = digest(b)
	return q, nil
}

// kind names the query's statistic for logs and the audit trail.
func (q *Query) kind() string {
	switch {
	case q.LocalSums != nil:
		return "local_sums"
	}
	return "unknown"
}

// columns lists the columns the query reads at this node.
func (q *Query) columns() []string {
	if q.LocalSums != nil && q.LocalSums.Column != "" {
		return []string{q.LocalSums.Column}
	}
	return nil
}

// ciphertextFromProto decodes a ciphertext from a peer into the shape the
// protocol expects: degree 1, top level, NTT form.
func ciphertextFromProto(params rlwe.Parameters, b []byte) (*rlwe.Ciphertext, error) {
	ct := rlwe.NewCiphertext(params, 1, params.MaxLevel())
	if err := crypto.UnmarshalWire(params, b, ct); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	return ct, nil
}

// ciphertextToProto encodes a ciphertext for the wire.
func ciphertextToProto(params rlwe.Parameters, ct *rlwe.Ciphertext) ([]byte, error) {
	return crypto.MarshalWire(params, ct)
}
