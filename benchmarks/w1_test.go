package benchmarks

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

var (
	w1Customers = flag.Int("w1-n", 100000, "customers per side for BenchmarkW1 (1000000 for the 1M × 1M run)")
	w1Exact     = flag.Bool("w1-exact", false, "run BenchmarkW1 in exact mode instead of with DP noise at -w1-epsilon")
	w1Epsilon   = flag.Float64("w1-epsilon", 8, "privacy cost of BenchmarkW1's query")
	w1Insurers  = flag.Int("w1-insurers", 1, "insurers in BenchmarkW1: 2 splits the insurer's policyholders between two nodes and pools them")
)

// BenchmarkW1 is workload W1: a retailer and an insurer with n customers
// each (50% shared), the correlation of every spend category with every
// claim type and exposure, over real loopback gRPC with mutual TLS at
// coef13, with DP noise at -w1-epsilon (or exact with -w1-exact). With
// -w1-insurers 2 the insurer's policyholders are split between two nodes
// (alternate rows) whose columns the query pools: the same statistics over
// three owners. It reports the wall time of each phase, the upload's bytes
// per record per column, and the ratio to the same statistics computed by
// joining the plaintext tables in the clear, in the same run.
//
//	go test ./benchmarks -run '^$' -bench W1 -benchtime 1x
//	go test ./benchmarks -run '^$' -bench W1 -benchtime 1x -w1-insurers 2
//	go test ./benchmarks -run '^$' -bench W1 -benchtime 1x -w1-n 1000000 -timeout 3h
func BenchmarkW1(b *testing.B) {
	ctx := context.Background()
	r, i, _ := partytest.World(b, *w1Customers, 0.5, 1)
	data, yOwner := []party.Dataset{r, i}, partytest.NodeName(1)
	var pool *party.Pool
	switch *w1Insurers {
	case 1:
	case 2:
		ia, ib := partytest.Split(i, func(k int) bool { return k%2 == 0 })
		data, yOwner = []party.Dataset{r, ia, ib}, "insurers"
		pool = &party.Pool{Name: yOwner, Owners: []string{partytest.NodeName(1), partytest.NodeName(2)}}
	default:
		b.Fatalf("-w1-insurers %d: 1 or 2", *w1Insurers)
	}
	c := partytest.Start(b, len(data), partytest.Options{Preset: crypto.PresetCoef13, Datasets: data})

	req := party.JointRequest{Correlations: true, Purpose: "research", Exact: *w1Exact, Epsilon: *w1Epsilon, Delta: 1e-6, Pool: pool}
	if *w1Exact {
		req.Epsilon, req.Delta = 0, 0
	}
	for _, col := range r.Columns() {
		req.X = append(req.X, aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: col})
	}
	for _, col := range i.Columns() {
		if strings.HasPrefix(col, "claims_") || col == "exposure_months" {
			req.Y = append(req.Y, aggregate.ColumnRef{Owner: yOwner, Name: col})
		}
	}
	client := c.Dial(b, 0)
	var match, uploadEval, release, total, plain time.Duration
	var bpc float64
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		start := time.Now()
		for peer := 1; peer < len(data); peer++ {
			if _, _, err := c.Nodes[0].Match(ctx, partytest.NodeName(peer)); err != nil {
				b.Fatal(err)
			}
		}
		match += time.Since(start)
		res, err := client.Joint(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		uploadEval += res.Phases["upload_evaluate"]
		release += res.Phases["release"]
		bpc = float64(res.UploadedBytes) / float64(res.UnionSize*res.UploadedColumns)

		start = time.Now()
		plaintextJoin(r, i, req)
		plain += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(match.Seconds()/n, "match-s")
	b.ReportMetric(uploadEval.Seconds()/n, "upload+eval-s")
	b.ReportMetric(release.Seconds()/n, "release-s")
	b.ReportMetric(total.Seconds()/n, "total-s")
	b.ReportMetric(bpc, "B/record/column")
	b.ReportMetric(float64(total)/float64(plain), "x-plaintext")
}

// plaintextJoin computes the same sufficient statistics in the clear, as
// the baseline the encrypted run is compared with.
func plaintextJoin(r, i *party.Table, req party.JointRequest) {
	row := make(map[string]int, len(i.Keys))
	for k, key := range i.Keys {
		row[string(key)] = k
	}
	sums := make([][6]float64, len(req.X)*len(req.Y))
	for k, key := range r.Keys {
		j, ok := row[string(key)]
		if !ok {
			continue
		}
		for a, x := range req.X {
			xv := r.Values[x.Name][k]
			for b, y := range req.Y {
				yv := i.Values[y.Name][j]
				s := &sums[a*len(req.Y)+b]
				s[0]++
				s[1] += xv
				s[2] += yv
				s[3] += xv * xv
				s[4] += yv * yv
				s[5] += xv * yv
			}
		}
	}
	_ = sums
}
