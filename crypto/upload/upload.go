package upload

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"golang.org/x/sync/errgroup"
)

// blockGuard records which (column, block) pairs were already used in a
// session. It is shared by the shallow copies of an Uploader or Evaluator.
type blockGuard struct {
	mu   sync.Mutex
	seen map[uint64]struct{}
}

func newBlockGuard() *blockGuard { return &blockGuard{seen: make(map[uint64]struct{})} }

func (g *blockGuard) claim(column, index int) error {
	k := uint64(column)<<32 | uint64(index)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[k]; ok {
		return fmt.Errorf("%w: column %d block %d", ErrDuplicateBlock, column, index)
	}
	g.seen[k] = struct{}{}
	return nil
}

func (g *blockGuard) has(column, index int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.seen[uint64(column)<<32|uint64(index)]
	return ok
}

// Uploader turns a data owner's laid-out columns into upload blocks: for
// block j of column c it computes h = −a_j·s_up + Δ·m + e_up in the
// coefficient domain, record i of the block in coefficient i, and
// compresses h to the plan's wire bits. Only h travels; the evaluator adds
// −a_j·s_ev + e_ev and holds an encryption of m under the collective key.
//
// An Uploader is not safe for concurrent use; use ShallowCopy per goroutine.
// Every (column, block) can be encrypted once per session (seed): a retry
// must resend the bytes already produced, since a second encryption under the
// same a_j of different values would leak their difference.
type Uploader struct {
	plan   *Plan
	ringQ  *ring.Ring
	sk     *rlwe.SecretKey
	crp    crpSource
	guard  *blockGuard
	rns    rnsConsts
	deltas [][]uint64 // per column, 2^LogDelta mod q_k (Montgomery)

	xe   *cbdSampler
	a, h ring.Poly
	bw   bitWriter
}

// NewUploader returns the uploader of one session. sk is this node's secret
// key share; seed is the session's jointly tossed seed (SeedSize bytes).
// Create one Uploader per seed (and ShallowCopy it for more goroutines):
// the once-per-block guard lives in it.
func NewUploader(plan *Plan, sk *rlwe.SecretKey, seed []byte) (*Uploader, error) {
	if err := checkSecret(plan.params, sk); err != nil {
		return nil, err
	}
	crp, err := newCRPSource(seed)
	if err != nil {
		return nil, err
	}
	u := &Uploader{plan: plan, ringQ: plan.params.RingQ(), sk: sk, crp: crp, guard: newBlockGuard(), rns: newRNSConsts(plan.params)}
	for _, cp := range plan.cols {
		u.deltas = append(u.deltas, u.rns.pow2Mont(cp.LogDelta))
	}
	if err := u.initBuffers(); err != nil {
		return nil, err
	}
	return u, nil
}

func checkSecret(params rlwe.Parameters, sk *rlwe.SecretKey) error {
	if sk == nil || sk.Value.Q.N() != params.N() || sk.Value.Q.Level() < params.MaxLevel() {
		return fmt.Errorf("%w: secret key share does not match the parameters", ErrInvalidKey)
	}
	return nil
}

// initBuffers allocates the per-goroutine state, including a private error
// sampler keyed from crypto/rand.
func (u *Uploader) initBuffers() error {
	var err error
	if u.xe, err = newCBDSampler(errorSigma(u.plan.params)); err != nil {
		return fmt.Errorf("uploader: %w", err)
	}
	u.a, u.h = u.ringQ.NewPoly(), u.ringQ.NewPoly()
	return nil
}

// ShallowCopy returns an uploader for another goroutine: it shares the key,
// seed, plan and the once-per-block guard, and has its own buffers and its
// own private error sampler.
func (u *Uploader) ShallowCopy() (*Uploader, error) {
	c := &Uploader{plan: u.plan, ringQ: u.ringQ, sk: u.sk, crp: u.crp, guard: u.guard, rns: u.rns, deltas: u.deltas}
	if err := c.initBuffers(); err != nil {
		return nil, err
	}
	return c, nil
}

