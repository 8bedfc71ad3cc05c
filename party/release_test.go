package party_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestReleaseRefusesDeviatingEvaluator: a data owner checks every pack a
// (genuine, authenticated) evaluator asks it to release. Products whose
// gating count is below its min_group_size, stage-one products asked again,
// packs out of order or mixing levels, and queries it never prepared are
// refused, each with an error that says why.
func TestReleaseRefusesDeviatingEvaluator(t *testing.T) {
	r, i := jointWorld(t, 200, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	params := crypto.MustParameters(crypto.PresetTest)
	ctx := context.Background()

	x := aggregate.ColumnInfo{Ref: aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, Lo: 0, Hi: 500}
	y := aggregate.ColumnInfo{Ref: aggregate.ColumnRef{Owner: partytest.NodeName(1), Name: "claims_diabetes"}, Lo: 0, Hi: 50}
	compiled, err := aggregate.Compile(params, aggregate.Request{X: []aggregate.ColumnInfo{x}, Y: []aggregate.ColumnInfo{y},
		Correlations: true, Epsilon: 1, Delta: 1e-6, MaxRecords: 300, Owners: 2, KeyHolders: 2})
	if err != nil {
		t.Fatal(err)
	}
	plan := compiled.Plan()
	spec := jointSpec("forged-query-1", querierKey(t, params), 1, wireColumn(0, x.Ref.Name, x.Lo, x.Hi), wireColumn(1, y.Ref.Name, y.Lo, y.Hi))
	j := spec.GetJoint()
	j.UnionSize, j.KeyHolders = 300, 2
	j.Matches = []*pb.MatchRef{{Owner: partytest.NodeName(1), Session: make([]byte, 16), UnionSize: 300, PaddedSize: 300}}

	// node0's genuine identity, talking to node1 as the evaluator.
	conn := dialAs(t, c, partytest.NodeName(0), 1)
	ct := func(product int) []byte {
		b, err := crypto.MarshalWire(params, rlwe.NewCiphertext(params, 1, plan.Column(plan.Products()[product].Column).Level))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// counts: every statistic's stage-one count set to v.
	counts := func(v float64) ([]uint32, []float64) {
		var s []uint32
		var vals []float64
		for k := range plan.Circuit().Stats {
			s, vals = append(s, uint32(k)), append(vals, v)
		}
		return s, vals
	}
	one := map[int]bool{}
	for _, p := range compiled.StageOneProducts() {
		one[p] = true
	}
	var gated []int // stage-two products
	for p := range plan.Products() {
		if !one[p] {
			gated = append(gated, p)
		}
	}
	if len(gated) < 2 {
		t.Fatalf("plan has %d stage-two products", len(gated))
	}
	low, lowVals := counts(3)
	high, highVals := counts(1000)
	for _, tc := range []struct {
		name     string
		stats    []uint32
		values   []float64
		packs    [][]int
		contains string
	}{
		{"count below min_group_size", low, lowVals, [][]int{{gated[0]}}, "below this owner's min_group_size 10"},
		{"stage-one product again", high, highVals, [][]int{{compiled.StageOneProducts()[0]}}, "not releasable in stage two"},
		{"out of order", high, highVals, [][]int{{gated[1]}, {gated[0]}}, "out of order"},
		{"never prepared", high, highVals, [][]int{{gated[0]}}, "not prepared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := pb.NewFederationClient(conn).ReleaseShares(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for g, pack := range tc.packs {
				req := &pb.ReleaseShareRequest{Ciphertext: ct(pack[0])}
				for _, p := range pack {
					req.Products = append(req.Products, uint32(p))
				}
				if g == 0 {
					req.Query, req.Evaluator, req.CountStats, req.CountValues = spec, partytest.NodeName(0), tc.stats, tc.values
				}
				if err := stream.Send(req); err != nil {
					break // the refusal arrives on Recv
				}
			}
			stream.CloseSend()
			_, err = stream.Recv()
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %v, want one saying %q", err, tc.contains)
			}
		})
	}
}
