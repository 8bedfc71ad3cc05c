package party

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Progress is where one long phase of a joint query stands: its name,
// how much of its work is done out of how much, the rate since the phase
// began and the time left at that rate. Within a phase Done never
// decreases, and the phase's last report has Done == Total.
type Progress struct {
	Phase       string
	Done, Total int64
	Unit        string
	Rate        float64 // units per second
	ETA         time.Duration
}

// Phases of a joint query that report progress, and their units.
const (
	PhaseMatching = "matching"   // scalar multiplications of the matchings
	PhaseUpload   = "upload"     // blocks uploaded and evaluated
	PhaseRelease  = "release"    // packs key-switched, both stages
	unitOps       = "operations" // see match.Work
	unitBlocks    = "blocks"
	unitPacks     = "packs"
)

// How often progress goes to the querier and to the node's log.
const (
	progressEvery    = time.Second
	progressLogEvery = 10 * time.Second
)

// tracker follows the phases of one piece of long work. Work may add to
// it from any goroutine.
type tracker struct {
	mu    sync.Mutex
	phase string
	unit  string
	total int64
	start time.Time
	done  atomic.Int64
	ended chan Progress // a phase's last report, sent when it ends
	began chan struct{} // signalled when a phase begins, for a prompt first report
}

func newTracker() *tracker {
	return &tracker{ended: make(chan Progress, 16), began: make(chan struct{}, 1)}
}

// begin adds total units of work to phase, starting it if it is not the
// current one (the previous phase then ends). Parallel sessions of one
// phase each add their share.
func (t *tracker) begin(phase, unit string, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.phase != phase {
		t.phase, t.unit, t.total, t.start = phase, unit, 0, time.Now()
		t.done.Store(0)
	}
	t.total += total
	if total > 0 {
		select {
		case t.began <- struct{}{}:
		default:
		}
	}
}

// add records n units of the current phase as done.
func (t *tracker) add(n int64) { t.done.Add(n) }

// end marks the current phase as done (Done = Total) and queues its last
// report, so that it is sent even when the next phase begins at once.
func (t *tracker) end() {
	t.mu.Lock()
	t.done.Store(t.total)
	t.mu.Unlock()
	if p, ok := t.snapshot(); ok {
		select {
		case t.ended <- p:
		default: // a reporter that is not keeping up; the phase ended anyway
		}
	}
}

// snapshot returns where the current phase stands, false before any
// phase or for a phase without work.
func (t *tracker) snapshot() (Progress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.phase == "" || t.total == 0 {
		return Progress{}, false
	}
	p := Progress{Phase: t.phase, Unit: t.unit, Total: t.total, Done: min(t.done.Load(), t.total)}
	if s := time.Since(t.start).Seconds(); s > 0 {
		p.Rate = float64(p.Done) / s
	}
	if p.Rate > 0 && p.Done < p.Total {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
	}
	return p, true
}

// report sends t's progress to send (if not nil) every progressEvery and
// to log every progressLogEvery, and at once when a phase ends, until the
// returned stop is called; stop sends the last report. Reports that did
// not change are not sent again, and a failed send stops the sending (the
// querier's stream is gone; the query's context says so).
func report(t *tracker, log hclog.Logger, send func(Progress) error) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	var last, lastLogged Progress
	lastLog := time.Now()
	emit := func(p Progress, force bool) {
		if p.Done != last.Done || p.Phase != last.Phase || p.Total != last.Total {
			if send != nil && send(p) != nil {
				send = nil
			}
			last = p
		}
		if (force || time.Since(lastLog) >= progressLogEvery) && p != lastLogged {
			log.Info("progress", "phase", p.Phase, "done", p.Done, "total", p.Total, "unit", p.Unit,
				"rate", math.Round(p.Rate), "eta", p.ETA.Round(time.Second))
			lastLog, lastLogged = time.Now(), p
		}
	}
	current := func() {
		// Phases that ended first, in order, then where the current one is.
		for {
			select {
			case p := <-t.ended:
				emit(p, true)
				continue
			default:
			}
			break
		}
		if p, ok := t.snapshot(); ok {
			emit(p, false)
		}
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				current()
				return
			case p := <-t.ended:
				emit(p, true)
			case <-t.began:
				current()
			case <-tick.C:
				current()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func progressToProto(p Progress) *pb.Progress {
	return &pb.Progress{Phase: p.Phase, Done: uint64(p.Done), Total: uint64(p.Total), Unit: p.Unit, Rate: p.Rate, EtaSeconds: p.ETA.Seconds()}
}

func progressFromProto(p *pb.Progress) Progress {
	return Progress{Phase: p.Phase, Done: int64(p.Done), Total: int64(p.Total), Unit: p.Unit, Rate: p.Rate,
		ETA: time.Duration(p.EtaSeconds * float64(time.Second))}
}

// trackerKey carries a query's tracker into the work it calls (matching).
type trackerKey struct{}

func withTracker(ctx context.Context, t *tracker) context.Context {
	return context.WithValue(ctx, trackerKey{}, t)
}

func trackerFrom(ctx context.Context) *tracker {
	t, _ := ctx.Value(trackerKey{}).(*tracker)
	return t
}

// progressHook is the querier's progress callback (WithProgress).
type progressHook struct{}

// WithProgress returns a context under which Client.Joint calls fn with
// every progress report of the query, in order, from the goroutine that
// calls Joint.
func WithProgress(ctx context.Context, fn func(Progress)) context.Context {
	return context.WithValue(ctx, progressHook{}, fn)
}

func progressFn(ctx context.Context) func(Progress) {
	fn, _ := ctx.Value(progressHook{}).(func(Progress))
	return fn
}
