package party

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/crypto/upload"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// The uploading owner's side of a joint query: two admission rounds
// (admitJoint), then the upload of its encrypted columns (prepareJoint).

// checkYOwner checks the roles a joint query gives this node and the
// evaluator, and this node's columns, before anything else.
func (n *Node) checkYOwner(q *Query, evaluator string, t *Table) error {
	if q.Evaluator != "" && q.Evaluator != evaluator {
		return fmt.Errorf("%w: the query is addressed to %s, not to %s", ErrBadRequest, q.Evaluator, evaluator)
	}
	for _, c := range q.Joint.X {
		if c.Ref.Owner != evaluator {
			return fmt.Errorf("%w: x column %s is not the evaluator's", ErrBadRequest, c.Ref)
		}
	}
	yName := n.cfg.Name
	if p := q.Joint.Pool; p != nil {
		if !slices.Contains(p.Owners, n.cfg.Name) {
			return fmt.Errorf("%w: %s is not an owner of pool %q", ErrBadRequest, n.cfg.Name, p.Name)
		}
		yName = p.Name
	}
	for _, c := range q.Joint.Y {
		if c.Ref.Owner != yName {
			return fmt.Errorf("%w: y column %s is not this node's", ErrBadRequest, c.Ref)
		}
	}
	return n.checkOwnColumns(q, t)
}

// admitJoint is the uploading owner's admission round (charge false: check
// only) and its charge (charge true), both asked by the evaluator before
// matching.
func (n *Node) admitJoint(ctx context.Context, q *Query, evaluator string, charge bool) error {
	t, err := n.table()
	if err != nil {
		return err
	}
	if err := n.checkYOwner(q, evaluator, t); err != nil {
		return err
	}
	if err := checkCompiles(n.params, q); err != nil {
		return err
	}
	cols := refNames(q.ownColumns(n.cfg.Name))
	if !charge {
		return n.admitQuery(q, cols)
	}
	// A query this node could not upload for costs nothing here.
	if own, ok := q.Joint.match(n.cfg.Name); ok {
		if _, err := n.uploadLayout(ctx, evaluator, n.cfg.Policy.ConsentSet(q.Purpose), own); err != nil {
			return err
		}
	}
	return n.chargeQuery(q, cols, evaluator)
}

// planJoint is the uploading owner's answer to a querier's planner, asked
// through the evaluator: why its policy would refuse q, or "". Nothing is
// read from the data or charged; the plan is audited as the evaluator
// audits its own.
func (n *Node) planJoint(q *Query, evaluator string, charge bool) (string, error) {
	if charge {
		return "", fmt.Errorf("%w: a plan charges nothing", ErrBadRequest)
	}
	t, err := n.table()
	if err != nil {
		return "", err
	}
	if err := n.checkYOwner(q, evaluator, t); err != nil {
		return "", err
	}
	if err := checkCompiles(n.params, q); err != nil {
		return "", err
	}
	refusal, detail := n.planRefusal(q, refNames(q.ownColumns(n.cfg.Name)))
	if err := n.recordPlan(q, append([]string{evaluator}, q.Joint.yOwners()...), refusal, detail); err != nil {
		return "", err
	}
	return refusal, nil
}

