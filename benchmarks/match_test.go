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

// processCPU returns the user and system CPU time the process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
