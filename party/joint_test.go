package party_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/pki"
)

// jointWorld loads a generated world's retailer and insurer tables.
func jointWorld(t *testing.T, customers int, overlap float64) (*party.Table, *party.Table) {
	t.Helper()
	r, i, _ := partytest.World(t, customers, overlap, 21)
	return r, i
}

// correlation is a research query for the correlations of node0's column
// x with node1's column y, at privacy cost (eps, delta).
func correlation(x, y string, eps, delta float64) party.JointRequest {
	return party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: x}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: y}},
		Correlations: true, Purpose: "research", Epsilon: eps, Delta: delta,
	}
}

// plainJoin computes the sufficient statistics of x (retailer) and y
// (insurer) over the records both hold, joined on the identifier.
func plainJoin(r, i *party.Table, x, y string) (n, sx, sy, sxx, syy, sxy float64) {
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		a, b := r.Values[x][k], i.Values[y][j]
		n++
		sx, sy, sxx, syy, sxy = sx+a, sy+b, sxx+a*a, syy+b*b, sxy+a*b
	}
	return
}

// checkPearson compares every Pearson r of an exact result (x columns of
// node0's r, y columns of yOwner's ins) with the plaintext join, and counts
// them.
func checkPearson(t *testing.T, res *party.JointResult, r, ins *party.Table, yOwner string, want int) {
	t.Helper()
	checked := 0
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellPearson {
			continue
		}
		x := strings.TrimPrefix(cell.X, partytest.NodeName(0)+".")
		y := strings.TrimPrefix(cell.Y, yOwner+".")
		n, sx, sy, sxx, syy, sxy := plainJoin(r, ins, x, y)
		rho := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
		if math.Abs(cell.Value-rho) > 1e-6 || cell.N != n || !cell.Exact {
			t.Fatalf("r(%s, %s) = %v over %v records, want %v over %v", x, y, cell.Value, cell.N, rho, n)
		}
		checked++
	}
	if checked != want {
		t.Fatalf("%d correlations checked, want %d", checked, want)
	}
}

func TestJointQueryExact(t *testing.T) {
	r, i := jointWorld(t, 600, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	ref := func(owner int, name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(owner), Name: name}
	}
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{ref(0, "spend_diet_aids"), ref(0, "spend_alcohol")},
		Y:            []aggregate.ColumnRef{ref(1, "claims_diabetes"), ref(1, "claims_liver"), ref(1, "exposure_months")},
		Correlations: true,
		Rates:        []aggregate.RateRequest{{Events: ref(1, "claims_diabetes"), Exposure: ref(1, "exposure_months"), By: ref(0, "spend_diet_aids"), Edges: []float64{50, 200}}},
		Purpose:      "research",
		Exact:        true,
	}
	res, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	checkPearson(t, res, r, i, partytest.NodeName(1), 6)
	// Rates per bucket of diet-aid spend, against the plaintext join.
	rowOf := map[string]int{}
	for k, key := range i.Keys {
		rowOf[string(key)] = k
	}
	edges := []float64{50, 200}
	var ev, ex [3]float64
	for k, key := range r.Keys {
		j, ok := rowOf[string(key)]
		if !ok {
			continue
		}
		b := 0
		for b < len(edges) && r.Values["spend_diet_aids"][k] >= edges[b] {
			b++
		}
		ev[b] += i.Values["claims_diabetes"][j]
		ex[b] += i.Values["exposure_months"][j]
	}
	var rates int
	for _, cell := range res.Cells {
		if cell.Statistic != aggregate.CellRate {
			continue
		}
		// Exposure is declared in months: the rate is per year.
		want := 12 * ev[rates] / ex[rates]
		if math.Abs(cell.Value-want) > 1e-6*math.Max(1, want) || cell.Per != "year" {
			t.Fatalf("rate in bucket %s = %v per %q, want %v per year", cell.Group, cell.Value, cell.Per, want)
		}
		rates++
	}
	if rates != 3 {
		t.Fatalf("%d rate cells, want 3 buckets", rates)
	}

	// The same query with DP noise: charged at both owners, values near the
	// exact ones, every cell carrying its noise scale.
	req.Exact, req.Epsilon, req.Delta = false, 1, 1e-6
	noisy, err := c.Dial(t, 0).Joint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if noisy.Exact || len(noisy.Cells) != len(res.Cells) {
		t.Fatalf("noisy result: exact=%v, %d cells", noisy.Exact, len(noisy.Cells))
	}
	for k, cell := range noisy.Cells {
		if cell.Statistic == aggregate.CellCount && (cell.NoiseStd <= 0 || math.Abs(cell.Value-res.Cells[k].Value) > 8*cell.NoiseStd+1) {
			t.Fatalf("noisy count %v ± %v, exact %v", cell.Value, cell.NoiseStd, res.Cells[k].Value)
		}
	}
	for k := range c.Configs {
		acc, err := ledgerSpent(c.Configs[k])
		if err != nil {
			t.Fatal(err)
		}
		if acc != 1 {
			t.Fatalf("%s charged ε = %v, want 1", c.Configs[k].Name, acc)
		}
	}
}

