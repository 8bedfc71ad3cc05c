package party

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party/ledger"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

func testQuerySpec(t testing.TB) *pb.QuerySpec {
	t.Helper()
	params := crypto.MustParameters(crypto.PresetTest)
	_, pk := rlwe.NewKeyGenerator(params).GenKeyPairNew()
	b, err := crypto.MarshalWire(params, pk)
	if err != nil {
		t.Fatal(err)
	}
	col := func(owner, name string) []*pb.ColumnRef {
		return []*pb.ColumnRef{{Owner: owner, Name: name, Lo: 0, Hi: 100}}
	}
	return &pb.QuerySpec{Id: "0123456789abcdef", QuerierPublicKey: b, Purpose: "research", Epsilon: 1, Delta: 1e-6,
		Kind: &pb.QuerySpec_Joint{Joint: &pb.JointQuery{X: col("retailer", "spend"), Y: col("insurer", "claims"), Correlations: true}}}
}

func TestQueryFromProto(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	good := testQuerySpec(t)
	q, err := queryFromProto(params, good)
	if err != nil {
		t.Fatal(err)
	}
	if q.Joint == nil || q.Joint.X[0].Ref.Name != "spend" || len(q.digest) != 32 {
		t.Fatalf("decoded %+v", q)
	}
	big := crypto.MustParameters(crypto.PresetCoef13)
	if _, err := queryFromProto(big, good); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("key of another preset accepted: %v", err)
	}
	for name, mutate := range map[string]func(*pb.QuerySpec){
		"short id":      func(s *pb.QuerySpec) { s.Id = "abc" },
		"id charset":    func(s *pb.QuerySpec) { s.Id = "0123456789/bcdef" },
		"no key":        func(s *pb.QuerySpec) { s.QuerierPublicKey = nil },
		"truncated key": func(s *pb.QuerySpec) { s.QuerierPublicKey = s.QuerierPublicKey[:100] },
		"no statistic":  func(s *pb.QuerySpec) { s.Kind = nil },
		"bad column":    func(s *pb.QuerySpec) { s.GetJoint().X[0].Name = "a b" },
		"no epsilon":    func(s *pb.QuerySpec) { s.Epsilon = 0 },
		"no delta":      func(s *pb.QuerySpec) { s.Delta = 0 },
		"exact, tiny ε": func(s *pb.QuerySpec) { s.Exact, s.Epsilon = true, 1e-20 },
		"exact, δ=0.5":  func(s *pb.QuerySpec) { s.Exact, s.Epsilon, s.Delta = true, 0, 0.5 },
		"many levels":   func(s *pb.QuerySpec) { s.GetJoint().Y[0].Levels = make([]string, 1025) },
		"long level":    func(s *pb.QuerySpec) { s.GetJoint().Y[0].Levels = []string{"a", strings.Repeat("b", 129)} },
		"long unit":     func(s *pb.QuerySpec) { s.GetJoint().Y[0].Unit = strings.Repeat("m", 65) },
		"bad correlation column": func(s *pb.QuerySpec) {
			s.GetJoint().CorrelationX = []*pb.ColumnRef{{Owner: "retailer", Name: "a b"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := proto.Clone(good).(*pb.QuerySpec)
			mutate(s)
			if _, err := queryFromProto(params, s); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("want ErrBadRequest, got %v", err)
			}
		})
	}
	// A cost outside the dp ranges is refused with its value and range,
	// before anything is calibrated for it (1e-20 used to hang the node).
	for _, tc := range []struct {
		eps, delta float64
		mention    string
	}{
		{1e-20, 1e-6, "epsilon 1e-20 is outside [1e-06, 1000]"},
		{1e-15, 1e-6, "epsilon 1e-15 is outside"},
		{5e-324, 1e-6, "epsilon 5e-324 is outside"},
		{1e300, 1e-6, "epsilon 1e+300 is outside"},
		{math.Inf(1), 1e-6, "epsilon +Inf is outside"},
		{math.NaN(), 1e-6, "epsilon NaN is outside"},
		{-1, 1e-6, "epsilon -1 is outside"},
		{1, 0, "delta 0 is outside [1e-15, 0.01]"},
		{1, math.NaN(), "delta NaN is outside"},
		{1, 0.5, "delta 0.5 is outside"},
	} {
		t.Run(fmt.Sprintf("epsilon=%g/delta=%g", tc.eps, tc.delta), func(t *testing.T) {
			s := proto.Clone(good).(*pb.QuerySpec)
			s.Epsilon, s.Delta = tc.eps, tc.delta
			_, err := queryFromProto(params, s)
			if !errors.Is(err, ErrBadRequest) || !errors.Is(err, dp.ErrBudgetRange) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("want ErrBadRequest naming %q, got %v", tc.mention, err)
			}
		})
	}
	// A noise-free query may declare no cost at all.
	exact := proto.Clone(good).(*pb.QuerySpec)
	exact.Exact, exact.Epsilon, exact.Delta = true, 0, 0
	if _, err := queryFromProto(params, exact); err != nil {
		t.Fatalf("exact query without a cost: %v", err)
	}
	// The digest binds every field: a changed purpose is another query.
	s := proto.Clone(good).(*pb.QuerySpec)
	s.Purpose = "underwriting"
	q2, err := queryFromProto(params, s)
	if err != nil {
		t.Fatal(err)
	}
	if string(q2.digest) == string(q.digest) {
		t.Fatal("digest does not bind the purpose")
	}
}

