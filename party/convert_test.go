package party

import (
	"errors"
	"io"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
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
	} {
		t.Run(name, func(t *testing.T) {
			s := proto.Clone(good).(*pb.QuerySpec)
			mutate(s)
			if _, err := queryFromProto(params, s); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("want ErrBadRequest, got %v", err)
			}
		})
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

func FuzzQueryFromProto(f *testing.F) {
	b, _ := proto.Marshal(testQuerySpec(f))
	f.Add(b)
	f.Add([]byte{0x0a, 0x00})
	params := crypto.MustParameters(crypto.PresetTest)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s pb.QuerySpec
		if proto.Unmarshal(raw, &s) != nil {
			return
		}
		q, err := queryFromProto(params, &s)
		if err == nil && (q.QuerierKey == nil || q.Joint == nil) {
			t.Fatal("accepted an incomplete query")
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