// prepareJoint is the uploading owner's side of a joint query it charged:
// it encrypts its columns and uploads them to the evaluator.
func (n *Node) prepareJoint(ctx context.Context, q *Query, evaluator string, seedE []byte) (_ uint64, err error) {
	log := n.logger.Named("query").With("query", q.ID, "evaluator", evaluator)
	ks, err := n.currentKeys()
	if err != nil {
		return 0, err
	}
	t, err := n.table()
	if err != nil {
		return 0, err
	}
	if err := n.checkYOwner(q, evaluator, t); err != nil {
		return 0, err
	}
	if q.Joint.KeyHolders != len(n.cfg.Owners()) {
		return 0, fmt.Errorf("%w: the query counts %d key holders, this federation has %d", ErrBadRequest, q.Joint.KeyHolders, len(n.cfg.Owners()))
	}
	own, ok := q.Joint.match(n.cfg.Name)
	if !ok {
		return 0, fmt.Errorf("%w: the query names no matching of %s with %s", ErrBadRequest, n.cfg.Name, evaluator)
	}
	if len(seedE) != upload.SeedSize {
		return 0, fmt.Errorf("%w: upload seed of %d bytes", ErrBadRequest, len(seedE))
	}
	// Only a query this node charged, once: from here on a failure aborts it.
	if err := n.queries.prepare(q, evaluator); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			n.abortQuery(q.ID, err)
		}
	}()
	set := n.cfg.Policy.ConsentSet(q.Purpose)
	layout, err := n.uploadLayout(ctx, evaluator, set, own)
	if err != nil {
		return 0, err
	}
	if t, err = t.View(set); err != nil {
		return 0, err
	}
	_, margin, err := aggregate.SessionPadding(q.Epsilon, q.Delta, q.Exact, len(q.Joint.yOwners()))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := aggregate.CheckPadded(layout.UnionSize, own.PaddedSize, margin); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	compiled, err := aggregate.Compile(n.params, q.request())
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	cols, err := compiled.UploaderColumns(t.Values, layout.Rows, own.PaddedSize)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	seedU, err := randomSeed()
	if err != nil {
		return 0, err
	}
	up, err := upload.NewUploader(compiled.Plan(), ks.sk, uploadSeed(q.ID, seedE, seedU))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	stream, err := n.tr.Upload(ctx, evaluator)
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	seq := uint32(0)
	send := func(object pb.UploadObject, data []byte, last bool) error {
		err := stream.Send(&pb.UploadChunk{QueryId: q.ID, Owner: n.cfg.Name, Object: object, Seq: seq, Data: data, Last: last})
		seq++
		if err != nil {
			_, err = stream.CloseAndRecv() // the evaluator's status
			return err
		}
		return nil
	}
	if err := send(pb.UploadObject_UPLOAD_OBJECT_SEED, seedU, false); err != nil {
		return 0, err
	}
	// Blocks in block-major order, so the evaluator encodes each block of
	// its multipliers once.
	N := n.params.N()
	blocks := compiled.Plan().Blocks(own.PaddedSize)
	var blk upload.Block
	var buf []byte
	nextReport := time.Now().Add(10 * time.Second)
	for b := 0; b < blocks; b++ {
		if time.Now().After(nextReport) {
			log.Info("uploading", "blocks_done", b, "blocks", blocks, "elapsed", time.Since(start).Round(time.Second))
			nextReport = time.Now().Add(10 * time.Second)
		}
		for c := range cols {
			lo, hi := b*N, min((b+1)*N, len(cols[c]))
			if err := up.EncryptBlock(c, b, cols[c][lo:hi], &blk); err != nil {
				return 0, err
			}
			if buf, err = blk.AppendBinary(buf[:0]); err != nil {
				return 0, err
			}
			if err := send(pb.UploadObject_UPLOAD_OBJECT_BLOCK, buf, b == blocks-1 && c == len(cols)-1); err != nil {
				return 0, err
			}
		}
	}
	receipt, err := stream.CloseAndRecv()
	if err != nil {
		return 0, err
	}
	log.Info("columns uploaded", "bytes", receipt.ReceivedBytes, "records", own.PaddedSize, "columns", len(cols),
		"bytes_per_record_column", fmt.Sprintf("%.2f", float64(receipt.ReceivedBytes)/float64(own.PaddedSize*max(len(cols), 1))),
		"elapsed", time.Since(start).Round(time.Millisecond))
	return receipt.ReceivedBytes, nil
}

// uploadLayout returns the layout of the matching session own names with
// evaluator: the one both sides use must be this node's current one, over
// the records in its consent set set. Any other is ErrStale, which tells
// the evaluator to match again (Node.layout).
func (n *Node) uploadLayout(ctx context.Context, evaluator, set string, own MatchRef) (*match.Layout, error) {
	info, layout, err := n.sessionLayout(evaluator, set, own.Session)
	if err != nil {
		// The two sides of a matching store its layout one after the
		// other, so the evaluator may hold a session this node is still
		// storing: wait for this node's session with it to end, then look
		// again.
		release, aerr := n.layouts.acquire(ctx, evaluator, false, false, nil)
		if aerr != nil {
			return nil, aerr
		}
		release()
		info, layout, err = n.sessionLayout(evaluator, set, own.Session)
	}
	in, kerr := n.joinKeys(ctx, set)
	if err != nil || kerr != nil || info.Digest != hex.EncodeToString(in.digest) || layout.UnionSize != own.UnionSize {
		return nil, fmt.Errorf("%w: %s has no current layout for matching session %x (its data changed since, or it matched again); send the query again: %s matches again first",
			ErrStale, n.cfg.Name, own.Session, evaluator)
	}
	return layout, nil
}