func ledgerSpent(cfg party.Config) (float64, error) {
	accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
	if err != nil {
		return 0, err
	}
	for _, a := range accounts {
		if a.Querier == partytest.Querier {
			return a.Spent.Epsilon, nil
		}
	}
	return 0, nil
}

// TestJointTranscriptHasNoValues: no plaintext value of either side appears
// in any message a node sends during a joint query, neither as a float64 nor
// in any fixed-point encoding.
func TestJointTranscriptHasNoValues(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	ia, ib := partytest.Split(i, func(k int) bool { return k%2 == 0 })
	x := []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, {Owner: partytest.NodeName(0), Name: "spend_alcohol"}}
	y := func(owner string) []aggregate.ColumnRef {
		return []aggregate.ColumnRef{{Owner: owner, Name: "claims_diabetes"}, {Owner: owner, Name: "exposure_months"}}
	}
	for _, tc := range []struct {
		name string
		data []party.Dataset
		req  party.JointRequest
	}{
		{"two owners", []party.Dataset{r, i}, party.JointRequest{X: x, Y: y(partytest.NodeName(1))}},
		{"pooled", []party.Dataset{r, ia, ib}, party.JointRequest{X: x, Y: y("insurers"),
			Pool: &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(1), partytest.NodeName(2)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Correlations, tc.req.Purpose, tc.req.Exact = true, "research", true
			c := partytest.Start(t, len(tc.data), partytest.Options{Datasets: tc.data})
			checkTranscripts(t, c, tc.req, r, i)
		})
	}
}

// checkTranscripts runs req and scans every message every node sent for an
// encoding of a plaintext value of the query's columns (r holds the x
// columns, i every y owner's records).
func checkTranscripts(t *testing.T, c *partytest.Cluster, req party.JointRequest, r, i *party.Table) {
	t.Helper()
	before := make([]int, len(c.Transcripts))
	for k, rec := range c.Transcripts {
		before[k] = len(rec.Messages())
	}
	if _, err := c.Dial(t, 0).Joint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// Declared bounds are public and travel in the query; a value equal to a
	// bound (clipped, or a full year of exposure) is not a leak there.
	public := map[float64]bool{}
	for _, tab := range []*party.Table{r, i} {
		for _, b := range tab.Bounds {
			public[b[0]], public[b[1]] = true, true
		}
	}
	patterns := map[string]bool{}
	add := func(vals []float64) {
		for _, v := range vals {
			if v == 0 || public[v] {
				continue
			}
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			patterns[string(b[:])] = true
			for f := 0; f <= 24; f++ {
				e := int64(math.Round(v * math.Exp2(float64(f))))
				if e < 1<<20 {
					continue // small integers occur anywhere by chance
				}
				binary.LittleEndian.PutUint64(b[:], uint64(e))
				patterns[string(b[:])] = true
			}
		}
	}
	for _, col := range []string{"spend_diet_aids", "spend_alcohol"} {
		add(r.Values[col])
	}
	for _, col := range []string{"claims_diabetes", "exposure_months"} {
		add(i.Values[col])
	}
	var scanned int
	for k, rec := range c.Transcripts {
		for _, m := range rec.Messages()[before[k]:] {
			scanned += len(m)
			for off := 0; off+8 <= len(m); off++ {
				if patterns[string(m[off:off+8])] {
					t.Fatalf("%s sent a plaintext value's encoding: %x at offset %d of a %d-byte message (context %x)", c.Configs[k].Name, m[off:off+8], off, len(m), m[max(0, off-16):min(len(m), off+24)])
				}
			}
		}
	}
	if scanned < 10000 {
		t.Fatalf("only %d bytes scanned", scanned)
	}
}

