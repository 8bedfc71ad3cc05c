package benchmarks

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

var matchSizes = flag.String("match-n", "10000,100000", "records per side for BenchmarkMatch, comma separated (1000000 for the 1M x 1M run)")

// BenchmarkMatch runs private matching between two nodes in one process
// over real loopback gRPC with mutual TLS, n records per side, 50% overlap.
//
//	go test ./benchmarks -run '^$' -bench Match -benchtime 1x
//	go test ./benchmarks -run '^$' -bench Match -benchtime 1x -match-n 1000000 -timeout 3h
//
// Metrics: ms/record, the wall time per input record of one party;
// x-floor, the wall time over 2·n·c/GOMAXPROCS with c the single-core cost
// of one hash-to-group, five scalar multiplications and one encoding,
// measured in the same run right before and right after each matching run
// and averaged; B/record, the bytes both nodes sent per input record; cores,
// the process CPU time over the wall time (both nodes share the process, so
// 2 means both cores of a 2-core machine were busy throughout, and less
// means idle time or other load on the machine).
func BenchmarkMatch(b *testing.B) {
	for _, f := range strings.Split(*matchSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			b.Fatalf("bad -match-n entry %q", f)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchMatch(b, n) })
	}
}

func benchMatch(b *testing.B, n int) {
	mk := func(offset int) *party.Table {
		t := &party.Table{Values: map[string][]float64{}}
		for i := 0; i < n; i++ {
			t.Keys = append(t.Keys, []byte(fmt.Sprintf("customer%08d@example.org", offset+i)))
		}
		return t
	}
	x, y := mk(0), mk(n/2) // 50% overlap
	c := partytest.Start(b, 2, partytest.Options{Datasets: []party.Dataset{x, y}})
	// The speed of a shared or virtual machine drifts over seconds, so c is
	// measured right before and right after every run and averaged.
	costPerRecord := func() time.Duration {
		cost, err := match.CostPerRecord(2000)
		if err != nil {
			b.Fatal(err)
		}
		return cost
	}
	var wall, cpu, cost time.Duration
	var sent int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		costBefore := costPerRecord()
		b.StartTimer()
		before := c.Transcripts[0].Bytes() + c.Transcripts[1].Bytes()
		cpuBefore := processCPU(b)
		start := time.Now()
		if _, _, err := c.Nodes[0].Match(context.Background(), partytest.NodeName(1)); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		cpu += processCPU(b) - cpuBefore
		sent += c.Transcripts[0].Bytes() + c.Transcripts[1].Bytes() - before
		b.StopTimer()
		cost += (costBefore + costPerRecord()) / 2
		b.StartTimer()
	}
	b.StopTimer()
	cost /= time.Duration(b.N)
	per := wall / time.Duration(b.N)
	floor := time.Duration(float64(2*n) * float64(cost) / float64(runtime.GOMAXPROCS(0)))
	b.ReportMetric(float64(per.Microseconds())/1e3/float64(n), "ms/record")
	b.ReportMetric(float64(per)/float64(floor), "x-floor")
	b.ReportMetric(float64(sent)/float64(b.N)/float64(2*n), "B/record")
	b.ReportMetric(float64(cost.Microseconds()), "c-µs")
	b.ReportMetric(float64(cpu)/float64(wall), "cores")
}

var matchMKSizes = flag.String("match-mk-n", "10000", "records per side for BenchmarkMatchMultiKey, comma separated")

// BenchmarkMatchMultiKey runs private matching on two identifier kinds
// (join_keys = ["email", "phone"]) between two nodes in one process over
// real loopback gRPC with mutual TLS, n records per side, and, in the same
// iteration, single-key matching (join_key = "email") of two other nodes
// at the same n, so that the ratios compare runs under the same load.
// Both have 50% overlap; of the multi-key pairs a third agree on both
// kinds, a third on the e-mail only and a third on the phone only.
//
//	go test ./benchmarks -run '^$' -bench MatchMultiKey -benchtime 1x
//	go test ./benchmarks -run '^$' -bench MatchMultiKey -benchtime 3x -match-mk-n 100000 -timeout 1h
//
// Metrics: ms/record and B/record of the multi-key run (as in
// BenchmarkMatch), single-ms/record and single-B/record of the single-key
// one; x-single, the wall-time ratio of the two, and cpu-x-single, the
// ratio of their process CPU times, which a shared machine distorts less;
// cpu-x-floor, the multi-key CPU time over 2·n·c_K with c_K the
// single-core cost of two hash-to-group, seven scalar multiplications and
// one encoding (match.CostPerRecordMultiKey), measured right before and
// after each run; cores and single-cores, each run's CPU time over its
// wall time (2: both cores of a 2-core machine busy throughout).
func BenchmarkMatchMultiKey(b *testing.B) {
	for _, f := range strings.Split(*matchMKSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			b.Fatalf("bad -match-mk-n entry %q", f)
		}
		b.Run(fmt.Sprintf("n=%d/kinds=2", n), func(b *testing.B) { benchMatchMultiKey(b, n) })
	}
}

