package party_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/synth"
)

// TestJointCategoricalRate: over real gRPC, a rate grouped by the insurer's
// categorical age band, asked for without cut points, comes out per level,
// labelled with the level names the insurer declares, per year of exposure
// (declared in months), and equal to the plaintext join in exact mode; the
// age band and the exposure get no mean, variance or r, since the query
// correlates only diet-aid spend with diabetes claims. Pooled insurers
// must declare the same levels; cut points on a categorical column are
// refused, naming it.
func TestJointCategoricalRate(t *testing.T) {
	r, i := jointWorld(t, 600, 0.5)
	ia, ib := partytest.Split(i, func(k int) bool { return k%2 == 0 })
	bands := synth.DefaultModel().AgeBands
	if !slices.Equal(i.ColumnLevels("age_band"), bands) || i.ColumnUnit("exposure_months") != "months" {
		t.Fatalf("the world declares levels %v and exposure unit %q", i.ColumnLevels("age_band"), i.ColumnUnit("exposure_months"))
	}
	// Plaintext: claims and exposure per band over the common customers.
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	var n, ev, ex [4]float64
	for _, key := range r.Keys {
		if j, ok := rowOf[string(key)]; ok {
			b := int(i.Values["age_band"][j])
			n[b], ev[b], ex[b] = n[b]+1, ev[b]+i.Values["claims_diabetes"][j], ex[b]+i.Values["exposure_months"][j]
		}
	}
	query := func(y string) party.JointRequest {
		ref := func(owner, name string) aggregate.ColumnRef { return aggregate.ColumnRef{Owner: owner, Name: name} }
		spend, claims := ref(partytest.NodeName(0), "spend_diet_aids"), ref(y, "claims_diabetes")
		exposure, band := ref(y, "exposure_months"), ref(y, "age_band")
		return party.JointRequest{
			X: []aggregate.ColumnRef{spend}, Y: []aggregate.ColumnRef{claims, exposure, band},
			Correlations: true, CorrelationX: []aggregate.ColumnRef{spend}, CorrelationY: []aggregate.ColumnRef{claims},
			Rates:   []aggregate.RateRequest{{Events: claims, Exposure: exposure, By: band}},
			Purpose: "research", Exact: true,
		}
	}
	pool := &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(1), partytest.NodeName(2)}}
	for _, tc := range []struct {
		name  string
		data  []party.Dataset
		owner string
		pool  *party.Pool
	}{
		{"two owners", []party.Dataset{r, i}, partytest.NodeName(1), nil},
		{"pooled", []party.Dataset{r, ia, ib}, "insurers", pool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := partytest.Start(t, len(tc.data), partytest.Options{Datasets: tc.data})
			req := query(tc.owner)
			req.Pool = tc.pool
			res, err := c.Dial(t, 0).Joint(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var rates []string
			for _, cell := range res.Cells {
				switch cell.Statistic {
				case aggregate.CellMean, aggregate.CellVariance, aggregate.CellPearson:
					if col := cell.X + cell.Y; strings.Contains(col, "age_band") || strings.Contains(col, "exposure") {
						t.Errorf("%s of %s released; no correlation asks for it", cell.Statistic, col)
					}
				case aggregate.CellRate:
					b := slices.Index(bands, cell.Group)
					if b < 0 || cell.Per != "year" || cell.N != n[b] {
						t.Fatalf("rate cell group %q per %q over %v people: want a level's name, per year, over %v", cell.Group, cell.Per, cell.N, n[max(b, 0)])
					}
					if want := 12 * ev[b] / ex[b]; math.Abs(cell.Value-want) > 1e-6*math.Max(1, want) {
						t.Errorf("rate of %s = %v per year, want %v", cell.Group, cell.Value, want)
					}
					rates = append(rates, cell.Group)
				}
			}
			if !slices.Equal(rates, bands) {
				t.Errorf("rates of groups %v, want %v", rates, bands)
			}
			checkPearson(t, res, r, i, tc.owner, 1)

			bad := req
			bad.Rates = []aggregate.RateRequest{req.Rates[0]}
			bad.Rates[0].Edges = []float64{0.5, 1.5, 2.5}
			_, err = c.Dial(t, 0).Joint(context.Background(), bad)
			if !errors.Is(err, party.ErrBadRequest) || !strings.Contains(err.Error(), tc.owner+".age_band") || !strings.Contains(err.Error(), "categorical") {
				t.Fatalf("cut points on a categorical column: %v", err)
			}
		})
	}
	t.Run("pooled levels differ", func(t *testing.T) {
		other := *ib
		other.Levels = maps.Clone(ib.Levels)
		other.Levels["age_band"] = []string{"young", "adult", "middle", "old"}
		c := partytest.Start(t, 3, partytest.Options{Datasets: []party.Dataset{r, ia, &other}})
		req := query("insurers")
		req.Pool = pool
		_, err := c.Dial(t, 0).Joint(context.Background(), req)
		if !errors.Is(err, party.ErrBadRequest) || !strings.Contains(err.Error(), "pooled owners must agree") {
			t.Fatalf("pooled owners with other levels: %v", err)
		}
	})
}