// TestJointRequestRoundTrip: what a querier asks beyond columns and
// statistics (correlation sets, the unit of a rate) and what the evaluator
// fills in (levels and units) survive the wire.
func TestJointRequestRoundTrip(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	spend, claims := aggregate.ColumnRef{Owner: "retailer", Name: "spend"}, aggregate.ColumnRef{Owner: "insurer", Name: "claims"}
	exposure, band := aggregate.ColumnRef{Owner: "insurer", Name: "exposure"}, aggregate.ColumnRef{Owner: "insurer", Name: "band"}
	req := JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, exposure, band}, Purpose: "research", Epsilon: 1, Delta: 1e-6,
		Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims},
		Rates: []aggregate.RateRequest{{Events: claims, Exposure: exposure, By: band, Per: "month"}}}
	spec := jointRequestToProto(req, "0123456789abcdef", testQuerySpec(t).QuerierPublicKey)
	y := spec.GetJoint().Y
	y[1].Unit, y[2].Levels = "months", []string{"young", "old"}
	q, err := queryFromProto(params, spec)
	if err != nil {
		t.Fatal(err)
	}
	j := q.Joint
	if !slices.Equal(j.CorrelationX, req.CorrelationX) || !slices.Equal(j.CorrelationY, req.CorrelationY) || j.Rates[0].Per != "month" || len(j.Rates[0].Edges) != 0 {
		t.Fatalf("decoded %+v", j)
	}
	if j.Y[1].Unit != "months" || !slices.Equal(j.Y[2].Levels, []string{"young", "old"}) || j.Y[0].Levels != nil || j.Y[0].Unit != "" {
		t.Fatalf("decoded columns %+v", j.Y)
	}
	if r := q.request(); !slices.Equal(r.CorrelationX, req.CorrelationX) || !slices.Equal(r.CorrelationY, req.CorrelationY) {
		t.Fatalf("request %+v", r)
	}

	// Grouped correlations: the group-by column and its cut points travel,
	// and a peer's malformed ones are refused naming them.
	grouped := req
	grouped.Rates, grouped.Y = nil, []aggregate.ColumnRef{claims, exposure}
	grouped.CorrelationBy, grouped.CorrelationEdges = exposure, []float64{3, 6}
	spec = jointRequestToProto(grouped, "0123456789abcdef", testQuerySpec(t).QuerierPublicKey)
	if q, err = queryFromProto(params, spec); err != nil {
		t.Fatal(err)
	}
	if r := q.request(); r.CorrelationBy != exposure || !slices.Equal(r.CorrelationEdges, []float64{3, 6}) {
		t.Fatalf("grouped request %+v", r)
	}
	for _, tc := range []struct {
		name string
		edit func(j *pb.JointQuery)
		want string
	}{
		{"group-by without a name", func(j *pb.JointQuery) { j.CorrelationBy = &pb.ColumnRef{Owner: "insurer"} }, "column"},
		{"too many cut points", func(j *pb.JointQuery) { j.CorrelationEdges = make([]float64, aggregate.MaxLevels+1) }, "correlation buckets"},
	} {
		bad := proto.Clone(spec).(*pb.QuerySpec)
		tc.edit(bad.GetJoint())
		if _, err := queryFromProto(params, bad); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadRequest naming %q", tc.name, err, tc.want)
		}
	}
}