// EncryptBlock writes into out the upload block of records
// [index·N, index·N+len(vals)) of column col; vals are those records'
// values in [0, Max] (len(vals) <= N, missing records count as 0).
// out.Payload is reused when large enough.
func (u *Uploader) EncryptBlock(col, index int, vals []int64, out *Block) error {
	p := u.plan
	n := p.params.N()
	if col < 0 || col >= len(p.cols) {
		return fmt.Errorf("%w: column %d not in the circuit", ErrInvalidCircuit, col)
	}
	if index < 0 || uint64(index) > math.MaxUint32 || len(vals) > n {
		return fmt.Errorf("%w: block %d with %d records", ErrInvalidLayout, index, len(vals))
	}
	colMax := p.circuit.Columns[col].Max
	for _, v := range vals {
		if v < 0 || v > colMax {
			return fmt.Errorf("%w: column %q block %d", ErrOutOfBounds, p.circuit.Columns[col].Name, index)
		}
	}
	return u.encryptBlock(col, index, vals, out)
}

// encryptBlock is EncryptBlock once col, index and the values are checked.
func (u *Uploader) encryptBlock(col, index int, vals []int64, out *Block) error {
	p := u.plan
	if err := u.guard.claim(col, index); err != nil {
		return err
	}
	cp := p.cols[col]
	r := u.ringQ.AtLevel(cp.Level)
	a, h := atLevel(u.a, cp.Level), atLevel(u.h, cp.Level)
	if err := u.crp.read(u.rns.q, col, index, a); err != nil {
		return err
	}
	// h = −a·s + e + Δ·m
	r.MulCoeffsMontgomery(a, u.sk.Value.Q, h)
	r.INTT(h, h)
	r.Neg(h, h)
	u.xe.readAndAdd(u.rns.q, h)
	delta := u.deltas[col]
	for k := 0; k <= cp.Level; k++ {
		qk, mk, dk := u.rns.q[k], u.rns.mred[k], delta[k]
		hk := h.Coeffs[k]
		for i, v := range vals {
			if v == 0 {
				continue
			}
			s := hk[i] + ring.MRed(uint64(v), dk, qk, mk)
			if s >= qk {
				s -= qk
			}
			hk[i] = s
		}
	}
	*out = Block{
		Column: col, Index: index,
		LogN: p.params.LogN(), Level: cp.Level, LowBits: cp.LowBits, WireBits: cp.WireBits,
		Payload: out.Payload,
	}
	size := payloadBytes(out.LogN, cp.WireBits)
	if cap(out.Payload) < size {
		out.Payload = make([]byte, 0, size)
	}
	u.bw.reset(out.Payload)
	u.pack(cp, h)
	out.Payload = u.bw.flush()
	return nil
}

// pack writes, per coefficient c = r_0 + q_0·t, the rounded r_0 then t mod
// q_k for k >= 1 (exact). t_k = (c_k − r_0)·q_0^-1 mod q_k.
func (u *Uploader) pack(cp ColumnPlan, h ring.Poly) {
	c := u.rns
	q0, low := c.q[0], uint(cp.LowBits)
	h0 := h.Coeffs[0]
	for i, r0 := range h0 {
		if cp.Lossless {
			u.bw.write(r0, low)
		} else {
			u.bw.write(compressLow(r0, q0, low), low)
		}
		for k := 1; k <= cp.Level; k++ {
			qk := c.q[k]
			d := h.Coeffs[k][i] + qk - ring.BRedAdd(r0, qk, c.bred[k])
			if d >= qk {
				d -= qk
			}
			u.bw.write(ring.MRed(d, c.q0Inv[k], qk, c.mred[k]), c.width[k])
		}
	}
}

// Upload encrypts a whole laid-out column with `workers` goroutines (0 means
// GOMAXPROCS) and hands every block to emit. emit is called from one
// goroutine at a time, blocks in any order; an error from emit or a
// cancelled ctx stops the upload. Upload uses u itself and shallow copies of
// it, so u must not be used concurrently meanwhile.
func (u *Uploader) Upload(ctx context.Context, col int, vals []int64, workers int, emit func(*Block) error) error {
	n := u.plan.params.N()
	nb := (len(vals) + n - 1) / n
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, nb))
	// Every worker's uploader exists before the feeder starts, so that a
	// failure here leaves no goroutine behind.
	ups := []*Uploader{u}
	for len(ups) < workers {
		wu, err := u.ShallowCopy()
		if err != nil {
			return err
		}
		ups = append(ups, wu)
	}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	next := feed(ctx, g, nb)
	for _, wu := range ups {
		g.Go(func() error {
			for j := range next {
				blk := new(Block)
				if err := wu.EncryptBlock(col, j, vals[j*n:min((j+1)*n, len(vals))], blk); err != nil {
					return err
				}
				mu.Lock()
				err := emit(blk)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}
