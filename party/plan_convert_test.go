package party

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// TestPlanFromProto: a plan of the query sent, bounds filled in, survives
// the wire and gives the request the owners compile; a plan of anything
// else is refused.
func TestPlanFromProto(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	sent := testQuerySpec(t)
	for _, c := range append(sent.GetJoint().X, sent.GetJoint().Y...) {
		c.Lo, c.Hi = 0, 0 // as a querier sends it
	}
	filled := proto.Clone(sent).(*pb.QuerySpec)
	filled.Querier = "alice" // the node names the querier
	filled.GetJoint().X[0].Lo, filled.GetJoint().X[0].Hi = 0, 500
	filled.GetJoint().Y[0].Lo, filled.GetJoint().Y[0].Hi = 0, 10
	good := &pb.PlanResponse{Query: filled, Owners: []string{"retailer", "insurer"}, MinGroupSize: 25, Refusal: "purpose"}
	b, err := proto.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	var r pb.PlanResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	p, err := planFromProto(params, sent, &r)
	if err != nil {
		t.Fatal(err)
	}
	if p.MinGroupSize != 25 || p.Refusal != "purpose" || len(p.Owners) != 2 || p.Request.X[0].Hi != 500 || p.Request.Y[0].Hi != 10 ||
		p.Request.Owners != 2 || p.Request.MaxRecords != 0 || p.Request.Epsilon != 1 {
		t.Fatalf("plan %+v, request %+v", p, p.Request)
	}
	for name, mutate := range map[string]func(*pb.PlanResponse){
		"no query":       func(r *pb.PlanResponse) { r.Query = nil },
		"another id":     func(r *pb.PlanResponse) { r.Query.Id = "fedcba9876543210" },
		"another ε":      func(r *pb.PlanResponse) { r.Query.Epsilon = 2 },
		"another column": func(r *pb.PlanResponse) { r.Query.GetJoint().Y[0].Name = "liver" },
		"another owner":  func(r *pb.PlanResponse) { r.Owners = []string{"retailer", "bank"} },
		"no statistic":   func(r *pb.PlanResponse) { r.Query.GetJoint().Correlations = false },
	} {
		t.Run(name, func(t *testing.T) {
			r := proto.Clone(good).(*pb.PlanResponse)
			mutate(r)
			if _, err := planFromProto(params, sent, r); !errors.Is(err, ErrBadPeerMessage) && !errors.Is(err, ErrBadRequest) {
				t.Fatalf("want ErrBadPeerMessage, got %v", err)
			}
		})
	}
}
