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

// TestFollowSessions: a query waiting for a layout counts the work of
// every matching session with the peer while it waits, including one that
// begins and ends between two of its looks and one already running when it
// began to follow, and its phase ends exactly done.
func TestFollowSessions(t *testing.T) {
	session := func(l *layouts, total, done int64) (*tracker, func()) {
		t.Helper()
		s := newTracker()
		release, err := l.acquire(t.Context(), "peer", true, false, s)
		if err != nil {
			t.Fatal(err)
		}
		s.begin(PhaseMatching, unitOps, total)
		s.add(done)
		return s, release
	}
	check := func(dst *tracker, total int64) {
		t.Helper()
		p, ok := dst.snapshot()
		if !ok || p.Phase != PhaseMatching || p.Total != total || p.Done != total {
			t.Fatalf("followed %+v (%v), want the matching phase done at %d of %d", p, ok, total, total)
		}
	}

	// One short session, over before the first look.
	var l layouts
	dst := newTracker()
	stop := l.follow("peer", dst)
	_, release := session(&l, 300, 300)
	release()
	stop()
	check(dst, 300)

	// A session already half done when the query follows, then two more;
	// another peer's session is not counted.
	dst = newTracker()
	s, release := session(&l, 100, 50)
	stop = l.follow("peer", dst)
	s.add(50)
	release()
	for _, n := range []int64{20, 7} {
		_, release := session(&l, n, n)
		release()
	}
	other := newTracker()
	otherRelease, err := l.acquire(t.Context(), "other", true, false, other)
	if err != nil {
		t.Fatal(err)
	}
	other.begin(PhaseMatching, unitOps, 1000)
	otherRelease()
	stop()
	check(dst, 127)

	// Nothing runs: nothing is counted, and a nil tracker follows nothing.
	dst = newTracker()
	l.follow("peer", dst)()
	if p, ok := dst.snapshot(); ok {
		t.Fatalf("a wait without sessions reported %+v", p)
	}
	l.follow("peer", nil)()
}