// TestSingleOutQueryIsNoised: a column that is zero except for one customer
// is released with noise at least at the calibrated scale, so the answer
// does not reveal that customer's value.
func TestSingleOutQueryIsNoised(t *testing.T) {
	const n = 200
	r := &party.Table{Values: map[string][]float64{"x": make([]float64, n)}, Bounds: map[string][2]float64{"x": {0, 5000}}}
	i := &party.Table{Values: map[string][]float64{"y": make([]float64, n)}, Bounds: map[string][2]float64{"y": {0, 10}}}
	for k := 0; k < n; k++ {
		key := []byte(fmt.Sprintf("person%03d@example.org", k))
		r.Keys, i.Keys = append(r.Keys, key), append(i.Keys, key)
		i.Values["y"][k] = float64(k % 3)
	}
	r.Values["x"][17] = 5000 // the one customer singled out
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := correlation("x", "y", 2, 1e-6)
	client := c.Dial(t, 0)
	var means []float64
	var calibrated float64
	const repeats = 16
	for k := 0; k < repeats; k++ {
		res, err := client.Joint(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, cell := range res.Cells {
			if cell.Statistic == aggregate.CellMean && cell.X == partytest.NodeName(0)+".x" {
				means = append(means, cell.Value*cell.N) // the released Σx, up to the noisy n
				calibrated = cell.NoiseStd * cell.N
			}
		}
	}
	if len(means) != repeats || calibrated <= 0 {
		t.Fatalf("%d means, calibrated σ %v", len(means), calibrated)
	}
	var mean, sq float64
	for _, m := range means {
		mean += m
	}
	mean /= float64(len(means))
	for _, m := range means {
		sq += (m - mean) * (m - mean)
	}
	std := math.Sqrt(sq / float64(len(means)-1))
	t.Logf("Σx released %.0f ± %.0f empirical, calibrated σ %.0f; true Σx 5000", mean, std, calibrated)
	// The calibrated σ of Σx exceeds the one customer's contribution's
	// scale, and the empirical spread matches it.
	if calibrated < 5000/4 {
		t.Fatalf("calibrated noise σ %.0f of Σx is small against the one value 5000", calibrated)
	}
	// With 16 draws the sample σ is within [0.45, 2.2] of the true one with
	// probability above 0.999.
	if std < 0.45*calibrated || std > 2.2*calibrated {
		t.Fatalf("empirical noise σ %.0f, calibrated %.0f", std, calibrated)
	}
}

// TestAuditTrail: every node's audit log verifies with its certificate and
// records setup, matching, the query, the policy decision and the release.
func TestAuditTrail(t *testing.T) {
	r, i := jointWorld(t, 200, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := correlation("spend_diet_aids", "claims_diabetes", 0, 0)
	req.Exact = true
	if _, err := c.Dial(t, 0).Joint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range c.Configs {
		cert, err := pki.LoadCertificate(filepath.Join(cfg.TLSDir, cfg.Name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(cfg.AuditPath())
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.Verify(bytes.NewReader(b), cert.PublicKey.(ed25519.PublicKey)); err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		events, _, err := audit.ReadEvents(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[audit.Kind]int{}
		for _, e := range events {
			kinds[e.Kind]++
		}
		for _, k := range []audit.Kind{audit.KindSetup, audit.KindMatching, audit.KindQueryReceived, audit.KindPolicyDecision, audit.KindRelease} {
			if kinds[k] == 0 {
				t.Fatalf("%s: no %s event in %v", cfg.Name, k, kinds)
			}
		}
	}
}

// TestJointQueryPooledOwners is the three-owner federation: one retailer
// and two insurers with disjoint policyholders. A query pooling both
// insurers equals the plaintext join of the retailer with the union of
// their records; a query with one insurer equals its own join, released
// by those two owners alone; every owner of a pooled query is charged.
func TestJointQueryPooledOwners(t *testing.T) {
	r, whole := jointWorld(t, 600, 0.5)
	ia, ib := partytest.Split(whole, func(k int) bool { return k%3 != 0 })
	c := partytest.Start(t, 3, partytest.Options{Datasets: []party.Dataset{r, ia, ib}})
	x := func(name string) aggregate.ColumnRef {
		return aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: name}
	}
	pool := &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(1), partytest.NodeName(2)}}
	y := func(owner, name string) aggregate.ColumnRef { return aggregate.ColumnRef{Owner: owner, Name: name} }
	client := c.Dial(t, 0)

	t.Run("pooled", func(t *testing.T) {
		req := party.JointRequest{
			X:            []aggregate.ColumnRef{x("spend_diet_aids"), x("spend_alcohol")},
			Y:            []aggregate.ColumnRef{y("insurers", "claims_diabetes"), y("insurers", "claims_liver")},
			Pool:         pool,
			Correlations: true,
			Purpose:      "research",
			Exact:        true,
		}
		res, err := client.Joint(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Owners) != 3 {
			t.Fatalf("owners %v, want all three", res.Owners)
		}
		checkPearson(t, res, r, whole, "insurers", 4)
		// Neither insurer alone gives these values: the pool is the union.
		na, _, _, _, _, _ := plainJoin(r, ia, "spend_diet_aids", "claims_diabetes")
		nb, _, _, _, _, _ := plainJoin(r, ib, "spend_diet_aids", "claims_diabetes")
		if na == 0 || nb == 0 {
			t.Fatalf("split left an insurer without common customers (%v, %v)", na, nb)
		}

		// With DP noise every owner is charged, and the result says what
		// each has left.
		req.Exact, req.Epsilon, req.Delta = false, 1, 1e-6
		noisy, err := client.Joint(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for k, cfg := range c.Configs {
			spent, err := ledgerSpent(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if spent != 1 {
				t.Fatalf("%s charged ε = %v, want 1", cfg.Name, spent)
			}
			accounts, err := ledger.Snapshot(cfg.LedgerPath(), cfg.Budgets())
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range accounts {
				if a.Querier == partytest.Querier && noisy.BudgetLeft[cfg.Name] != a.Remaining {
					t.Fatalf("node %d: result says %+v left, the ledger %+v", k, noisy.BudgetLeft[cfg.Name], a.Remaining)
				}
			}
		}
		if len(noisy.BudgetLeft) != 3 {
			t.Fatalf("budget left reported for %d owners, want 3", len(noisy.BudgetLeft))
		}
	})

	// The retailer restarts: the keys of a pair of owners come from the
	// setup shares it kept.
	c.StopNode(t, 0)
	c.StartNode(t, 0)
	// Its setup from the kept shares finishes before an insurer stops.
	c.WaitSetup(t)

	t.Run("one insurer", func(t *testing.T) {
		req := party.JointRequest{
			X:            []aggregate.ColumnRef{x("spend_diet_aids"), x("spend_alcohol")},
			Y:            []aggregate.ColumnRef{y(partytest.NodeName(2), "claims_diabetes"), y(partytest.NodeName(2), "claims_liver")},
			Correlations: true,
			Purpose:      "research",
			Exact:        true,
		}
		// The other insurer takes no part: the release needs only the
		// retailer's and this insurer's shares.
		c.StopNode(t, 1)
		res, err := c.Dial(t, 0).Joint(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		checkPearson(t, res, r, ib, partytest.NodeName(2), 4)
	})

	t.Run("bad pools", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			pool *party.Pool
			y    string
			want string
		}{
			{"unknown owner", &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(2), "nobody"}}, "insurers", "not another data owner"},
			{"evaluator in pool", &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(0), partytest.NodeName(2)}}, "insurers", "not another data owner"},
			{"one owner", &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(2)}}, "insurers", "2 to"},
			{"column not pooled", pool, partytest.NodeName(2), "not the pool's"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
					X: []aggregate.ColumnRef{x("spend_diet_aids")}, Y: []aggregate.ColumnRef{y(tc.y, "claims_diabetes")},
					Pool: tc.pool, Correlations: true, Purpose: "research", Exact: true,
				})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	})
}

