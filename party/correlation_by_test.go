package party_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestJointGroupedCorrelation: over real gRPC, correlations grouped by the
// insurer's age band (its own uploaded indicators) and by buckets of the
// retailer's alcohol spend (the evaluator's) give, per group, the count
// and r equal to the plaintext join of that group in exact mode. With
// min_group_size above the people in one band, the owners withhold that
// band's sums in stage two: its cells say so, and the other bands are
// released.
func TestJointGroupedCorrelation(t *testing.T) {
	r, i := jointWorld(t, 800, 0.5)
	levels := i.ColumnLevels("age_band")
	rowOf, people := peoplePerBand(r, i)
	smallest := 0
	for l := range people {
		if people[l] < people[smallest] {
			smallest = l
		}
	}
	k := people[smallest] + 1
	for l, n := range people {
		if l != smallest && n < k+10 {
			t.Fatalf("people per band %v: more than one band near %d", people, k)
		}
	}
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	for n := range c.Configs {
		c.Configs[n].Policy.MinGroupSize = k
	}
	c.StartAll(t)
	client := c.Dial(t, 0)
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	spend, alcohol, claims, band := ref(0, "spend_diet_aids"), ref(0, "spend_alcohol"), ref(1, "claims_diabetes"), ref(1, "age_band")

	// plain returns r and the count of the joined records whose group
	// (the band, or the bucket of alcohol spend at edges) is g.
	plain := func(group func(k, j int) int, g int) (float64, float64) {
		var n, sx, sy, sxx, syy, sxy float64
		for k, key := range r.Keys {
			j, ok := rowOf[string(key)]
			if !ok || group(k, j) != g {
				continue
			}
			a, b := r.Values["spend_diet_aids"][k], i.Values["claims_diabetes"][j]
			n++
			sx, sy, sxx, syy, sxy = sx+a, sy+b, sxx+a*a, syy+b*b, sxy+a*b
		}
		return (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy)), n
	}
	check := func(res *party.JointResult, by aggregate.ColumnRef, labels []string, group func(k, j int) int, withheld int) {
		t.Helper()
		for g, label := range labels {
			want, n := plain(group, g)
			var count, pearson *aggregate.Cell
			for m := range res.Cells {
				cell := &res.Cells[m]
				switch {
				case cell.Group != label:
				case cell.Statistic == aggregate.CellCount && cell.X == by.String():
					count = cell
				case cell.Statistic == aggregate.CellPearson && cell.X == spend.String() && cell.Y == claims.String():
					pearson = cell
				}
			}
			if count == nil || pearson == nil {
				t.Fatalf("group %s: count %v, r %v", label, count, pearson)
			}
			if count.Value != n {
				t.Errorf("group %s: %v people, plaintext %v", label, count.Value, n)
			}
			switch {
			case g == withheld:
				if !pearson.Suppressed || !strings.Contains(pearson.Reason, "min_group_size") {
					t.Errorf("group %s of %v people, min_group_size %d: r %+v, want withheld", label, n, k, pearson)
				}
			case pearson.Suppressed || math.Abs(pearson.Value-want) > 1e-6 || pearson.N != n:
				t.Errorf("group %s: r %+v, plaintext %.8f over %v", label, pearson, want, n)
			}
		}
	}

	res, err := client.Joint(context.Background(), party.JointRequest{
		X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band},
		Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims},
		CorrelationBy: band, Purpose: "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	check(res, band, levels, func(_, j int) int { return int(i.Values["age_band"][j]) }, smallest)
	if res.Withheld == 0 {
		t.Errorf("no product withheld in stage two")
	}

	// Buckets of alcohol spend at its terciles among the joined records.
	var joined []float64
	for k, key := range r.Keys {
		if _, ok := rowOf[string(key)]; ok {
			joined = append(joined, r.Values["spend_alcohol"][k])
		}
	}
	slices.Sort(joined)
	edges := []float64{math.Round(joined[len(joined)/3]) + 0.5, math.Round(joined[2*len(joined)/3]) + 0.5}
	lo, hi, _ := r.ColumnBounds("spend_alcohol")
	labels := []string{"[" + num(lo) + "," + num(edges[0]) + ")", "[" + num(edges[0]) + "," + num(edges[1]) + ")", "[" + num(edges[1]) + "," + num(hi) + "]"}
	res, err = client.Joint(context.Background(), party.JointRequest{
		X: []aggregate.ColumnRef{spend, alcohol}, Y: []aggregate.ColumnRef{claims},
		Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims},
		CorrelationBy: alcohol, CorrelationEdges: edges, Purpose: "research", Exact: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := func(k, _ int) int {
		v := math.Min(math.Max(r.Values["spend_alcohol"][k], lo), hi)
		switch {
		case v < edges[0]:
			return 0
		case v < edges[1]:
			return 1
		}
		return 2
	}
	for g := range labels {
		if _, n := plain(bucket, g); n < float64(k)+10 {
			t.Fatalf("bucket %s holds %v people, too near min_group_size %d", labels[g], n, k)
		}
	}
	check(res, alcohol, labels, bucket, -1)
	assertCharges(t, c, 2, 2)

	// A querier's own malformed groupings are refused, naming the
	// problem, before anything is charged.
	for _, tc := range []struct {
		name string
		req  party.JointRequest
		want string
	}{
		{"a correlation column", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims},
			Correlations: true, CorrelationBy: claims, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims}}, "cannot also be one of their columns"},
		{"not in the query", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims},
			Correlations: true, CorrelationBy: band}, "neither an X nor a Y column"},
		{"cut points on levels", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, band},
			Correlations: true, CorrelationBy: band, CorrelationEdges: []float64{1.5}}, "without cut points"},
		{"extreme cut points", party.JointRequest{X: []aggregate.ColumnRef{spend, alcohol}, Y: []aggregate.ColumnRef{claims},
			Correlations: true, CorrelationBy: alcohol, CorrelationEdges: []float64{-1e308, 1e308}}, "inside its bounds"},
		{"grouping without correlations", party.JointRequest{X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, ref(1, "exposure_months"), band},
			Rates: []aggregate.RateRequest{{Events: claims, Exposure: ref(1, "exposure_months"), By: spend, Edges: []float64{50}}}, CorrelationBy: band}, "without correlations"},
	} {
		tc.req.Purpose, tc.req.Exact = "research", true
		if _, err := client.Joint(context.Background(), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	assertCharges(t, c, 2, 2)
}

// num writes a bound as a bucket label does.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
