package party_test

import (
	"path/filepath"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// The tools of a querier or a deviating evaluator that skips party.Client
// and writes its own requests: a genuine certificate, a gRPC client and
// query specs built by hand.

// dialAs connects to node as identity (a querier or a node), with that
// identity's certificate from the cluster's PKI: what an adversary with a
// genuine certificate and its own gRPC client holds.
func dialAs(t *testing.T, c *partytest.Cluster, identity string, node int) *grpc.ClientConn {
	t.Helper()
	tlsCfg, err := pki.LoadClientTLS(filepath.Join(c.PKIDir, identity), identity, partytest.NodeName(node))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.Nodes[node].Addr(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// querierKey is a fresh querier public key in wire form.
func querierKey(t *testing.T, params rlwe.Parameters) []byte {
	t.Helper()
	kg := rlwe.NewKeyGenerator(params)
	qpk, err := crypto.MarshalWire(params, kg.GenPublicKeyNew(kg.GenSecretKeyNew()))
	if err != nil {
		t.Fatal(err)
	}
	return qpk
}

// wireColumn is column name of the cluster's node owner, with the bounds
// [lo, hi] (zero for none: the owner fills its own).
func wireColumn(owner int, name string, lo, hi float64) *pb.ColumnRef {
	return &pb.ColumnRef{Owner: partytest.NodeName(owner), Name: name, Lo: lo, Hi: hi}
}

// jointSpec is a research query id of partytest.Querier for the
// correlations of x against y at privacy cost (eps, 1e-6), under the
// querier key qpk. Callers set the plan fields (union size, key holders,
// matches) themselves when they play the evaluator.
func jointSpec(id string, qpk []byte, eps float64, x, y *pb.ColumnRef) *pb.QuerySpec {
	return &pb.QuerySpec{Id: id, QuerierPublicKey: qpk, Purpose: "research", Epsilon: eps, Delta: 1e-6, Querier: partytest.Querier,
		Kind: &pb.QuerySpec_Joint{Joint: &pb.JointQuery{X: []*pb.ColumnRef{x}, Y: []*pb.ColumnRef{y}, Correlations: true}}}
}