// TestPooledBoundsMustAgree: pooled owners that declare a column with
// different bounds are named in the error, and nothing is charged.
func TestPooledBoundsMustAgree(t *testing.T) {
	r, whole := jointWorld(t, 200, 0.5)
	ia, ib := partytest.Split(whole, func(k int) bool { return k%2 == 0 })
	ib.Bounds = map[string][2]float64{}
	for col, b := range whole.Bounds {
		ib.Bounds[col] = b
	}
	ib.Bounds["claims_diabetes"] = [2]float64{0, 7}
	c := partytest.Start(t, 3, partytest.Options{Datasets: []party.Dataset{r, ia, ib}})
	_, err := c.Dial(t, 0).Joint(context.Background(), party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}},
		Y:            []aggregate.ColumnRef{{Owner: "insurers", Name: "claims_diabetes"}},
		Pool:         &party.Pool{Name: "insurers", Owners: []string{partytest.NodeName(1), partytest.NodeName(2)}},
		Correlations: true, Purpose: "research", Epsilon: 1, Delta: 1e-6,
	})
	if err == nil || !strings.Contains(err.Error(), "pooled owners must agree") || !strings.Contains(err.Error(), partytest.NodeName(2)) {
		t.Fatalf("error %v, want the disagreeing bounds named", err)
	}
	for k := range c.Configs {
		if spent, err := ledgerSpent(c.Configs[k]); err != nil || spent != 0 {
			t.Fatalf("%s charged ε = %v (%v) for a refused query", c.Configs[k].Name, spent, err)
		}
	}
}
