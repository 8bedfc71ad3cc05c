package party

import (
	"fmt"
	"regexp"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/protobuf/proto"

	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// This file is the one place where protobuf messages become domain values
// and back. Everything that comes from the wire is validated here.

// Query is a validated query.
type Query struct {
	ID         string
	Purpose    string
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
	if err := pk.UnmarshalBinary(spec.QuerierPublicKey); err != nil {
		return nil, fmt.Errorf("%w: querier public key does not decode for these parameters: %v", ErrBadRequest, err)
	}
	if pk.BinarySize() != len(spec.QuerierPublicKey) || pk.Value[0].Q.N() != params.N() {
		return nil, fmt.Errorf("%w: querier public key does not fit the parameter preset", ErrBadRequest)
	}
	q := &Query{ID: spec.Id, Purpose: spec.Purpose, QuerierKey: pk}
	switch k := spec.Kind.(type) {
	case *pb.QuerySpec_LocalSums:
		if k.LocalSums == nil || !columnPattern.MatchString(k.LocalSums.Column) {
			return nil, fmt.Errorf("%w: local_sums needs a column name of [A-Za-z0-9_]", ErrBadRequest)
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

// ciphertextFromProto decodes a ciphertext from a peer and checks it has the
// shape the protocol expects: degree 1, top level, NTT form.
func ciphertextFromProto(params rlwe.Parameters, b []byte) (*rlwe.Ciphertext, error) {
	ct := new(rlwe.Ciphertext)
	if err := ct.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: ciphertext does not decode: %v", ErrBadPeerMessage, err)
	}
	if ct.Degree() != 1 || ct.Level() != params.MaxLevel() || ct.Value[0].N() != params.N() || ct.IsNTT != params.NTTFlag() {
		return nil, fmt.Errorf("%w: ciphertext has degree %d, level %d, ring degree %d; want 1, %d, %d",
			ErrBadPeerMessage, ct.Degree(), ct.Level(), ct.Value[0].N(), params.MaxLevel(), params.N())
	}
	return ct, nil
}
