package party

import (
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestProgressReports: phases that end one right after the other each
// report their end (done = total), in order, and no phase goes backwards.
func TestProgressReports(t *testing.T) {
	tr := newTracker()
	var mu sync.Mutex
	var got []Progress
	stop := report(tr, hclog.NewNullLogger(), func(p Progress) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
		return nil
	})
	for _, phase := range []string{PhaseMatching, PhaseUpload, PhaseRelease} {
		tr.begin(phase, unitBlocks, 100)
		tr.begin(phase, unitBlocks, 50) // a second session of the phase
		for range 10 {
			tr.add(7)
		}
		tr.end()
	}
	stop()
	var phases []string
	last := map[string]int64{}
	for k, p := range got {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		if p.Done < last[p.Phase] || p.Total != 150 {
			t.Fatalf("report %d: %+v after %d", k, p, last[p.Phase])
		}
		last[p.Phase] = p.Done
	}
	if len(phases) != 3 || phases[0] != PhaseMatching || phases[2] != PhaseRelease {
		t.Fatalf("phases %v", phases)
	}
	for _, ph := range phases {
		if last[ph] != 150 {
			t.Errorf("phase %s ends at %d of 150", ph, last[ph])
		}
	}
}