// FuzzQueryFromProto fuzzes a query spec without its querier key, which
// is nearly all of a spec's bytes (it has its own target, FuzzUnmarshalWire
// in crypto): a spec that brings no key gets a good one, so the fuzzer's
// mutations land on the fields queryFromProto checks. Whatever it accepts
// is complete (a key and one kind of statistic) and has a privacy cost
// within the dp ranges.
func FuzzQueryFromProto(f *testing.F) {
	params := crypto.MustParameters(crypto.PresetTest)
	good := testQuerySpec(f)
	key := good.QuerierPublicKey
	seed := func(edit func(*pb.QuerySpec)) {
		s := proto.Clone(good).(*pb.QuerySpec)
		s.QuerierPublicKey = nil
		edit(s)
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(func(*pb.QuerySpec) {})
	seed(func(s *pb.QuerySpec) { s.Exact, s.Epsilon, s.Delta = true, 0, 0 })
	for _, eps := range []float64{1e-20, 1e-15, 5e-324, 1e300, math.Inf(1), math.NaN(), -1} {
		seed(func(s *pb.QuerySpec) { s.Epsilon = eps })
	}
	seed(func(s *pb.QuerySpec) { s.Delta = 0 })
	seed(func(s *pb.QuerySpec) { s.QuerierPublicKey = key[:100] })
	seed(func(s *pb.QuerySpec) {
		s.Kind = &pb.QuerySpec_Joint{Joint: &pb.JointQuery{
			X: []*pb.ColumnRef{{Owner: "retailer", Name: "spend", Lo: 0, Hi: 500}}, Y: []*pb.ColumnRef{{Owner: "insurer", Name: "claims", Lo: 0, Hi: 10}},
			Correlations: true, UnionSize: 300, KeyHolders: 2,
			Matches: []*pb.MatchRef{{Owner: "insurer", Session: make([]byte, 16), UnionSize: 300}}}}
	})
	seed(func(s *pb.QuerySpec) {
		band := &pb.ColumnRef{Owner: "insurer", Name: "band", Lo: 0, Hi: 1, Levels: []string{"young", "old"}}
		claims, exposure := &pb.ColumnRef{Owner: "insurer", Name: "claims", Lo: 0, Hi: 10}, &pb.ColumnRef{Owner: "insurer", Name: "exposure", Lo: 0, Hi: 12, Unit: "months"}
		s.Kind = &pb.QuerySpec_Joint{Joint: &pb.JointQuery{
			X: []*pb.ColumnRef{{Owner: "retailer", Name: "spend", Lo: 0, Hi: 500}}, Y: []*pb.ColumnRef{claims, exposure, band},
			Correlations: true, CorrelationX: []*pb.ColumnRef{{Owner: "retailer", Name: "spend"}}, CorrelationY: []*pb.ColumnRef{{Owner: "insurer", Name: "claims"}},
			Rates: []*pb.RateSpec{{Events: claims, Exposure: exposure, By: band, Per: "year"}}}}
	})
	seed(func(s *pb.QuerySpec) {
		band := &pb.ColumnRef{Owner: "insurer", Name: "band", Lo: 0, Hi: 1, Levels: []string{"young", "old"}}
		s.Kind = &pb.QuerySpec_Joint{Joint: &pb.JointQuery{
			X: []*pb.ColumnRef{{Owner: "retailer", Name: "spend", Lo: 0, Hi: 500}}, Y: []*pb.ColumnRef{{Owner: "insurer", Name: "claims", Lo: 0, Hi: 10}, band},
			Correlations: true, CorrelationX: []*pb.ColumnRef{{Owner: "retailer", Name: "spend"}}, CorrelationY: []*pb.ColumnRef{{Owner: "insurer", Name: "claims"}},
			CorrelationBy: &pb.ColumnRef{Owner: "insurer", Name: "band"}}}
	})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4096 {
			return // a spec without its key is far smaller; keep each run cheap
		}
		var s pb.QuerySpec
		if proto.Unmarshal(raw, &s) != nil {
			return
		}
		if len(s.QuerierPublicKey) == 0 {
			s.QuerierPublicKey = key
		}
		q, err := queryFromProto(params, &s)
		if err != nil {
			return
		}
		if q.QuerierKey == nil || q.Joint == nil {
			t.Fatal("accepted an incomplete query")
		}
		if q.Exact && dp.CheckExactBudget(q.Epsilon, q.Delta) != nil || !q.Exact && dp.CheckBudget(q.Epsilon, q.Delta) != nil {
			t.Fatalf("accepted epsilon %g, delta %g (exact %v)", q.Epsilon, q.Delta, q.Exact)
		}
	})
}

