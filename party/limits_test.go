package party_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestQueryOverLimitsIsFree: a query whose estimated memory exceeds the
// evaluating node's limits.query_memory is refused over real gRPC before
// any owner records or charges anything, with an error that says how much
// it needs and what to do; a small query still runs.
func TestQueryOverLimitsIsFree(t *testing.T) {
	r, i := jointWorld(t, 300, 0.5)
	c := partytest.Configure(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	c.Configs[0].MaxQueryMemory = 64 << 20
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	client := c.Dial(t, 0)
	big := party.JointRequest{Purpose: "research", Epsilon: 1, Delta: 1e-6, Correlations: true,
		X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, {Owner: partytest.NodeName(0), Name: "spend_alcohol"}},
		Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}, {Owner: partytest.NodeName(1), Name: "claims_liver"}},
		Contingencies: []aggregate.ContingencyRequest{{
			X: aggregate.ColumnRef{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, XEdges: edges(31),
			Y: aggregate.ColumnRef{Owner: partytest.NodeName(1), Name: "claims_diabetes"}, YEdges: edges(31),
		}},
	}
	_, err := client.Joint(context.Background(), big)
	if !errors.Is(err, party.ErrCapacity) || !strings.Contains(err.Error(), "limits.query_memory") {
		t.Fatalf("a query over the memory limit: %v, want ErrCapacity naming limits.query_memory", err)
	}
	for k := range c.Configs {
		if n := len(auditLog(t, c.Configs[k])) - countKind(t, c, k, audit.KindSetup) - countKind(t, c, k, audit.KindMatching); n != 0 {
			t.Errorf("%s recorded %d query events for a query refused for its size", c.Configs[k].Name, n)
		}
	}
	assertCharges(t, c, 0, 0)
	small := big
	small.Contingencies = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := client.Joint(ctx, small); err != nil {
		t.Fatalf("a small query: %v", err)
	}
}

// edges returns k evenly spaced cut points in (0, 1).
func edges(k int) []float64 {
	out := make([]float64, k)
	for j := range out {
		out[j] = float64(j+1) / float64(k+1)
	}
	return out
}

// TestQuerierGoneCancels: a querier that disconnects stops the work at
// every owner. Gone during the matching, nothing is charged anywhere; gone
// after the owners charged, nothing is released afterwards and both owners
// record the query as aborted (the y owner because the evaluator tells it
// so, well before its pending timeout). The next query runs, streaming its
// progress to the querier, each phase forward only and ending at its
// total.
func TestQuerierGoneCancels(t *testing.T) {
	if testing.Short() {
		t.Skip("a query of some seconds")
	}
	r, i := jointWorld(t, 6000, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	client := c.Dial(t, 0)
	req := party.JointRequest{Purpose: "research", Epsilon: 1, Delta: 1e-6, Correlations: true,
		X: []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, {Owner: partytest.NodeName(0), Name: "spend_alcohol"}},
		Y: []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}, {Owner: partytest.NodeName(1), Name: "claims_liver"}},
	}
	// Gone during the matching, before any charge: nothing is charged,
	// released or recorded as aborted anywhere.
	ctx, cancel := context.WithCancel(context.Background())
	ctx = party.WithProgress(ctx, func(p party.Progress) {
		if p.Phase == party.PhaseMatching {
			cancel()
		}
	})
	if _, err := client.Joint(ctx, req); err == nil {
		t.Fatal("the query cancelled during its matching returned a result")
	}
	assertCharges(t, c, 0, 0)
	time.Sleep(300 * time.Millisecond)
	if countKind(t, c, 0, audit.KindRelease)+countKind(t, c, 1, audit.KindRelease) != 0 {
		t.Fatal("a release after the querier left during the matching")
	}

	// Gone after the charge: whatever the owners had not released when the
	// querier left stays unreleased, and both record the query as aborted.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := client.Joint(ctx, req)
		done <- err
	}()
	charged := func() string {
		for _, ev := range auditLog(t, c.Configs[1]) {
			if ev.Kind == audit.KindPolicyDecision && ev.Detail[audit.DetailDecision] == audit.DecisionAllow {
				return ev.QueryID
			}
		}
		return ""
	}
	waitFor(t, "the y owner's charge", func() bool { return charged() != "" })
	id := charged()
	left := time.Now()
	cancel()
	if err := <-done; err == nil {
		t.Log("the query was answered before its querier left; nothing more to check")
	} else {
		waitFor(t, "both owners to record the query as aborted", func() bool {
			return countKind(t, c, 0, audit.KindQueryAborted) == 1 && countKind(t, c, 1, audit.KindQueryAborted) == 1
		})
		time.Sleep(500 * time.Millisecond) // anything still running would release by now
		// A release the evaluator asked for just before the cancellation
		// reached it (the counts, which go to the owners) may land a moment
		// after the querier left; the result, which comes a stage later,
		// must not.
		for _, cfg := range c.Configs {
			for _, ev := range auditLog(t, cfg) {
				if ev.QueryID == id && ev.Kind == audit.KindRelease && ev.Detail[audit.DetailStage] == audit.StageResult && ev.Time.After(left) {
					t.Errorf("%s released the result of query %s after its querier left", cfg.Name, id)
				}
			}
		}
	}
	// The next query runs, and reports its progress: each phase in order,
	// never backwards (the client checks), ending at its total.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	var events []party.Progress
	ctx2 = party.WithProgress(ctx2, func(p party.Progress) { events = append(events, p) })
	if _, err := client.Joint(ctx2, req); err != nil {
		t.Fatalf("the next query: %v", err)
	}
	// The cancelled queries matched already, so this one reuses the
	// layout and has no matching phase.
	checkProgress(t, events, party.PhaseUpload, party.PhaseRelease)
}

// checkProgress checks that events report the phases in order, each
// ending with done = total.
func checkProgress(t *testing.T, events []party.Progress, phases ...string) {
	t.Helper()
	var seen []string
	for k, p := range events {
		if len(seen) == 0 || seen[len(seen)-1] != p.Phase {
			seen = append(seen, p.Phase)
		}
		if p.Total <= 0 || p.Done < 0 || p.Done > p.Total || p.Unit == "" {
			t.Errorf("event %d: %+v", k, p)
		}
		if k+1 == len(events) || events[k+1].Phase != p.Phase {
			if p.Done != p.Total {
				t.Errorf("phase %s ends at %d of %d", p.Phase, p.Done, p.Total)
			}
		}
	}
	if strings.Join(seen, ",") != strings.Join(phases, ",") {
		t.Errorf("phases reported %v, want %v (%d events)", seen, phases, len(events))
	}
	t.Logf("%d progress events, phases %v", len(events), seen)
}