func benchMatchMultiKey(b *testing.B, n int) {
	email := func(i int) []byte { return []byte(fmt.Sprintf("customer%08d@example.org", i)) }
	phone := func(i int) []byte { return []byte(fmt.Sprintf("+1%010d", 2120000000+i)) }
	single := func(offset int) *party.Table {
		t := &party.Table{Values: map[string][]float64{}}
		for i := offset; i < offset+n; i++ {
			t.Keys = append(t.Keys, email(i))
		}
		return t
	}
	multi := func(offset int) *party.Table {
		t := &party.Table{Values: map[string][]float64{}, KeyKinds: []string{"email", "phone"}}
		for i := offset; i < offset+n; i++ {
			e, p := email(i), phone(i)
			if offset > 0 && i < n { // the insurer's records of shared people
				switch i % 3 {
				case 1:
					p = phone(10*n + i) // another number: the e-mail matches
				case 2:
					e = email(10*n + i) // another address: the phone matches
				}
			}
			t.MultiKeys = append(t.MultiKeys, [][]byte{e, p})
		}
		return t
	}
	cs := partytest.Start(b, 2, partytest.Options{Datasets: []party.Dataset{single(0), single(n / 2)}})
	cm := partytest.Configure(b, 2, partytest.Options{Datasets: []party.Dataset{multi(0), multi(n / 2)}})
	for i := range cm.Configs {
		cm.Configs[i].JoinKeys = []string{"email", "phone"}
		cm.StartNode(b, i)
	}
	cm.WaitSetup(b)
	costPerRecord := func() time.Duration {
		cost, err := match.CostPerRecordMultiKey(2, 1000)
		if err != nil {
			b.Fatal(err)
		}
		return cost
	}
	type run struct {
		wall, cpu time.Duration
		sent      int
	}
	measure := func(c *partytest.Cluster, r *run, union int) {
		before := c.Transcripts[0].Bytes() + c.Transcripts[1].Bytes()
		cpuBefore := processCPU(b)
		start := time.Now()
		_, l, err := c.Nodes[0].Match(context.Background(), partytest.NodeName(1))
		if err != nil {
			b.Fatal(err)
		}
		r.wall += time.Since(start)
		r.cpu += processCPU(b) - cpuBefore
		r.sent += c.Transcripts[0].Bytes() + c.Transcripts[1].Bytes() - before
		if l.UnionSize != union {
			b.Fatalf("union of %d records, want %d", l.UnionSize, union)
		}
	}
	var one, two run
	var cost time.Duration
	union := n + n - n/2
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		costBefore := costPerRecord()
		b.StartTimer()
		measure(cm, &two, union)
		b.StopTimer()
		cost += (costBefore + costPerRecord()) / 2
		measure(cs, &one, union)
		b.StartTimer()
	}
	b.StopTimer()
	cost /= time.Duration(b.N)
	perRecord := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) / float64(n) }
	b.ReportMetric(perRecord(two.wall), "ms/record")
	b.ReportMetric(perRecord(one.wall), "single-ms/record")
	b.ReportMetric(float64(two.wall)/float64(one.wall), "x-single")
	b.ReportMetric(float64(two.cpu)/float64(one.cpu), "cpu-x-single")
	b.ReportMetric(float64(two.cpu)/float64(b.N)/(float64(2*n)*float64(cost)), "cpu-x-floor")
	b.ReportMetric(float64(two.sent)/float64(b.N)/float64(2*n), "B/record")
	b.ReportMetric(float64(one.sent)/float64(b.N)/float64(2*n), "single-B/record")
	b.ReportMetric(float64(cost.Microseconds()), "cK-µs")
	b.ReportMetric(float64(two.cpu)/float64(two.wall), "cores")
	b.ReportMetric(float64(one.cpu)/float64(one.wall), "single-cores")
}

// processCPU returns the user and system CPU time the process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
