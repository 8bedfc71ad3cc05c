package party

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// errSetupWait is the cause of the context that timeouts.setup_wait ends.
var errSetupWait = errors.New("party: timeouts.setup_wait expired")

// runSetup runs setup (setup.go) until it succeeds, fails in a way no
// retry can fix, or the node stops. Each attempt is bounded by
// timeouts.setup; an attempt that fails because a peer is unreachable,
// slow or not ready yet is followed by another, after a pause with capped
// exponential backoff and jitter (timeouts.retry). Setup stores every
// share before any peer can fetch it, so an attempt resumes from what the
// ones before it stored, and so does a restarted node. With
// timeouts.setup_wait set, runSetup gives up once that much time has
// passed; the error says what to do, and Run returns it, so that the
// process exits instead of staying up without keys.
func (n *Node) runSetup(ctx context.Context) (*keySet, error) {
	log := n.logger.Named("setup")
	if n.cfg.SetupWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, n.cfg.SetupWait, errSetupWait)
		defer cancel()
	}
	run := &setupRun{start: time.Now(), report: progress{every: 30 * time.Second}}
	retries := progress{every: time.Minute}
	wait := retryBackoff{base: 100 * time.Millisecond, max: n.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.cfg.SetupTimeout)
		ks, err := n.setup(actx, run)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("setup finished after retries", "attempts", attempt, "elapsed", time.Since(run.start).Round(time.Millisecond))
			}
			return ks, nil
		}
		if ctx.Err() != nil {
			return nil, n.setupStopped(ctx, err)
		}
		if !retriable(err) {
			return nil, fmt.Errorf("%w; setup cannot go on without an operator: fix the cause above, then start this node again", err)
		}
		if retries.due() {
			log.Warn("setup attempt failed; trying again", "attempt", attempt, "elapsed", time.Since(run.start).Round(time.Second), "error", err)
		} else {
			log.Debug("setup attempt failed; trying again", "attempt", attempt, "error", err)
		}
		if wait.wait(ctx) != nil {
			return nil, n.setupStopped(ctx, err)
		}
	}
}

// setupRun is what the attempts of one run of setup share: when it began,
// and the pace of its log lines about peers it waits for.
type setupRun struct {
	start  time.Time
	report progress
}

// setupStopped is the error of a setup whose context ended: the node was
// stopped, or timeouts.setup_wait expired after the attempt that failed
// with last.
func (n *Node) setupStopped(ctx context.Context, last error) error {
	if errors.Is(context.Cause(ctx), errSetupWait) {
		return fmt.Errorf("party: setup did not finish within timeouts.setup_wait (%s): %w; "+
			"start the peers it waits for (or correct their addresses), then start this node again: it resumes from what it stored in %s",
			n.cfg.SetupWait, last, filepath.Join(n.cfg.DataDir, "keys"))
	}
	return fmt.Errorf("party: setup stopped: %w", ctx.Err())
}

// retriable reports whether a failed setup attempt may succeed when tried
// again: a peer that did not answer, answered late, was not ready or
// failed on its side. A peer on another federation or preset, a peer that
// refuses this node, a malformed message and every local error (a store
// that cannot be written) need an operator.
func retriable(err error) bool {
	switch {
	case errors.Is(err, ErrSetupMismatch), errors.Is(err, ErrBadPeerMessage), errors.Is(err, ErrUnknownParty):
		return false
	}
	return errors.Is(err, ErrNotReady) || errors.Is(err, ErrPeerFailed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// progress paces the log lines of a wait that goes on: due reports true
// at next (at once when next is zero), then every period.
type progress struct {
	next  time.Time
	every time.Duration
}

func (p *progress) due() bool {
	now := time.Now()
	if now.Before(p.next) {
		return false
	}
	p.next = now.Add(p.every)
	return true
}