type chunkList []*pb.Chunk

func (c *chunkList) Recv() (*pb.Chunk, error) {
	if len(*c) == 0 {
		return nil, io.EOF
	}
	x := (*c)[0]
	*c = (*c)[1:]
	return x, nil
}

func TestChunks(t *testing.T) {
	data := make([]byte, 2*chunkSize+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var sent chunkList
	if err := sendChunks(func(c *pb.Chunk) error { sent = append(sent, c); return nil }, data); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 3 {
		t.Fatalf("%d chunks", len(sent))
	}
	got, err := recvChunks(&sent, uint64(len(data)))
	if err != nil || string(got) != string(data) {
		t.Fatalf("round trip: %v", err)
	}
	for name, chunks := range map[string]chunkList{
		"over limit":   {{TotalSize: 1 << 40, Data: []byte{1}}},
		"short stream": {{TotalSize: 10, Data: []byte{1, 2}}},
		"total change": {{TotalSize: 4, Data: []byte{1, 2}}, {TotalSize: 5, Data: []byte{3, 4}}},
		"overflow":     {{TotalSize: 2, Data: []byte{1, 2, 3}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := recvChunks(&chunks, 1<<20); !errors.Is(err, ErrBadPeerMessage) {
				t.Fatalf("want ErrBadPeerMessage, got %v", err)
			}
		})
	}
	empty := chunkList{{TotalSize: 0}}
	if b, err := recvChunks(&empty, 10); err != nil || len(b) != 0 {
		t.Fatalf("empty object: %v", err)
	}
}

// TestInfoRoundTrip: a node's description survives the wire, with and
// without the optional parts.
func TestInfoRoundTrip(t *testing.T) {
	full := &NodeInfo{Node: "insurer", Federation: "f", Preset: "coef13", Version: "v1", Owners: []string{"insurer", "retailer"},
		Columns: []string{"age_band", "claims", "exposure"}, SetupDone: true, MinGroupSize: 10,
		Bounds:    map[string][2]float64{"age_band": {0, 3}, "claims": {0, 50}, "exposure": {0, 12}},
		Levels:    map[string][]string{"age_band": {"18-34", "35-49", "50-64", "65+"}},
		Units:     map[string]string{"exposure": "months"},
		Estimated: map[string]BoundsEstimate{"claims": {Epsilon: 0.1, Quantile: 0.98}, "exposure": {Epsilon: 0.2, Quantile: 0.99, Lo: true}},
		Budget:    &QuerierBudget{Querier: "alice", Budget: ledger.Budget{Epsilon: 10, Delta: 1e-5}, Left: ledger.Budget{Epsilon: 9, Delta: 9.9e-6}}}
	bare := &NodeInfo{Node: "retailer", Federation: "f", Preset: "coef13", Owners: []string{"insurer", "retailer"}, Columns: []string{"spend"}}
	for _, want := range []*NodeInfo{full, bare} {
		b, err := proto.Marshal(infoToProto(want))
		if err != nil {
			t.Fatal(err)
		}
		var r pb.InfoResponse
		if err := proto.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if got := infoFromProto(&r); !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	}
}
